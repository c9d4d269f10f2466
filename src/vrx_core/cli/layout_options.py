"""``--layout`` and its options, for every command that creates a run (one definition, one parser).

With ``--layout``, the command's directory argument is the layout's root (``runs`` or
``artifacts``) and the run gets a new directory below it, named by the layout; ``--config`` and
``--environment`` record the configuration and the environment at the run's start.
"""

from __future__ import annotations

import argparse
from typing import Any

from vrx_core.errors import UsageError
from vrx_core.log.layout import Layout, MgrLayout, RvinciLayout


def add_layout_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "run layout",
        # The newline only shows under a RawDescriptionHelpFormatter (vrx probe run, vrx assoc run),
        # which would otherwise print one long line; the default formatter folds it like a space.
        "place the run in a layout instead of the directory given;\n"
        "the directory argument is then the layout's root",
    )
    g.add_argument(
        "--layout",
        choices=("rvinci", "mgr"),
        help="rvinci: ROOT/<project>/<YYYY-MM-DD_HH-MM-SS>_<git_hash>/ (needs --project); "
        "mgr: ROOT/<kind>/<topic>/<YYYYMMDD_HHMMSS[_tag]>/ (needs --kind and --topic)",
    )
    g.add_argument("--project", metavar="NAME", help="rvinci project name")
    g.add_argument("--kind", metavar="KIND", help="mgr kind: baseline, bench, perf, certs, cmaes, ...")
    g.add_argument("--topic", metavar="TOPIC", help="mgr topic, e.g. nanochat or demos/tropical")
    g.add_argument("--tag", metavar="TAG", help="mgr run id suffix (YYYYMMDD_HHMMSS_TAG)")
    g.add_argument(
        "--config",
        metavar="YAML",
        help="record this config (composed and resolved with OmegaConf; an unresolvable "
        "${...} is an error before the run starts)",
    )
    g.add_argument(
        "--environment",
        action="store_true",
        help="record this machine's environment (git, packages, host); implied by --layout and --config",
    )


#: The options each layout takes; any other of them is a usage error, never silently ignored.
_LAYOUT_OPTIONS = {"rvinci": ("project",), "mgr": ("kind", "topic", "tag")}


def layout_from_args(args: argparse.Namespace, root: str) -> Layout | None:
    """The layout the options ask for (rooted at ``root``), or None without ``--layout``.

    An option of the other layout (``--kind`` with ``--layout rvinci``, ``--project`` with
    ``--layout mgr``) or any of them without ``--layout`` is a :class:`UsageError`."""
    takes = _LAYOUT_OPTIONS.get(args.layout, ())
    stray = [
        f"--{n}"
        for n in ("project", "kind", "topic", "tag")
        if n not in takes and getattr(args, n) is not None
    ]
    if stray:
        if args.layout is None:
            verb = "requires" if len(stray) == 1 else "require"
            raise UsageError(f"{', '.join(stray)} {verb} --layout")
        verb = "does" if len(stray) == 1 else "do"
        raise UsageError(f"{', '.join(stray)} {verb} not apply to --layout {args.layout}")
    if args.layout is None:
        return None
    if args.layout == "rvinci":
        if not args.project:
            raise UsageError("--layout rvinci needs --project NAME")
        return RvinciLayout(project=args.project, root=root)
    if not (args.kind and args.topic):
        raise UsageError("--layout mgr needs --kind KIND and --topic TOPIC")
    return MgrLayout(kind=args.kind, topic=args.topic, tag=args.tag, root=root)


def recorder_placement(args: argparse.Namespace, directory: str) -> dict[str, Any]:
    """``Recorder`` keyword arguments for the run directory or layout the options choose."""
    layout = layout_from_args(args, directory)
    where: dict[str, Any] = {"layout": layout} if layout is not None else {"run_dir": directory}
    if args.config is not None:
        where["config"] = args.config
    if args.environment:
        where["environment"] = True
    return where


__all__ = ["add_layout_options", "layout_from_args", "recorder_placement"]
