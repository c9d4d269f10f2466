"""Frame metrics with the exact semantics of labops ``src/metrics/fps.cpp`` (triage_bundle.md, ORIGINS 4.5).

Numeric choices that make results bit-identical to the C++ implementation:

* Timestamps are integer epoch nanoseconds (the C++ ``system_clock`` resolution on Linux).
* The rolling window compares full-resolution timestamps: a received frame counts for the
  sample ending at ``end`` when ``end - window <= ts <= end`` (inclusive at both ends) *and* it
  sorts at or before the sample's own frame. That second clause only matters for duplicate
  timestamps: like the C++ two-pointer scan over indices, the first of two equal timestamps
  does not count the second one.
* ``window_end_ms`` is ``duration_cast<milliseconds>``: nanoseconds divided by 10**6 truncated
  toward zero (floor for post-1970 timestamps, toward zero before 1970).
* Intervals are ``duration_cast<microseconds>`` of non-negative deltas (truncation), as floats.
* Means are a left-to-right double sum over the *sorted* samples (``std::accumulate`` after
  ``std::sort``), not ``math.fsum`` and not ``sum()``, whose float algorithm changed in 3.12.
* p95 is nearest-rank: ``sorted[ceil(0.95 * N) - 1]`` with ``0.95 * N`` computed in doubles.

The batch function and the incremental accumulator share one core, so their results are equal
for the same multiset of frames whatever the arrival order.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from itertools import accumulate, chain, repeat
from typing import NamedTuple

from . import _rolling
from .sim import Frame

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
DEFAULT_ROLLING_WINDOW_MS = 1_000

FrameLike = Frame | tuple[int, bool]
"""A simulated/parsed frame, or a bare ``(ts_ns, dropped)`` pair."""


@dataclass(frozen=True, slots=True)
class TimingStats:
    """min/avg/p95 of one sample set; all zero with ``sample_count == 0`` when it is empty."""

    sample_count: int = 0
    min_us: float = 0.0
    avg_us: float = 0.0
    p95_us: float = 0.0


class RollingSample(NamedTuple):
    """One rolling-FPS sample, ending at a received frame."""

    window_end_ms: int
    frames_in_window: int
    fps: float


@dataclass(frozen=True, slots=True)
class TriageMetrics:
    """Everything metrics.csv and metrics.json carry.

    Rolling samples are stored as two parallel int tuples (not one record per sample) because a
    long run has one sample per received frame; use ``rolling_samples()`` for records.
    """

    avg_window_ms: int
    rolling_window_ms: int
    frames_total: int
    received_frames_total: int
    dropped_frames_total: int
    drop_rate_percent: float
    avg_fps: float
    inter_frame_interval_us: TimingStats
    inter_frame_jitter_us: TimingStats
    rolling_window_end_ms: tuple[int, ...]
    rolling_frames_in_window: tuple[int, ...]

    def rolling_fps_values(self) -> list[float]:
        """``frames_in_window / (rolling_window_ms / 1000.0)`` per sample, as the C++ computes it."""
        seconds = self.rolling_window_ms / 1000.0
        return [count / seconds for count in self.rolling_frames_in_window]

    def rolling_samples(self) -> list[RollingSample]:
        """The rolling samples as records, in ascending timestamp order."""
        return list(
            map(
                RollingSample._make,
                zip(
                    self.rolling_window_end_ms,
                    self.rolling_frames_in_window,
                    self.rolling_fps_values(),
                    strict=True,
                ),
            )
        )


def compute_metrics(
    frames: Iterable[FrameLike],
    avg_window_ms: int,
    rolling_window_ms: int = DEFAULT_ROLLING_WINDOW_MS,
) -> TriageMetrics:
    """Metrics of a batch of frames in any order (frames or ``(ts_ns, dropped)`` pairs).

    ``avg_window_ms`` is the scenario duration, not the observed span (ORIGINS 4.5).
    """
    received, frames_total = split_received(frames)
    return metrics_from_received(received, frames_total, avg_window_ms, rolling_window_ms)


def split_received(frames: Iterable[FrameLike]) -> tuple[list[int], int]:
    """Received timestamps (input order) and the total frame count, type-checking every sample."""
    received: list[int] = []
    append = received.append
    total = 0
    for frame in frames:
        ts_ns, dropped = _unpack(frame)
        total += 1
        if not dropped:
            append(ts_ns)
    return received, total


def _unpack(frame: FrameLike) -> tuple[int, bool]:
    """``(ts_ns, dropped)`` of one sample; bools and floats as timestamps are errors, not data."""
    if isinstance(frame, Frame):
        ts_ns, dropped = frame.ts_ns, frame.dropped
    else:
        ts_ns, dropped = frame
    if type(ts_ns) is not int:
        raise TypeError(f"frame timestamp must be an int of nanoseconds, got {type(ts_ns).__name__}")
    if type(dropped) is not bool:
        raise TypeError(f"frame dropped flag must be a bool, got {type(dropped).__name__}")
    return ts_ns, dropped


def metrics_from_received(
    received_ts_ns: Iterable[int],
    frames_total: int,
    avg_window_ms: int,
    rolling_window_ms: int = DEFAULT_ROLLING_WINDOW_MS,
) -> TriageMetrics:
    """The shared core: metrics from received timestamps (any order) and the total frame count."""
    _check_window("avg_window_ms", avg_window_ms)
    _check_window("rolling_window_ms", rolling_window_ms)
    timestamps = sorted(received_ts_ns)
    received = len(timestamps)
    if frames_total < received:
        raise ValueError(f"frames_total {frames_total} is below the received count {received}")
    dropped = frames_total - received
    drop_rate = float(dropped) * 100.0 / float(frames_total) if frames_total > 0 else 0.0
    ends_ms, counts = rolling_counts(timestamps, rolling_window_ms)
    interval, jitter = timing_stats(timestamps)
    return TriageMetrics(
        avg_window_ms=avg_window_ms,
        rolling_window_ms=rolling_window_ms,
        frames_total=frames_total,
        received_frames_total=received,
        dropped_frames_total=dropped,
        drop_rate_percent=drop_rate,
        avg_fps=float(received) / (avg_window_ms / 1000.0),
        inter_frame_interval_us=interval,
        inter_frame_jitter_us=jitter,
        rolling_window_end_ms=ends_ms,
        rolling_frames_in_window=counts,
    )


def _check_window(name: str, value: int) -> None:
    """Windows must be positive ints: the C++ refuses them otherwise and the formulas divide."""
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value}")


def rolling_counts(
    sorted_ts_ns: list[int], rolling_window_ms: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per received frame: window end in epoch ms and the frames in ``[end - window, end]``.

    The C++ two-pointer scan, compiled (``_rolling.c``): the left edge only moves forward and
    stops at the first timestamp ``>= end - window``; the end is ``epoch_ms`` of the frame.
    Timestamps are int64 nanoseconds, as in the C++ (others raise OverflowError).
    """
    return _rolling.rolling_counts(sorted_ts_ns, rolling_window_ms * NS_PER_MS)


def epoch_ms(ts_ns: int) -> int:
    """``duration_cast<milliseconds>`` of an epoch-ns timestamp: truncation toward zero."""
    return ts_ns // NS_PER_MS if ts_ns >= 0 else -(-ts_ns // NS_PER_MS)


def timing_stats(sorted_ts_ns: list[int]) -> tuple[TimingStats, TimingStats]:
    """Interval and jitter statistics; both empty with fewer than two received frames.

    A capture has few distinct intervals (whole microseconds), so both sample sets are kept as
    histograms: sorting and ranking touch the distinct values only. The means still add every
    sample left to right in ascending order, as the C++ ``std::accumulate`` after ``std::sort``.
    """
    if len(sorted_ts_ns) < 2:
        return TimingStats(), TimingStats()
    histogram = _rolling.interval_histogram(sorted_ts_ns, NS_PER_US)  # (b - a) // 1000, counted
    intervals = sorted((float(us), n) for us, n in histogram.items())
    interval = stats_of_histogram(intervals)
    mean = interval.avg_us
    jitter: Counter[float] = Counter()
    for value, n in intervals:
        jitter[abs(value - mean)] += n
    return interval, stats_of_histogram(sorted(jitter.items()))


def stats_of_histogram(values: list[tuple[float, int]]) -> TimingStats:
    """min, sequential-sum mean and nearest-rank p95 of ``(value, count)`` pairs, ascending, non-empty.

    Equal to the statistics of the expanded ascending sample list: the mean adds each sample in
    turn (not ``value * count``, which rounds differently).
    """
    ascending = [value for value, _ in values]
    counts = [n for _, n in values]
    ends = list(accumulate(counts))  # index just past each value's run of samples
    count = ends[-1]
    samples = chain.from_iterable(map(repeat, ascending, counts))
    total = reduce(operator.add, samples, 0.0)
    rank = math.ceil(0.95 * count)
    index = rank - 1 if rank > 0 else 0
    p95 = ascending[bisect_right(ends, index)]
    return TimingStats(sample_count=count, min_us=ascending[0], avg_us=total / count, p95_us=p95)


@dataclass(frozen=True, slots=True)
class TriageSnapshot:
    """Cheap live view of a stream in progress (no sort, no percentiles)."""

    frames_total: int
    received_frames_total: int
    dropped_frames_total: int
    drop_rate_percent: float
    current_fps: float  # received frames in [latest - window, latest] per second
    latest_ts_ns: int | None  # newest received timestamp seen, None before the first


class TriageAccumulator:
    """Incremental form of ``compute_metrics`` for frames arriving one at a time, in any order.

    ``add`` only appends (replaying a long capture pays nothing per frame for the live view);
    ``snapshot`` folds the frames added since the previous snapshot into the rolling window, so
    each frame is sorted into it once. ``result`` runs the batch core on everything seen and
    therefore equals ``compute_metrics`` on the same frames.
    """

    __slots__ = (
        "_frames_total",
        "_latest",
        "_received",
        "_recent",
        "_seen",
        "_window_ns",
        "rolling_window_ms",
    )

    def __init__(self, rolling_window_ms: int = DEFAULT_ROLLING_WINDOW_MS) -> None:
        _check_window("rolling_window_ms", rolling_window_ms)
        self.rolling_window_ms = rolling_window_ms
        self._window_ns = rolling_window_ms * NS_PER_MS
        self._received: list[int] = []
        self._recent: list[int] = []  # sorted received timestamps >= latest - window (as of _seen)
        self._seen = 0  # how many of _received are folded into _recent and _latest
        self._frames_total = 0
        self._latest: int | None = None

    def add(self, frame: FrameLike) -> None:
        """Record one frame (a Frame or a ``(ts_ns, dropped)`` pair)."""
        ts_ns, dropped = _unpack(frame)
        self.add_sample(ts_ns, dropped)

    def add_sample(self, ts_ns: int, dropped: bool) -> None:
        """Record one frame given as already-typed fields (e.g. a decoded event)."""
        self._frames_total += 1
        if not dropped:
            self._received.append(ts_ns)

    def add_many(self, frames: Iterable[FrameLike]) -> None:
        """Record several frames; same effect as calling ``add`` on each."""
        for frame in frames:
            self.add(frame)

    def _fold_recent(self) -> None:
        """Bring ``_recent`` up to date: received timestamps inside the window ending at the newest."""
        new = self._received[self._seen :]
        if not new:
            return
        self._seen = len(self._received)
        newest = max(new)
        latest = newest if self._latest is None else max(self._latest, newest)
        self._latest = latest
        cutoff = latest - self._window_ns
        self._recent = sorted(ts for ts in (*self._recent, *new) if ts >= cutoff)

    def snapshot(self) -> TriageSnapshot:
        """Counts, drop rate and the rolling FPS ending at the newest received frame."""
        self._fold_recent()
        total = self._frames_total
        received = len(self._received)
        dropped = total - received
        return TriageSnapshot(
            frames_total=total,
            received_frames_total=received,
            dropped_frames_total=dropped,
            drop_rate_percent=float(dropped) * 100.0 / float(total) if total > 0 else 0.0,
            current_fps=len(self._recent) / (self.rolling_window_ms / 1000.0),
            latest_ts_ns=self._latest,
        )

    def result(self, avg_window_ms: int) -> TriageMetrics:
        """Full metrics of every frame added so far (sorting makes arrival order irrelevant)."""
        return metrics_from_received(
            self._received, self._frames_total, avg_window_ms, self.rolling_window_ms
        )
