"""``vrx tail``: the live Rich view, the plain, JSON and events outputs, and the command itself.

Following (reading, checking, liveness) is :mod:`vrx_core.follow.follower`; this module turns what the
follower yields into output for a terminal, a pipe or a script.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import msgspec

from vrx_core.cli.render import event_dict, event_json_line, event_row, event_tag
from vrx_core.codec import json_safe, nonfinite_marker, stream_json
from vrx_core.errors import CorruptLog, ExitCode, NoSuchRun, VrxError
from vrx_core.events import AnyEvent, Metric, Resumed, RunEnd, RunStart

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

from vrx_core.follow.follower import (
    DEAD_AFTER_S,
    LOCAL_POLL_S,
    NETWORK_POLL_MAX_S,
    NETWORK_POLL_S,
    QUICK_DEAD_S,
    STALL_AFTER_S,
    Follower,
    LogChanged,
    Notice,
    Snapshot,
    TailItem,
    TailTimeout,
    WriterDead,
)

# -- what the CLI shows ------------------------------------------------------------------------


@dataclass
class MetricState:
    value: float
    step: int | None
    seq: int
    t: float
    count: int = 1


@dataclass
class TailState:
    """The view's state, folded from a follower's items (all events, history included)."""

    follower: Follower
    run_start: RunStart | None = None
    writer: Any = None
    run_end: RunEnd | None = None
    events: int = 0
    last_seq: int = -1
    metrics: dict[str, MetricState] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: deque[Notice] = field(default_factory=lambda: deque(maxlen=6))
    warn_counts: Counter[str] = field(default_factory=Counter)
    plugin_failures: int = 0
    stalled: bool = False
    times: deque[float] = field(default_factory=deque)

    def update(self, item: TailItem) -> None:
        if isinstance(item, Snapshot):
            self.snapshots = item.plugins
        elif isinstance(item, Notice):
            if item.kind == "stall":
                self.stalled = True
            elif item.kind == "active":
                self.stalled = False
            elif item.kind == "plugin_failed":
                self.plugin_failures += 1
            if item.level == "warning":
                self.warnings.append(item)
                self.warn_counts[item.kind] += 1
        else:
            self._event(item)

    def _event(self, ev: AnyEvent) -> None:
        self.events += 1
        self.last_seq = ev.seq
        self.times.append(ev.t)
        if len(self.times) > 100_000:
            self.times.popleft()
        if isinstance(ev, Metric):
            m = self.metrics.get(ev.name)
            if m is None:
                self.metrics[ev.name] = MetricState(ev.value, ev.step, ev.seq, ev.t)
            else:
                m.value, m.step, m.seq, m.t, m.count = ev.value, ev.step, ev.seq, ev.t, m.count + 1
        elif isinstance(ev, RunStart):
            self.run_start, self.writer = ev, ev.writer
        elif isinstance(ev, Resumed):
            self.writer, self.run_end = ev.writer, None
        elif isinstance(ev, RunEnd):
            self.run_end = ev

    def now_t(self) -> float:
        return self.run_end.t if self.run_end is not None else time.time()

    def elapsed(self) -> float | None:
        return None if self.run_start is None else max(0.0, self.now_t() - self.run_start.t)

    def rate(self, window: float = 10.0) -> float:
        """Events per second over the last ``window`` seconds of the writer's clock."""
        ref = self.now_t()
        while self.times and self.times[0] < ref - window:
            self.times.popleft()
        span = min(window, self.elapsed() or window)
        return len(self.times) / span if span > 0 else 0.0

    def status(self) -> str:
        f = self.follower
        if not f.exists:
            return "waiting for the run to start"
        if self.run_end is not None:
            return f"ended ({self.run_end.status})"
        if not f.caught_up:
            return "catching up"
        age = f.event_age()
        if self.stalled:
            return f"stalled: no event for {age:.0f} s (heartbeat alive)"
        return f"running; last event {_ago(age)} ago"

    def to_json(self) -> dict[str, Any]:
        f = self.follower
        rs = self.run_start
        out: dict[str, Any] = json_safe(
            {
                "kind": "state",
                "run_dir": str(f.run_dir),
                "run_id": rs.run_id if rs else None,
                "name": rs.name if rs else None,
                "writer": msgspec.to_builtins(self.writer) if self.writer is not None else None,
                "status": self.status(),
                "ended": self.run_end is not None,
                "run_end": msgspec.to_builtins(self.run_end) if self.run_end is not None else None,
                "events": self.events,
                "last_seq": self.last_seq,
                "elapsed_s": self.elapsed(),
                "rate": self.rate(),
                "metrics": {
                    n: {"value": m.value, "step": m.step, "seq": m.seq, "count": m.count}
                    for n, m in sorted(self.metrics.items())
                },
                "plugins": self.snapshots,
                "warnings": dict(sorted(self.warn_counts.items())),
                "mode": f.mode,
                "torn_bytes": f.torn_bytes,
            }
        )
        return out

    def summary_lines(self) -> list[str]:
        rs = self.run_start
        lines = []
        if rs is None:
            lines.append(f"run {self.follower.run_dir}: {self.status()}")
            return lines
        name = f' "{rs.name}"' if rs.name else ""
        w = self.writer
        lines.append(f"run {rs.run_id}{name}  writer {w.host} pid {w.pid}  dir {self.follower.run_dir}")
        lines.append(
            f"status: {self.status()}; elapsed {_hms(self.elapsed())}; events {self.events}"
            f" (seq 0..{self.last_seq}); {self.rate():.1f} events/s"
        )
        for name_, m in sorted(self.metrics.items()):
            step = f" (step {m.step})" if m.step is not None else ""
            lines.append(f"metric {name_} = {_num(m.value)}{step}")
        for plugin, snap in sorted(self.snapshots.items()):
            if snap:
                lines.append(f"plugin {plugin}: {stream_json(snap).decode()}")
        for kind, n in sorted(self.warn_counts.items()):
            last = next((w.message for w in reversed(self.warnings) if w.kind == kind), "")
            lines.append(f"warning {kind} x{n}: {last}")
        return lines


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _num(x: float) -> str:
    return nonfinite_marker(x) if not math.isfinite(x) else f"{x:.6g}"


def render_view(state: TailState, *, max_metrics: int = 30) -> Any:
    """The Rich renderable of the live view (identity, progress, metrics, plugins, warnings)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    f = state.follower
    rs = state.run_start
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold cyan", no_wrap=True)
    head.add_column()
    ident = "-" if rs is None else rs.run_id + (f'  "{rs.name}"' if rs.name else "")
    head.add_row("run", ident)
    head.add_row("dir", str(f.run_dir))
    if state.writer is not None:
        w = state.writer
        head.add_row("writer", f"{w.host} pid {w.pid}" + (f" (epoch {w.epoch})" if w.epoch else ""))
    ended = state.run_end is not None
    style = (
        "green"
        if ended and state.run_end and state.run_end.status == "ok"
        else ("yellow" if state.stalled or not f.exists else ("red" if ended else ""))
    )
    head.add_row("status", Text(state.status(), style=style))
    head.add_row(
        "progress",
        f"elapsed {_hms(state.elapsed())}   events {state.events} (seq {state.last_seq})"
        f"   {state.rate():.1f} events/s",
    )
    beat = f.heartbeat_age()
    head.add_row("watch", f"{f.mode}; heartbeat {_ago(beat)} ago" if beat is not None else f.mode)
    parts: list[Any] = [head]

    if state.metrics:
        table = Table(title="metrics", title_justify="left", expand=False, pad_edge=False)
        table.add_column("name")
        table.add_column("value", justify="right")
        table.add_column("step", justify="right")
        table.add_column("n", justify="right")
        names = sorted(state.metrics)
        if len(names) > max_metrics:
            recent = sorted(names, key=lambda n: state.metrics[n].seq)[-max_metrics:]
            names = sorted(recent)
        for name in names:
            m = state.metrics[name]
            value = Text(_num(m.value), style="bold red" if not math.isfinite(m.value) else "")
            table.add_row(name, value, "-" if m.step is None else str(m.step), str(m.count))
        if len(state.metrics) > len(names):
            table.caption = f"+{len(state.metrics) - len(names)} more metrics"
        parts.append(table)

    shown = {name: snap for name, snap in sorted(state.snapshots.items()) if snap}
    if shown:
        plugs = Table.grid(padding=(0, 2))
        plugs.add_column(style="bold magenta", no_wrap=True)
        plugs.add_column(overflow="fold")
        for name, snap in shown.items():
            text = stream_json(snap).decode()
            plugs.add_row(name, text if len(text) <= 600 else text[:597] + "...")
        parts.append(Text("plugins", style="italic"))
        parts.append(plugs)

    if state.warnings:
        latest: dict[str, Notice] = {}
        for w in state.warnings:  # one line per kind: its count and latest message, newest last
            latest.pop(w.kind, None)
            latest[w.kind] = w
        warn = Text()
        for kind, w in latest.items():
            n = state.warn_counts[kind]
            warn.append(f"! {kind}", style="bold yellow")
            warn.append(f" x{n}" if n > 1 else "")
            warn.append(f": {w.message}\n")
        warn.rstrip()
        parts.append(warn)
    return Panel(Group(*parts), title="vrx tail", border_style="blue")


# -- CLI outputs -------------------------------------------------------------------------------


class _Output:
    """How ``vrx tail`` prints: one of events, JSON lines, plain lines or the live view."""

    tick_s = 1.0

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        self.state = state
        self.types: set[str] = set(args.types)
        self.from_start: bool = args.from_start
        self.once_only: bool = args.once and not args.events
        self.out = sys.stdout

    def wanted(self, ev: AnyEvent) -> bool:
        if not self.from_start:
            first = self.state.follower.first_new_seq
            if first is None or ev.seq < first:
                return False
        return not self.types or event_tag(ev) in self.types

    def handle(self, items: Sequence[TailItem]) -> None:
        for item in items:
            self.state.update(item)
            if self.streams:
                self.item(item)
        if items:
            self.out.flush()

    @property
    def streams(self) -> bool:
        """Whether items are printed as they come (``--once`` prints only the state, but --events)."""
        return not self.once_only

    def item(self, item: TailItem) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Called at least every ``tick_s`` seconds."""

    def once(self) -> None:
        """Print the state (``--once``)."""

    def finish(self, reason: str, code: int, message: str | None) -> None:
        """The tail is over: ``reason`` is ended, dead, timeout, log_changed, corrupt, ..."""

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.out.flush()

    def __enter__(self) -> _Output:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _stderr_notice(item: Notice) -> None:
    if item.level == "warning" or item.kind in ("waiting", "found", "replaced"):
        print(
            f"vrx: {'warning: ' if item.level == 'warning' else ''}{item.message}",
            file=sys.stderr,
            flush=True,
        )


class _EventsOutput(_Output):
    """``--events``: each event as a table row (or a JSON line with ``--json``), nothing else."""

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        super().__init__(state, args)
        self.json: bool = args.json

    def item(self, item: TailItem) -> None:
        if isinstance(item, Notice):
            _stderr_notice(item)
        elif not isinstance(item, Snapshot) and self.wanted(item):
            self.out.write(event_json_line(item) if self.json else event_row(item))


class _JsonOutput(_Output):
    """``--json``: one object per update: event, snapshot, notice, and a final end (or state)."""

    def item(self, item: TailItem) -> None:
        if isinstance(item, Snapshot | Notice):
            self._write(item.to_json())
        elif self.wanted(item):
            self._write({"kind": "event", "event": event_dict(item)})

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(msgspec.json.encode(obj).decode() + "\n")

    def once(self) -> None:
        self._write(self.state.to_json())

    def finish(self, reason: str, code: int, message: str | None) -> None:
        self._write(
            {
                "kind": "end",
                "reason": reason,
                "exit": code,
                "last_seq": self.state.last_seq,
                "message": message,
            }
        )
        self.out.flush()


class _PlainOutput(_Output):
    """Not a terminal: event rows, warnings and plugin snapshots (at most every 5 s) as lines."""

    snapshot_every_s = 5.0

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        super().__init__(state, args)
        self._snap_at: dict[str, float] = {}
        self._pending: set[str] = set()

    def item(self, item: TailItem) -> None:
        if isinstance(item, Notice):
            mark = "!" if item.level == "warning" else "--"
            self.out.write(f"{mark} {item.kind}: {item.message}\n")
        elif isinstance(item, Snapshot):
            self._pending.update(item.changed)
            self.tick()
        elif self.wanted(item):
            self.out.write(event_row(item))

    def tick(self) -> None:
        now = time.monotonic()
        for name in sorted(self._pending):
            if now - self._snap_at.get(name, -math.inf) >= self.snapshot_every_s:
                self._snap_at[name] = now
                self._pending.discard(name)
                snap = self.state.snapshots.get(name, {})
                self.out.write(f"   [{name}] {stream_json(snap).decode()}\n")
        self.out.flush()

    def once(self) -> None:
        self.out.write("\n".join(self.state.summary_lines()) + "\n")

    def finish(self, reason: str, code: int, message: str | None) -> None:
        if self.state.follower.exists:
            self.out.write("-- " + "\n   ".join(self.state.summary_lines()) + "\n")
            self.out.flush()


class _LiveOutput(_Output):
    """A terminal: the Rich live view, refreshed on new events (at most 10 times a second)."""

    tick_s = 0.25

    def __init__(self, state: TailState, args: argparse.Namespace, console: Any) -> None:
        super().__init__(state, args)
        self.console = console
        self.live: Any = None
        self._shown = 0.0

    def item(self, item: TailItem) -> None:
        self.state.update(item)

    def handle(self, items: Sequence[TailItem]) -> None:
        for item in items:
            self.state.update(item)
        if items and not self.once_only and time.monotonic() - self._shown >= 0.1:
            self.tick()

    def tick(self) -> None:
        if self.once_only:
            return
        self._shown = time.monotonic()
        if self.live is None:
            from rich.live import Live

            self.live = Live(
                render_view(self.state), console=self.console, auto_refresh=False, redirect_stderr=False
            )
            self.live.start(refresh=True)
        else:
            self.live.update(render_view(self.state), refresh=True)

    def once(self) -> None:
        self.console.print(render_view(self.state))

    def finish(self, reason: str, code: int, message: str | None) -> None:
        if self.live is not None:
            self.live.update(render_view(self.state), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        super().close()


def _make_output(args: argparse.Namespace, state: TailState) -> _Output:
    if args.events:
        return _EventsOutput(state, args)
    if args.json:
        return _JsonOutput(state, args)
    if not args.plain:
        from rich.console import Console

        console = Console()
        if console.is_terminal and not console.is_dumb_terminal:
            return _LiveOutput(state, args, console)
    return _PlainOutput(state, args)


# -- the command -------------------------------------------------------------------------------

_DESCRIPTION = f"""\
Follow RUN_DIR/events.jsonl: catch up on the log so far, then show each event as it lands
(within a millisecond on a local disk, 0.5 to 2 s plus the writer's flush delay on NFS).
On a terminal: a live view of the run (identity, elapsed time, events/s, latest metric
values, each plugin's snapshot, warnings for NaN/Inf metrics, errors, OOM and stalls).
Otherwise: plain lines. --json: one JSON object per update. --events: only the raw events.
Waits for a run that has not started yet. Every line is checked (CRC, seq, hash chain) and
shown only once its newline is written.

The writer touches writer.lock every second while alive (heartbeat). The writer is presumed
dead after --dead-after seconds (default {DEAD_AFTER_S:g}) with no event and no heartbeat, or
after {QUICK_DEAD_S:g} s when the lock names a process on this host that is gone or no lock exists.

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
    plugins: PluginSet | None = getattr(args, "plugins", None)
    follower = Follower(
        args.run_dir,
        from_start=True,  # the view folds everything; the outputs filter what they print
        registry=plugins.registry if plugins is not None else None,
        plugins=None if args.events else plugins,
        snapshots=not args.events,
        poll=True if args.poll else None,
        poll_interval=args.poll_interval,
        dead_after_s=args.dead_after,
        stall_after_s=args.stall_after,
    )
    state = TailState(follower)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    with follower, _make_output(args, state) as out:
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
                out.handle(follower.read(timeout=wait))
                out.tick()
        except VrxError as exc:
            out.finish(_reason(exc), int(exc.exit_code), str(exc))
            raise
        code = ExitCode.SOFTWARE if state.plugin_failures else ExitCode.OK
        out.finish("ended", int(code), None)
        return int(code)


__all__ = ["TailState", "add_tail_command", "cmd_tail", "render_view"]
