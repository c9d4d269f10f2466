"""``vrx tail``: the command (its options, exit codes and main loop).

Following (reading, checking, liveness, alerts) is :mod:`vrx_core.follow`; the view's state and its
Rich rendering are :mod:`vrx_core.cli.tail_view`; the outputs for a terminal, a pipe or a script
(live view, plain lines, JSON lines, raw events) are :mod:`vrx_core.cli.tail_output`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from typing import TYPE_CHECKING, Any

from vrx_core.errors import CorruptLog, ExitCode, NoSuchRun, VrxError
from vrx_core.follow.liveness import DEAD_AFTER_S, QUICK_DEAD_S, STALL_AFTER_S
from vrx_core.follow.watch import LOCAL_POLL_S, NETWORK_POLL_MAX_S, NETWORK_POLL_S

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

# -- the command -------------------------------------------------------------------------------

_DESCRIPTION = f"""\
Follow RUN_DIR/events.jsonl: catch up on the log so far, then show each event as it lands
(within a millisecond on a local disk, 0.5 to 2 s plus the writer's flush delay on NFS).
On a terminal: a live view of the run (identity, elapsed time, events/s, progress and ETA
when the run declared a plan, params, each metric's last, min and max values and recent
values, each plugin's snapshot, warnings for NaN/Inf metrics, errors, OOM and stalls, and
the alerts of plugins' vrx_alert_rules).
Otherwise: plain lines. --json: one JSON object per update. --events: only the raw events.
Waits for a run that has not started yet. Every line is checked (CRC, seq, hash chain) and
shown only once its newline is written.

A multi-rank run (events.rank<R>.jsonl, one per rank) is followed rank by rank and merged by
(t, rank, seq) up to the point every running rank has read past; each event shows its rank
(rank:seq, "rank" in JSON). A rank whose writer dies is a warning naming it; the others go on.

The writer touches writer.lock every second while alive (heartbeat). The writer is presumed
dead after --dead-after seconds (default {DEAD_AFTER_S:g}) with no event and no heartbeat, or
after {QUICK_DEAD_S:g} s when the lock names a process on this host that is gone (or a boot
before the host's last reboot), or no lock exists.

exit codes:
  0    the run end event arrived (or --once printed the state)
  3    the writer is presumed dead: no run end, no event and no heartbeat (see above)
  65   the log is corrupt, shrank below what was read, or was replaced by different content
  66   no run: with --once or --timeout, the log did not exist (or did not appear in time)
  70   the run ended, but a plugin failed while deriving (the others were still shown)
  78   the log was written by a newer major format
  124  --timeout expired while the run was still going (GNU timeout's code)
  130  interrupted (Ctrl-C)
"""


def _positive_seconds(text: str) -> float:
    """argparse type for durations: a finite number of seconds greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 seconds")
    return value


def add_tail_command(sub: Any) -> None:
    """Add ``vrx tail`` to the CLI's subparsers (``build_parser(extra=[add_tail_command])``)."""
    from vrx_core.hooks.host import common_options

    p = sub.add_parser(
        "tail",
        parents=[common_options()],
        help="follow a live run: live view, JSON updates or raw events as they land",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="run directory (or its events.jsonl); may not exist yet"
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line for every update: {kind: event|snapshot|notice|end|state, ...}",
    )
    out.add_argument(
        "--events",
        action="store_true",
        help="print only the raw events as they come (as `vrx events`; JSON lines with --json)",
    )
    out.add_argument(
        "--type",
        "-t",
        dest="types",
        action="append",
        default=[],
        metavar="T",
        help="only print events of kind T (repeatable); the view still uses every event",
    )
    out.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--from-start",
        dest="from_start",
        action="store_true",
        default=True,
        help="print the events already in the log, then new ones (default)",
    )
    start.add_argument(
        "--from-end",
        dest="from_start",
        action="store_false",
        help="print only events written after the tail started (the view and plugins still fold the history)",
    )
    p.add_argument(
        "--once", action="store_true", help="read the log so far, print the current state and exit 0"
    )
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help="stop after S seconds: exit 124 if the run is still going, 66 if it never appeared",
    )
    w = p.add_argument_group("watching")
    w.add_argument(
        "--poll",
        action="store_true",
        help="poll instead of inotify (automatic on NFS, Lustre, CIFS and where inotify is unavailable)",
    )
    w.add_argument(
        "--poll-interval",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help=f"seconds between polls (default {LOCAL_POLL_S:g} local, {NETWORK_POLL_S:g} to"
        f" {NETWORK_POLL_MAX_S:g} on network file systems)",
    )
    w.add_argument(
        "--dead-after",
        type=_positive_seconds,
        default=DEAD_AFTER_S,
        metavar="S",
        help=f"presume the writer dead after S seconds without event or heartbeat (default {DEAD_AFTER_S:g})",
    )
    w.add_argument(
        "--stall-after",
        type=_positive_seconds,
        default=STALL_AFTER_S,
        metavar="S",
        help=f"warn after S seconds without event while the heartbeat is alive (default {STALL_AFTER_S:g})",
    )
    p.set_defaults(handler=cmd_tail)


def _reason(exc: VrxError) -> str:
    from vrx_core.errors import NewerFormat
    from vrx_core.follow.stream import LogChanged, WriterDead

    if isinstance(exc, WriterDead):
        return "dead"
    if isinstance(exc, LogChanged):
        return "log_changed"
    if isinstance(exc, CorruptLog):
        return "corrupt"
    if isinstance(exc, NoSuchRun):
        return "no_run"
    if isinstance(exc, NewerFormat):
        return "newer_format"
    return "error"


def cmd_tail(args: argparse.Namespace) -> int:
    """``vrx tail``: see :data:`_DESCRIPTION` for the behaviour and the exit codes."""
    # Imported here: every command builds the tail's parser, only this one follows a run.
    from vrx_core.cli.tail_output import make_output
    from vrx_core.cli.tail_view import TailState
    from vrx_core.follow.choose import RANKS_LOOK_S, make_follower, switch_to_ranks, waiting
    from vrx_core.follow.stream import TailTimeout

    plugins: PluginSet | None = getattr(args, "plugins", None)
    options: dict[str, Any] = {
        "from_start": True,  # the view folds everything; the outputs filter what they print
        "registry": plugins.registry if plugins is not None else None,
        "plugins": plugins,  # alert rules apply with --events too; derivers do not
        "derive": not args.events,
        "snapshots": not args.events,
        "poll": True if args.poll else None,
        "poll_interval": args.poll_interval,
        "dead_after_s": args.dead_after,
        "stall_after_s": args.stall_after,
    }
    follower = make_follower(args.run_dir, **options)  # a multi-rank run: its ranks merged live
    state = TailState(follower)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout

    def close() -> None:  # the last follower: a waiting one may give way to a multi-rank one
        state.follower.close()

    with contextlib.ExitStack() as stack, make_output(args, state) as out:
        stack.callback(close)
        try:
            if args.once:
                out.handle(follower.catch_up(timeout=args.timeout))
                out.once()
                return int(ExitCode.OK)
            while not follower.ended:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    err = follower.timeout_error(args.timeout)
                    if not isinstance(err, TailTimeout):
                        raise err
                    out.finish("timeout", int(ExitCode.TIMEOUT), str(err))
                    out.close()
                    print(f"vrx: {err}", file=sys.stderr)
                    return int(ExitCode.TIMEOUT)
                wait = out.tick_s if deadline is None else min(out.tick_s, deadline - now)
                if waiting(follower):
                    wait = min(wait, RANKS_LOOK_S)
                out.handle(follower.read(timeout=wait))
                # Waiting for events.jsonl while rank logs appeared instead: follow the ranks.
                follower = state.follower = switch_to_ranks(follower, args.run_dir, **options)
                out.tick()
        except VrxError as exc:
            out.finish(_reason(exc), int(exc.exit_code), str(exc))
            raise
        code = ExitCode.SOFTWARE if state.plugin_failures else ExitCode.OK
        out.finish("ended", int(code), None)
        return int(code)


__all__ = ["add_tail_command", "cmd_tail"]
