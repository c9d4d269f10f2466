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

from vrx_core.codec import json_safe, nonfinite_marker, stream_json
from vrx_core.events import AnyEvent, Metric, Resumed, RunEnd, RunStart
from vrx_core.follow.follower import Follower
from vrx_core.follow.stream import Notice, Snapshot, TailItem

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
            warn.append(f" ({w.plugin})" if w.plugin is not None else "")
            warn.append(f" x{n}" if n > 1 else "")
            warn.append(f": {w.message}\n")
        warn.rstrip()
        parts.append(warn)
    return Panel(Group(*parts), title="vrx tail", border_style="blue")


__all__ = ["MetricState", "TailState", "render_view"]
