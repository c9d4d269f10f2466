"""``vrx packet``: the ``ant_ratio_packet_v0`` packet, recorded as a derivation; and its
subcommands ``publish``, ``rank`` and ``frontier`` (``cli_db``).

``vrx packet --probe-run-root A --assoc-run-root B`` takes the original tool's flags and writes
its bytes (to ``--out`` or stdout). Missing or unparseable inputs: ``ERROR: <file>: <what>`` on
stderr, exit 2, and nothing recorded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vrx_core.errors import ExitCode, VrxError
from vrx_core.hooks.host import Commands
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.atomic import atomic_write
from vrx_core.log.rundir import RunDir

from .packet import DEFAULT_MAX_STEPS, DEFAULT_MIN_STEPS

DEFAULT_RUNS = "runs"
INVALID = int(ExitCode.USAGE)

DESCRIPTION = """\
Join a probe run (metrics.json, env.json, run_cmd.txt: `vrx probe run` or the original
gpu_capacity_probe.py) and an assoc eval (report.json) into one ant_ratio_packet_v0 packet.
PASS/FAIL is the combined rule on metrics.json, never an exit code.

The packet is a recorded derivation: a new run (--run-dir, default runs/packet-<UTC time>) records
the options, the time, the git commit and each input file with its sha256 and text; packet.json is
derived from that log, and the same bytes go to --out (stdout when empty). `vrx replay --check
RUN` proves the packet still matches its sources and names a source that changed.

Exit status: 0 packet written; 2 missing or unparseable input ("ERROR: <file>: <what>", nothing
recorded), bad flags, or a --run-dir that already holds a run; 73 the run cannot be created.
"""

EPILOG = """\
The subcommands take packets (packet runs, packet files, JSON lines of packets) or published rows:
vrx packet SUBCOMMAND --help. See docs/ant_ratio.md.
"""


def add_packet_commands(commands: Commands) -> None:
    p = commands.add(
        "packet",
        help="ant_ratio_packet_v0: join a probe run and an assoc eval; publish, rank, plot (frontier)",
        description=DESCRIPTION,
        handler=lambda ns: cmd_packet(ns, p),
    )
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    _add_packet_arguments(p)
    from .cli_db import add_db_subcommands

    sub = p.add_subparsers(dest="packet_command", metavar="SUBCOMMAND", title="subcommands")
    add_db_subcommands(sub, commands.parents)


def _add_packet_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the original's flags (the two roots are required without a subcommand)")
    g.add_argument("--probe-run-root", metavar="DIR", help="probe run: metrics.json, env.json, run_cmd.txt")
    g.add_argument("--assoc-run-root", metavar="DIR", help="assoc eval run: report.json")
    g.add_argument("--out", default="", metavar="FILE", help="write the packet here (default: stdout)")
    g.add_argument("--ant-tier", default="", metavar="T", help="override ant_tier (small/real/stress/custom)")
    g.add_argument("--token-budget", type=int, default=0, metavar="N", help="fixed token budget (0: off)")
    g.add_argument("--min-steps", type=int, default=DEFAULT_MIN_STEPS, metavar="N",
                   help=f"clamp of the budget's steps (default {DEFAULT_MIN_STEPS})")
    g.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, metavar="N",
                   help=f"clamp of the budget's steps (default {DEFAULT_MAX_STEPS})")
    g.add_argument("--capability-steps", type=int, default=0, metavar="N",
                   help="steps the capability run took (0: derive them from the budget)")
    v = p.add_argument_group("vrx options")
    v.add_argument("--run-dir", metavar="DIR",
                   help=f"record the packet run here (a new run; default {DEFAULT_RUNS}/packet-<UTC time>)")


def cmd_packet(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .packet import PacketError
    from .session import PacketOptions, check_packet, record_packet, start_event
    from .sources import git_context, read_inputs, utc_now

    roots = (("--probe-run-root", ns.probe_run_root), ("--assoc-run-root", ns.assoc_run_root))
    missing = [flag for flag, value in roots if not value]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    inputs, problems = read_inputs(ns.probe_run_root, ns.assoc_run_root)
    if inputs is None:
        for problem in problems:
            print(f"ERROR: {problem}", file=sys.stderr)
        return INVALID
    options = PacketOptions.from_flags(
        ns.ant_tier, ns.token_budget, ns.min_steps, ns.max_steps, ns.capability_steps
    )
    repo_root, commit = git_context(Path.cwd())
    started = start_event(
        inputs, options, argv=list(ns.argv), generated_utc=utc_now(), repo_root=repo_root, git_commit=commit
    )
    try:
        check_packet(started, inputs)
    except PacketError as exc:
        return _error(f"{inputs.files[exc.source].shown}: {exc}")
    run = _new_run(ns.run_dir)
    if isinstance(run, int):
        return run
    plugins: PluginSet = ns.plugins
    try:
        record_packet(run, started, inputs, registry=plugins.registry)
        data = _derive(run, plugins)
    except VrxError as exc:
        return _error(f"{run}: {exc}", int(exc.exit_code))
    return _emit(data, ns.out, run)


def _new_run(run_dir: str | None) -> Path | int:
    """A new run directory, or an exit code: never an existing run (a packet run is never resumed)."""
    try:
        if run_dir is None:
            return RunDir.fresh(DEFAULT_RUNS, "packet").root
        path = Path(run_dir)
        if RunDir(path).log.exists():
            problem = "a run is already there (vrx packet records a new run; choose another --run-dir)"
            return _error(f"{path}: {problem}")
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError as exc:
        return _error(f"cannot create the packet run: {exc}", int(ExitCode.CANTCREAT))


def _derive(run: Path, plugins: PluginSet) -> bytes:
    from vrx_core.engine.replay import replay

    from .derive import PACKET_FILE

    result = replay(run, plugins)
    if result.failures or PACKET_FILE not in result.files:
        reasons = "; ".join(str(f) for f in result.failures) or f"no plugin derived {PACKET_FILE}"
        raise VrxError(f"the packet could not be derived: {reasons}")
    return (run / PACKET_FILE).read_bytes()


def _emit(data: bytes, out: str, run: Path) -> int:
    if out.strip():
        path = Path(out).resolve()
        try:
            atomic_write(path, data)
        except OSError as exc:
            return _error(f"{out}: cannot write: {exc.strerror}", int(ExitCode.CANTCREAT))
    else:
        sys.stdout.write(data.decode("ascii"))  # the packet is ASCII by construction
        sys.stdout.flush()
    print(f"packet run: {run}", file=sys.stderr)
    return int(ExitCode.OK)


def _error(message: str, code: int = INVALID) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return code
