"""``vrx fleet replay|verify ROOT``: every run under ROOT, on a local process pool or on Dask.

The work itself is :mod:`vrx_core.engine.fleet`; this module finds the runs, loads nothing the
command line did not select, shows a progress bar on a terminal, and prints the table (or one JSON
object) at the end. See docs/fleet.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrx_core.errors import NoSuchRun, PluginUnavailable, UsageError
from vrx_core.hooks.host import common_options

if TYPE_CHECKING:
    from vrx_core.engine.fleet import Engine, FleetResult
    from vrx_core.engine.fleet_worker import Op
    from vrx_core.hooks.discovery import Selection

#: The engines (vrx_core.engine.fleet.ENGINES, spelled here: building the parser imports no engine).
ENGINES = ("local", "dask")

_EXIT_CODES = (
    "Exit codes (the first that applies): 1 some run failed (a plugin raised, a worker refused or "
    "died, the run could not be read); 65 some run is corrupt{drift}; 3 some run is incomplete (no "
    "run_end); 0 otherwise, also when ROOT holds no run. 2 usage; 66 ROOT does not exist; 69 a "
    "selected plugin could not be loaded here, --engine dask without Dask (pip install "
    "'vrx-core[fleet]'), or no scheduler or worker at --address."
)

_REPLAY = (
    "Replay every run under ROOT (at any depth, as vrx ls finds them) through the selected "
    "plugins, writing each run's derived files and derived.json beside it exactly as vrx replay "
    "does. A run whose derived.json already records the same plugins (names, versions, code "
    "hashes) and the same log (size and sha256), without a plugin failure and with all its files "
    "present, is skipped untouched; --force replays it anyway. A run without run_end is replayed "
    "in recover mode, as vrx replay does, and counted incomplete. With --check, compare a fresh "
    "replay of each run with its files instead (nothing is written, nothing skipped). "
)


def add_fleet(sub: Any) -> None:
    p = sub.add_parser(
        "fleet",
        parents=[common_options()],
        help="replay or verify every run under a directory, on a process pool or a Dask cluster",
        description=(
            "Replay (vrx fleet replay) or verify (vrx fleet verify) every run under ROOT in "
            "parallel: on a local process pool (default) or on Dask distributed (--engine dask: a "
            "LocalCluster, or the cluster at --address). Runs travel in chunks; workers write "
            "beside each run and send back a one-line summary per run. See docs/fleet.md."
        ),
    )
    fsub = p.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND")
    fsub.required = True
    r = fsub.add_parser(
        "replay",
        parents=[common_options()],
        help="replay every run under ROOT (skipping those already up to date)",
        description=_REPLAY + _EXIT_CODES.format(drift=" (or, with --check, differs from a fresh replay)"),
    )
    _common(r)
    r.add_argument("--check", action="store_true", help="compare a fresh replay with each run's files")
    r.add_argument("--force", action="store_true", help="replay runs that are already up to date too")
    r.set_defaults(handler=cmd_fleet_replay)
    v = fsub.add_parser(
        "verify",
        parents=[common_options()],
        help="verify every run under ROOT: its log and every plugin's checks",
        description=(
            "vrx verify of every run under ROOT: framing, checksums, dense seq, sync points, run end, "
            "and every plugin's checks (the bundle manifest). " + _EXIT_CODES.format(drift="")
        ),
    )
    _common(v)
    v.set_defaults(handler=cmd_fleet_verify)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="ROOT", help="directory to search for runs (or one run)")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        help="local: a process pool (default); dask: Dask distributed, a LocalCluster unless --address",
    )
    p.add_argument(
        "--address", metavar="tcp://HOST:PORT", help="the Dask scheduler to use (implies --engine dask)"
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        metavar="N",
        help="worker processes for the local pool or the LocalCluster (default: the CPU count; 1: "
        "in this process)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object: counts and a row per run")


def cmd_fleet_replay(args: argparse.Namespace) -> int:
    if args.check and args.force:
        raise UsageError("--force has no effect with --check (a check never skips a run)")
    return _run(args, "check" if args.check else "replay", force=args.force)


def cmd_fleet_verify(args: argparse.Namespace) -> int:
    return _run(args, "verify", force=False)


_VERB: dict[str, str] = {"replay": "replaying", "check": "checking", "verify": "verifying"}


def _run(args: argparse.Namespace, op: Op, *, force: bool) -> int:
    from vrx_core.cli.ls import find_all
    from vrx_core.cli.progress import progress_bar
    from vrx_core.engine.fleet import FleetOptions, run_fleet
    from vrx_core.engine.plugincode import fingerprint

    engine: Engine = args.engine or ("dask" if args.address else "local")
    if engine == "local" and args.address:
        raise UsageError("--address names a Dask scheduler: use it with --engine dask")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: give at least 1")
    if not os.path.exists(args.root):
        raise NoSuchRun("no such directory", path=args.root)
    if args.plugins.skipped:
        names = ", ".join(sorted(args.plugins.skipped))
        raise PluginUnavailable(
            f"fleet {op} needs every selected plugin, and {names} could not be loaded (see the warning "
            "above); install what it names, or leave it out with -p no:NAME"
        )
    found = find_all([args.root])
    shown = {os.path.abspath(p): os.fspath(p) for p in found}
    options = FleetOptions(
        op=op,
        selection=_absolute(_selection(args)),
        fingerprint=fingerprint(args.plugins),
        force=force,
        engine=engine,
        jobs=args.jobs,
        address=args.address,
    )
    if not found:
        print(f"vrx: no runs found under {args.root}", file=sys.stderr)
    with progress_bar(f"{_VERB[op]} runs", len(found), unit="runs") as update:
        result = run_fleet(list(shown), options, progress=update)
    for row in result.rows:  # workers saw absolute paths; show them as found under ROOT
        found_as = shown.get(row.path, row.path)
        if row.reason is not None and found_as != row.path:
            row.reason = row.reason.replace(row.path, found_as)
        row.path = found_as
    if args.json:
        import msgspec

        sys.stdout.write(msgspec.json.encode({"root": args.root, **result.to_json()}).decode() + "\n")
    else:
        print_result(result, args.root, sys.stdout)
    return int(result.exit_code)


def _selection(args: argparse.Namespace) -> Selection:
    from vrx_core.hooks.discovery import Selection

    return Selection.from_argv(args.argv[1:])


def _absolute(sel: Selection) -> Selection:
    """The selection with absolute plugin directories: workers may start elsewhere."""
    from vrx_core.hooks.discovery import Selection

    dirs = [Path(d).resolve() for d in sel.dirs]
    return Selection(enable=sel.enable, block=sel.block, dirs=dirs, only=sel.only)


def print_result(result: FleetResult, root: str, out: Any) -> None:
    """The summary line, the counts, then a row for every run that is not simply done."""
    rate = len(result.rows) / result.elapsed_s if result.elapsed_s > 0 else 0.0
    command = "replay --check" if result.op == "check" else result.op
    out.write(
        f"fleet {command}: {len(result.rows)} run(s) under {root} in {result.elapsed_s:.1f} s "
        f"({rate:.3g} runs/s; {result.engine} engine, {result.workers} worker(s), {result.chunks} "
        f"chunk(s){f', {result.retried} retried' if result.retried else ''})\n"
    )
    counts = result.counts()
    width = max(len(s) for s in counts)
    for status, n in counts.items():
        out.write(f"  {status.ljust(width)}  {n:>{len(str(len(result.rows)))}}\n")
    shown = [r for r in result.rows if r.status not in ("replayed", "skipped", "ok")]
    if not shown:
        return
    sw = max(len("status"), *(len(r.status) for r in shown))
    pw = max(len("path"), *(len(_printable(r.path)) for r in shown))
    out.write(f"{'status'.ljust(sw)}  {'path'.ljust(pw)}  reason\n")
    for r in shown:
        out.write(f"{r.status.ljust(sw)}  {_printable(r.path).ljust(pw)}  {_printable(r.reason or '-')}\n")


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


__all__ = ["add_fleet", "print_result"]
