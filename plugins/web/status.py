"""A run's status and progress as its stream shows them: a fold over the follower's items.

The stream sends a ``{"kind": "status", ...}`` item whenever :meth:`RunStatus.to_json` changes
(progress at most every :data:`PROGRESS_EVERY_S`), the same progress and ETA as ``vrx tail``
(:mod:`vrx_core.follow.progress`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from vrx_core.codec import json_safe
from vrx_core.events import Metric, Plan, Resumed, RunEnd
from vrx_core.follow.progress import ProgressClock
from vrx_core.follow.stream import Notice, Snapshot, TailItem

#: Progress alone (the status unchanged) is sent at most this often.
PROGRESS_EVERY_S: Final = 0.25


@dataclass
class RunStatus:
    """``waiting``, ``running``, ``stalled``, ``ended`` (``ended/error``, ``ended/interrupted``),
    ``crashed`` (the writer died), ``corrupt`` (the log is damaged or changed) or ``error``."""

    state: str = "running"
    clock: ProgressClock = field(default_factory=ProgressClock)
    ends: dict[int | None, RunEnd] = field(default_factory=dict)
    ranks: dict[int, str] | None = None
    message: str | None = None
    ended: bool = False

    def update(self, item: TailItem) -> None:
        if isinstance(item, Snapshot):
            return
        if isinstance(item, Notice):
            self._notice(item)
            return
        if self.state in ("waiting", "stalled"):
            self.state = "running"
        if isinstance(item, Metric):
            self.clock.step(item.step, item.t)
        elif isinstance(item, Plan):
            self.clock.plan = item
        elif isinstance(item, RunEnd):
            self.ends[item.rank] = item
        elif isinstance(item, Resumed):
            self.ends.pop(item.rank, None)

    def _notice(self, n: Notice) -> None:
        if n.kind == "waiting" and self.state == "running":
            self.state = "waiting"  # the log is not there (yet): the run page says so
        elif n.kind == "stall" and self.state == "running":
            self.state = "stalled"
        elif n.kind in ("active", "found", "caught_up") and self.state in ("waiting", "stalled"):
            self.state = "running"

    def end(self) -> None:
        """The follower read the run's end (every rank's, in a multi-rank run)."""
        self.ended = True
        bad = [e.status for _, e in sorted(self.ends.items(), key=lambda kv: kv[0] or 0) if e.status != "ok"]
        self.state = f"ended/{bad[0]}" if bad else "ended"

    def fail(self, state: str, message: str) -> None:
        """The follower stopped on an error: ``crashed``, ``corrupt`` or ``error``."""
        self.state, self.message = state, message

    def to_json(self) -> dict[str, Any]:
        progress = self.clock.progress(ended=self.ended)
        out: dict[str, Any] = {
            "kind": "status",
            "status": self.state,
            "progress": None if progress is None else json_safe(progress.to_json()),
        }
        if self.ranks is not None:
            out["ranks"] = {str(r): s for r, s in sorted(self.ranks.items())}
        if self.message is not None:
            out["message"] = self.message
        return out


__all__ = ["PROGRESS_EVERY_S", "RunStatus"]
