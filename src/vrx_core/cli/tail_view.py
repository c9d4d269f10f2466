"""The view of ``vrx tail``: :class:`TailState` folds a follower's items (events, snapshots,
notices) into what is shown, and :func:`render_view` draws it with Rich (reusable in any Rich app).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from vrx_core.cli.tail_format import ago, capped, flatten, hms, kv_lines, num, sparkline
from vrx_core.cli.tail_ranks import AnyFollower, all_ended, metric_key, rank_states, ranks_line
from vrx_core.codec import json_safe
from vrx_core.events import AnyEvent, Metric, Params, Plan, Resumed, RunEnd, RunStart
from vrx_core.follow.progress import Progress, ProgressClock
from vrx_core.follow.stream import Notice, Snapshot, TailItem

#: Recent values of a metric kept for its sparkline.
SPARK_LEN = 24

# -- what the CLI shows ------------------------------------------------------------------------


@dataclass
class MetricState:
    """A metric's latest value, step and count; the finite minimum and maximum; recent values."""

    value: float
    step: int | None
    seq: int
    t: float
    count: int = 1
    low: float | None = None
    high: float | None = None
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=SPARK_LEN))

    def add(self, ev: Metric) -> None:
        self.value, self.step, self.seq, self.t = ev.value, ev.step, ev.seq, ev.t
        self.count += 1
        self.recent.append(ev.value)
        if math.isfinite(ev.value):
            self.low = ev.value if self.low is None else min(self.low, ev.value)
            self.high = ev.value if self.high is None else max(self.high, ev.value)


@dataclass
class TailState:
    """The view's state, folded from a follower's items (all events, history included).

    In a multi-rank run the identity is rank 0's, each rank's metric is a row of its own
    (``loss [r2]``), and the run ends when every rank ended.
    """

    follower: AnyFollower
    run_start: RunStart | None = None
    writer: Any = None
    run_end: RunEnd | None = None
    events: int = 0
    last_seq: int = -1
    metrics: dict[str, MetricState] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    #: The plan and the highest metric step so far: progress, rate and ETA.
    clock: ProgressClock = field(default_factory=ProgressClock)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: deque[Notice] = field(default_factory=lambda: deque(maxlen=6))
    warn_counts: Counter[str] = field(default_factory=Counter)
    plugin_failures: int = 0
    stalled: bool = False
    times: deque[float] = field(default_factory=deque)
    #: A multi-rank run: each rank's run end so far.
    rank_ends: dict[int, RunEnd] = field(default_factory=dict)

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
            key = metric_key(ev)
            m = self.metrics.get(key)
            if m is None:
                m = self.metrics[key] = MetricState(ev.value, ev.step, ev.seq, ev.t, count=0)
            m.add(ev)
            self.clock.step(ev.step, ev.t)
        elif isinstance(ev, Params):
            self.params.update(ev.values)
        elif isinstance(ev, Plan):
            self.clock.plan = ev
        elif isinstance(ev, RunStart):
            if self.run_start is None or ev.rank in (None, 0):  # a multi-rank run: rank 0's identity
                self.run_start, self.writer = ev, ev.writer
        elif isinstance(ev, Resumed):
            if ev.rank in (None, 0):
                self.writer = ev.writer
            self.run_end = None
            if ev.rank is not None:
                self.rank_ends.pop(ev.rank, None)
        elif isinstance(ev, RunEnd):
            if ev.rank is None:
                self.run_end = ev
            else:
                self.rank_ends[ev.rank] = ev
                self.run_end = all_ended(self.follower, self.rank_ends)

    @property
    def plan(self) -> Plan | None:
        return self.clock.plan

    def progress(self) -> Progress | None:
        """Done/total, rate and ETA once the run declared a ``plan`` (None before)."""
        return self.clock.progress(ended=self.run_end is not None)

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
        if self.run_end is not None:
            return f"ended ({self.run_end.status})"
        if not f.exists:
            return "waiting for the run to start"
        if not f.caught_up:
            return "catching up"
        age = f.event_age()
        if self.stalled:
            return f"stalled: no event for {age:.0f} s (heartbeat alive)"
        return f"running; last event {ago(age)} ago"

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
                    n: {
                        "value": m.value,
                        "step": m.step,
                        "seq": m.seq,
                        "count": m.count,
                        "min": m.low,
                        "max": m.high,
                    }
                    for n, m in sorted(self.metrics.items())
                },
                "params": self.params,
                "progress": self.progress_json(),
                "plugins": self.snapshots,
                "warnings": dict(sorted(self.warn_counts.items())),
                "mode": f.mode,
                "torn_bytes": f.torn_bytes,
            }
        )
        ranks = rank_states(f)
        if ranks is not None:
            out["ranks"] = {str(k): v for k, v in ranks.items()}
        return out

    def progress_json(self) -> dict[str, Any] | None:
        p = self.progress()
        return None if p is None else json_safe(p.to_json())

    def summary_lines(self, width: int = 100) -> list[str]:
        """The state as plain lines (``--plain --once`` and the end of a plain tail)."""
        rs = self.run_start
        lines = []
        if rs is None:
            lines.append(f"run {self.follower.run_dir}: {self.status()}")
            return lines
        name = f' "{rs.name}"' if rs.name else ""
        w = self.writer
        lines.append(f"run {rs.run_id}{name}  writer {w.host} pid {w.pid}  dir {self.follower.run_dir}")
        ranks = ranks_line(self.follower)
        seqs = f" (seq 0..{self.last_seq})" if ranks is None else ""
        lines.append(
            f"status: {self.status()}; elapsed {hms(self.elapsed())}; events {self.events}{seqs};"
            f" {self.rate():.1f} events/s"
        )
        if ranks is not None:
            lines.append(f"ranks: {ranks}")
        progress = self.progress()
        if progress is not None:
            lines.append(f"progress: {progress.text()}")
        if self.params:
            lines.append("params:")
            lines += kv_lines(capped(flatten(self.params), 40), width, "  ")
        for name_, m in sorted(self.metrics.items()):
            step = f" (step {m.step})" if m.step is not None else ""
            span = "" if m.low is None or m.high is None else f"  min {num(m.low, 4)} max {num(m.high, 4)}"
            lines.append(f"metric {name_} = {num(m.value)}{step}{span}  {sparkline(m.recent)}")
        for plugin, snap in sorted(self.snapshots.items()):
            if snap:
                lines.append(f"plugin {plugin}:")
                lines += kv_lines(capped(flatten(snap), 40), width, "  ")
        for kind, n in sorted(self.warn_counts.items()):
            last = next((w.message for w in reversed(self.warnings) if w.kind == kind), "")
            lines.append(f"warning {kind} x{n}: {last}")
        return lines


def _progress_row(p: Progress) -> Any:
    """A bar (up to 24 columns, narrower when the width is short) and the numbers beside it."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    row = Table.grid(padding=(0, 2))
    row.add_column(max_width=24)
    row.add_column(no_wrap=True)
    if p.fraction is None:
        row.add_row("", p.text())
    else:
        row.add_row(ProgressBar(total=1.0, completed=p.fraction), p.text())
    return row


class _Recent:
    """A sparkline that keeps its newest (rightmost) values when the column is narrow."""

    def __init__(self, text: Any) -> None:
        self.text = text

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        return Measurement(min(8, len(self.text)), len(self.text))

    def __rich_console__(self, console: Any, options: Any) -> Any:
        cut = max(0, len(self.text) - options.max_width)
        yield self.text[cut:]


def _kv_grid(rows: list[tuple[str, str]], key_style: str) -> Any:
    """Key/value rows as a two-column grid; values are cut (with an ellipsis) to the width."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style=key_style, no_wrap=True, width=_key_width(rows), overflow="ellipsis")
    grid.add_column()  # the only column that gives way to the width: its values are cut, not wrapped
    for k, v in rows:
        grid.add_row(k, _cut(v))
    return grid


def _key_width(rows: list[tuple[str, str]]) -> int:
    return min(32, max((len(k) for k, _ in rows), default=1))


def _cut(value: str) -> Any:
    """A value that is cut with an ellipsis at the width, never wrapped."""
    from rich.text import Text

    return Text(value, no_wrap=True, overflow="ellipsis")


def render_view(state: TailState, *, max_metrics: int = 30, max_rows: int = 12) -> Any:
    """The Rich renderable of the live view: identity, status, progress, params, metrics (last,
    min, max, recent values), plugin snapshots (key/value rows, empty ones omitted), warnings.
    ``max_rows`` caps the rows of the params and of each plugin."""
    from rich import box
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
    ranks = ranks_line(f)
    if ranks is not None:
        head.add_row("ranks", ranks)
    ended = state.run_end is not None
    style = (
        "green"
        if ended and state.run_end and state.run_end.status == "ok"
        else ("yellow" if state.stalled or not f.exists else ("red" if ended else ""))
    )
    head.add_row("status", Text(state.status(), style=style))
    head.add_row(
        "elapsed",
        f"{hms(state.elapsed())}   events {state.events}{'' if ranks else f' (seq {state.last_seq})'}"
        f"   {state.rate():.1f} events/s",
    )
    progress = state.progress()
    if progress is not None:
        head.add_row("progress", _progress_row(progress))
    beat = f.heartbeat_age()
    if ended or beat is None:  # no writer to hear from once the run ended
        head.add_row("watch", f.mode)
    else:
        head.add_row("watch", f"{f.mode}; heartbeat {ago(beat)} ago")
    parts: list[Any] = [head]

    if state.params:
        parts.append(Text("params", style="italic"))
        parts.append(_kv_grid(capped(flatten(state.params), max_rows), "bold"))

    if state.metrics:
        table = Table(
            title="metrics", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
        )
        # The numbers keep their width; on a narrow terminal the name and the sparkline give way.
        table.add_column("name", max_width=32)
        table.add_column("last", justify="right", no_wrap=True)
        table.add_column("min", justify="right", no_wrap=True)
        table.add_column("max", justify="right", no_wrap=True)
        table.add_column("recent")
        table.add_column("step", justify="right", no_wrap=True)
        table.add_column("n", justify="right", no_wrap=True)
        names = sorted(state.metrics)
        if len(names) > max_metrics:
            recent = sorted(names, key=lambda n: state.metrics[n].seq)[-max_metrics:]
            names = sorted(recent)
        for name in names:
            m = state.metrics[name]
            spark = Text(no_wrap=True)
            for ch, x in zip(sparkline(m.recent), m.recent, strict=True):
                spark.append(ch, style="bold red" if not math.isfinite(x) else "cyan")
            table.add_row(
                _cut(name),
                Text(num(m.value), style="bold red" if not math.isfinite(m.value) else ""),
                "-" if m.low is None else num(m.low, 4),
                "-" if m.high is None else num(m.high, 4),
                _Recent(spark),
                "-" if m.step is None else str(m.step),
                str(m.count),
            )
        if len(state.metrics) > len(names):
            table.caption = f"+{len(state.metrics) - len(names)} more metrics"
        parts.append(table)

    shown = {name: snap for name, snap in sorted(state.snapshots.items()) if snap}
    if shown:
        parts.append(Text("plugins", style="italic"))
        rows = {name: capped(flatten(snap), max_rows) for name, snap in shown.items()}
        plugs = Table.grid(padding=(0, 2))
        plugs.add_column(style="bold magenta", no_wrap=True)
        plugs.add_column(no_wrap=True, width=_key_width([kv for r in rows.values() for kv in r]))
        plugs.add_column()
        for name, kv in rows.items():
            for i, (k, v) in enumerate(kv):
                plugs.add_row(name if i == 0 else "", k, _cut(v))
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
            warn.append(f" ({w.plugin})" if w.plugin is not None else "")
            warn.append(f" x{n}" if n > 1 else "")
            warn.append(f": {w.message}\n")
        warn.rstrip()
        parts.append(warn)
    return Panel(Group(*parts), title="vrx tail", border_style="blue")


__all__ = ["MetricState", "Progress", "TailState", "render_view"]
