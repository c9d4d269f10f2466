"""The pure logic of plots: metric points folded per series, smoothing, non-finite values, file names.

Nothing here imports matplotlib: :mod:`.render` draws what :func:`build_series` returns, and both the
``plots`` deriver and ``vrx plot`` feed it through the same :class:`MetricFold`. See docs/plots.md.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from vrx_core.events import Metric, RunStart

XAxis = Literal["step", "time"]
X_LABELS: dict[XAxis, str] = {"step": "step", "time": "time since run start (s)"}

#: Characters a file stem keeps as they are; every other byte of the name's UTF-8 is ``%XX``.
SAFE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
#: Longer stems are cut and suffixed with a hash of the name: file systems cap a name at 255 bytes.
MAX_STEM = 200
HASHED_PREFIX = 160


@dataclass
class Points:
    """One series of a metric as recorded: x and value per point, in log order (16 bytes a point)."""

    x: array[float] = field(default_factory=lambda: array("d"))
    values: array[float] = field(default_factory=lambda: array("d"))


@dataclass(frozen=True)
class Series:
    """One line of a plot, ready to draw: finite points (raw, and smoothed when asked) and the x of
    every NaN, +Inf and -Inf point, which have no y to draw at."""

    label: str
    x: list[float]
    y: list[float]
    smoothed: list[float] | None
    nan_x: list[float]
    pos_inf_x: list[float]
    neg_inf_x: list[float]

    @property
    def non_finite(self) -> int:
        return len(self.nan_x) + len(self.pos_inf_x) + len(self.neg_inf_x)


class MetricFold:
    """Every ``metric`` event of one run, by metric name and rank (None for a single-process run).

    ``x="step"`` places a point at its ``step``, or, for a metric recorded without one, at its
    index in its series (0, 1, ...); ``x="time"`` at its ``t`` less the run's first event's ``t``.
    """

    def __init__(self, x: XAxis = "step") -> None:
        self.x_axis: XAxis = x
        self.t0: float | None = None
        self.points: dict[str, dict[int | None, Points]] = {}
        #: The run's name (``run_start.name``, else its ``run_id``), None until a run_start is seen.
        self.name: str | None = None
        self._name_rank = 0

    def run_start(self, event: RunStart) -> None:
        """Name the run from the log alone, so moving its directory changes no byte of its plots;
        each rank of a multi-rank run starts its own log, and rank 0's (or the only one's) wins."""
        self.start(event.t)
        rank = event.rank or 0
        if self.name is None or rank < self._name_rank:
            self.name = event.name or event.run_id
            self._name_rank = rank

    def start(self, t: float) -> None:
        """Note an event's time: the first one seen is the run's origin for ``x="time"``."""
        if self.t0 is None:
            self.t0 = t

    def add(self, event: Metric) -> None:
        self.start(event.t)
        by_rank = self.points.get(event.name)
        if by_rank is None:
            by_rank = self.points[event.name] = {}
        pts = by_rank.get(event.rank)
        if pts is None:
            pts = by_rank[event.rank] = Points()
        pts.x.append(self._x(event, len(pts.x)))
        pts.values.append(event.value)

    def _x(self, event: Metric, index: int) -> float:
        if self.x_axis == "time":
            return event.t - (self.t0 if self.t0 is not None else event.t)
        return float(event.step if event.step is not None else index)

    @property
    def names(self) -> list[str]:
        return sorted(self.points)

    @property
    def count(self) -> int:
        return sum(len(p.x) for by_rank in self.points.values() for p in by_rank.values())


def series_label(run: str, rank: int | None) -> str:
    """``run`` for a single-process run's series, ``run@rankN`` for rank N's."""
    return run if rank is None else f"{run}@rank{rank}"


def build_series(runs: Sequence[tuple[str, MetricFold]], metric: str, smooth: int = 1) -> list[Series]:
    """The series of ``metric`` across ``runs`` (label, fold), in run order then rank order."""
    out: list[Series] = []
    for label, fold in runs:
        by_rank = fold.points.get(metric, {})
        for rank in sorted(by_rank, key=lambda r: -1 if r is None else r):
            out.append(to_series(series_label(label, rank), by_rank[rank], smooth))
    return out


def to_series(label: str, points: Points, smooth: int = 1) -> Series:
    """Split ``points`` into the finite ones and the x of each kind of non-finite one."""
    x: list[float] = []
    y: list[float] = []
    nan_x: list[float] = []
    pos_inf_x: list[float] = []
    neg_inf_x: list[float] = []
    for px, v in zip(points.x, points.values, strict=True):
        if math.isfinite(v):
            x.append(px)
            y.append(v)
        elif math.isnan(v):
            nan_x.append(px)
        else:
            (pos_inf_x if v > 0 else neg_inf_x).append(px)
    smoothed = trailing_mean(y, smooth) if smooth > 1 else None
    return Series(label, x, y, smoothed, nan_x, pos_inf_x, neg_inf_x)


def trailing_mean(values: Sequence[float], k: int) -> list[float]:
    """Each value replaced by the mean of it and up to ``k - 1`` values before it (fewer at the start).

    A running sum would drift by rounding over 100k points, so it is replaced by an exact
    ``math.fsum`` of the window every ``k`` points (linear time, and the same bytes every time).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    window: deque[float] = deque()
    total = 0.0
    out: list[float] = []
    for i, v in enumerate(values):
        window.append(v)
        total += v
        if len(window) > k:
            total -= window.popleft()
        if i % k == 0:
            total = math.fsum(window)
        out.append(total / len(window))
    return out


def plot_title(metric: str, smooth: int = 1) -> str:
    return metric if smooth <= 1 else f"{metric} (trailing mean of {smooth})"


def file_stem(metric: str) -> str:
    """The file name (less ``.png``) of a metric's plot: injective, safe on any POSIX file system.

    Letters, digits, ``_``, ``-`` and ``.`` stay; every other byte of the name's UTF-8 (``/``,
    space, ``%`` itself, non-ASCII) becomes ``%XX``, and so does a leading ``.`` (no hidden files,
    no ``..``). ``train/loss`` -> ``train%2Floss``. A stem over 200 bytes keeps its first 160 and
    ends with ``~`` and 16 hex digits of the name's SHA-256.
    """
    stem = "".join(_encode(ch, i) for i, ch in enumerate(metric)) or "%"
    if len(stem) > MAX_STEM:
        digest = hashlib.sha256(metric.encode("utf-8")).hexdigest()[:16]
        stem = f"{stem[:HASHED_PREFIX]}~{digest}"
    return stem


def _encode(ch: str, index: int) -> str:
    if ch in SAFE_CHARS and not (index == 0 and ch == "."):
        return ch
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def file_name(metric: str) -> str:
    return f"{file_stem(metric)}.png"


def match_metrics(names: Iterable[str], globs: Sequence[str]) -> list[str]:
    """The names matching any of ``globs`` (fnmatch, case-sensitive), sorted; all when none given."""
    from fnmatch import fnmatchcase

    return sorted({n for n in names if not globs or any(fnmatchcase(n, g) for g in globs)})
