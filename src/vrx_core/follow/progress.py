"""Progress and ETA of a run that declared a ``plan``: the pure part of ``vrx tail``'s progress line,
shared with any other live view (``vrx serve``).

:class:`ProgressClock` folds metric steps (the highest so far is ``done``) and the ``plan``;
:meth:`ProgressClock.progress` gives a :class:`Progress` with the rate measured in units per second
of the writer's clock (event times, so a tail that catches up on history gets the run's own rate).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from vrx_core.events import Plan

#: Seconds of the writer's clock over which the progress rate is measured.
RATE_WINDOW_S = 30.0


def _hms(seconds: float | None) -> str:
    """``H:MM:SS`` (``-`` for unknown); the tail's own format (kept here: follow is below cli)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass(frozen=True)
class Progress:
    """Where a run with a ``plan`` stands: ``done`` (the highest metric step so far) of ``total``
    ``unit``; ``rate`` in units per second of the writer's clock (event times, over the last
    :data:`RATE_WINDOW_S`); ``eta_s`` while the run goes on and the rate is known."""

    total: int
    unit: str
    done: int
    rate: float | None
    eta_s: float | None

    @property
    def fraction(self) -> float | None:
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else None

    def text(self) -> str:
        """``420/1000 steps (42%)  12.3 steps/s  ETA 0:00:47``."""
        parts = [f"{self.done}/{self.total} {self.unit}"]
        if self.fraction is not None:
            parts[0] += f" ({self.fraction * 100:.0f}%)"
        if self.rate is not None:
            parts.append(f"{self.rate:.3g} {self.unit}/s")
        if self.eta_s is not None:
            parts.append(f"ETA {_hms(self.eta_s)}")
        return "  ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "total": self.total,
            "unit": self.unit,
            "fraction": self.fraction,
            "rate": self.rate,
            "eta_s": self.eta_s,
        }


@dataclass
class ProgressClock:
    """The fold behind :class:`Progress`: the ``plan``, the highest metric step so far, the event
    time it was reached at, and (time, done) samples at least 0.1 s apart over the last
    :data:`RATE_WINDOW_S` (the rate)."""

    plan: Plan | None = None
    done: int = 0
    done_t: float = 0.0
    done_samples: deque[tuple[float, int]] = field(default_factory=deque)

    def step(self, step: int | None, t: float) -> None:
        """A metric at ``step`` recorded at event time ``t``."""
        if step is not None and step > self.done:
            self._advance(step, t)

    def _advance(self, done: int, t: float) -> None:
        self.done, self.done_t = done, t
        samples = self.done_samples
        if not samples or t - samples[-1][0] >= 0.1:
            samples.append((t, done))
        while len(samples) > 2 and samples[1][0] <= t - RATE_WINDOW_S:
            samples.popleft()

    def progress(self, *, ended: bool) -> Progress | None:
        """Done/total, rate and ETA (no ETA once ``ended``); None before a ``plan``."""
        plan = self.plan
        if plan is None:
            return None
        rate = None
        if self.done_samples:
            t0, d0 = self.done_samples[0]
            if self.done_t > t0 and self.done > d0:
                rate = (self.done - d0) / (self.done_t - t0)
        eta = None
        if not ended and plan.total > 0:
            if self.done >= plan.total:
                eta = 0.0
            elif rate is not None:
                eta = (plan.total - self.done) / rate
        return Progress(plan.total, plan.unit, self.done, rate, eta)


__all__ = ["RATE_WINDOW_S", "Progress", "ProgressClock"]
