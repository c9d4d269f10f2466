"""compute_metrics and TriageAccumulator: the ORIGINS 4.5 vector and a reference implementation."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.frame_triage.metrics import (
    TimingStats,
    TriageAccumulator,
    TriageMetrics,
    compute_metrics,
    epoch_ms,
)
from vrx_plugins.frame_triage.sim import Frame

MS = 1_000_000
BASE_NS = 1_700_000_000_000 * MS


def origins_frames() -> list[tuple[int, bool]]:
    """ORIGINS 4.5: base + {1000, 1500, 2000, 2500 (dropped), 2800} ms."""
    return [(BASE_NS + ms * MS, ms == 2500) for ms in (1000, 1500, 2000, 2500, 2800)]


def test_origins_vector_values() -> None:
    m = compute_metrics(origins_frames(), avg_window_ms=2000, rolling_window_ms=1000)
    assert (m.received_frames_total, m.frames_total, m.dropped_frames_total) == (4, 5, 1)
    assert m.drop_rate_percent == 20.0
    assert m.avg_fps == 2.0
    assert m.rolling_fps_values() == [1.0, 2.0, 3.0, 2.0]
    assert m.inter_frame_interval_us == TimingStats(3, 500000.0, 600000.0, 800000.0)
    jitter = m.inter_frame_jitter_us
    assert (jitter.sample_count, jitter.min_us, jitter.p95_us) == (3, 100000.0, 200000.0)
    assert f"{jitter.avg_us:.6f}" == "133333.333333"
    assert m.rolling_window_end_ms == tuple(1_700_000_000_000 + ms for ms in (1000, 1500, 2000, 2800))


def test_frames_and_pairs_are_equivalent() -> None:
    frames = [Frame(i, ts, 0 if dropped else 10, dropped) for i, (ts, dropped) in enumerate(origins_frames())]
    assert compute_metrics(frames, 2000) == compute_metrics(origins_frames(), 2000)


def test_window_is_inclusive_at_both_ends() -> None:
    # A frame exactly one window before the end counts; one nanosecond earlier does not.
    m = compute_metrics([(0, False), (1000 * MS, False)], 1000)
    assert m.rolling_frames_in_window == (1, 2)
    m = compute_metrics([(0, False), (1000 * MS + 1, False)], 1000)
    assert m.rolling_frames_in_window == (1, 1)


def test_empty_and_single_frame_edge_cases() -> None:
    empty = compute_metrics([], 1000)
    assert (empty.frames_total, empty.drop_rate_percent, empty.avg_fps) == (0, 0.0, 0.0)
    assert empty.inter_frame_interval_us == TimingStats() == empty.inter_frame_jitter_us
    assert empty.rolling_window_end_ms == ()
    one = compute_metrics([(5 * MS, False)], 1000)
    assert one.inter_frame_interval_us.sample_count == 0
    assert one.rolling_frames_in_window == (1,)
    all_dropped = compute_metrics([(1, True), (2, True)], 500)
    assert (all_dropped.drop_rate_percent, all_dropped.avg_fps) == (100.0, 0.0)


def test_window_end_truncates_toward_zero() -> None:
    assert epoch_ms(1_999_999) == 1
    assert epoch_ms(-1_999_999) == -1
    m = compute_metrics([(-1_500_000, False), (2_500_000, False)], 10)
    assert m.rolling_window_end_ms == (-1, 2)


@pytest.mark.parametrize(
    ("frames", "avg", "rolling", "error"),
    [
        ([], 0, 1000, ValueError),
        ([], 1000, 0, ValueError),
        ([], True, 1000, TypeError),
        ([(1.5, False)], 1000, 1000, TypeError),
        ([(True, False)], 1000, 1000, TypeError),
        ([(1, 0)], 1000, 1000, TypeError),
    ],
)
def test_bad_inputs_are_refused(
    frames: list[tuple[object, object]], avg: object, rolling: int, error: type
) -> None:
    with pytest.raises(error):
        compute_metrics(frames, avg, rolling)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Reference implementation: literal transcription of the spec, quadratic and slow on purpose.


def reference_metrics(
    frames: list[tuple[int, bool]], avg_window_ms: int, rolling_window_ms: int
) -> TriageMetrics:
    received = sorted(ts for ts, dropped in frames if not dropped)
    total = len(frames)
    dropped = total - len(received)
    window_ns = rolling_window_ms * MS
    # Like the C++ two-pointer scan, a sample counts frames up to its own index: with duplicate
    # timestamps the first of them does not count the later ones.
    counts = tuple(
        sum(1 for t in received[: i + 1] if end - window_ns <= t) for i, end in enumerate(received)
    )
    ends = tuple(int(Fraction(end, MS)) for end in received)  # int() of a Fraction truncates toward 0

    def stats(samples: list[float]) -> TimingStats:
        if not samples:
            return TimingStats()
        ordered = sorted(samples)
        acc = 0.0
        for value in ordered:
            acc += value
        rank = math.ceil(0.95 * len(ordered))
        return TimingStats(len(ordered), ordered[0], acc / len(ordered), ordered[max(rank, 1) - 1])

    intervals = [float(int(Fraction(b - a, 1000))) for a, b in pairwise(received)]
    interval = stats(intervals)
    jitter = stats([abs(x - interval.avg_us) for x in intervals])
    return TriageMetrics(
        avg_window_ms=avg_window_ms,
        rolling_window_ms=rolling_window_ms,
        frames_total=total,
        received_frames_total=len(received),
        dropped_frames_total=dropped,
        drop_rate_percent=(dropped * 100.0 / total) if total else 0.0,
        avg_fps=len(received) / (avg_window_ms / 1000.0),
        inter_frame_interval_us=interval,
        inter_frame_jitter_us=jitter,
        rolling_window_end_ms=ends,
        rolling_frames_in_window=counts,
    )


# Timestamps cluster on a few values (duplicates), straddle window edges, and include pre-1970.
timestamps = st.one_of(
    st.integers(min_value=-3_000 * MS, max_value=3_000 * MS),
    st.sampled_from([0, 1, 999_999, 1_000_000, 1000 * MS, 1000 * MS + 1, -1]),
    st.integers(min_value=0, max_value=5_000).map(lambda k: BASE_NS + k * 997_003),
)
frame_sets = st.lists(st.tuples(timestamps, st.booleans()), max_size=60)
windows = st.integers(min_value=1, max_value=3000)


@given(frames=frame_sets, avg_window_ms=windows, rolling_window_ms=windows)
def test_matches_reference(
    frames: list[tuple[int, bool]], avg_window_ms: int, rolling_window_ms: int
) -> None:
    assert compute_metrics(frames, avg_window_ms, rolling_window_ms) == reference_metrics(
        frames, avg_window_ms, rolling_window_ms
    )


@given(frames=frame_sets, data=st.data(), rolling_window_ms=windows)
def test_accumulator_equals_batch_in_any_order(
    frames: list[tuple[int, bool]], data: st.DataObject, rolling_window_ms: int
) -> None:
    shuffled = data.draw(st.permutations(frames))
    acc = TriageAccumulator(rolling_window_ms)
    for frame in shuffled:
        acc.add(frame)
    batch = compute_metrics(frames, 1234, rolling_window_ms)
    assert acc.result(1234) == batch
    snap = acc.snapshot()
    assert (snap.frames_total, snap.received_frames_total, snap.dropped_frames_total) == (
        batch.frames_total,
        batch.received_frames_total,
        batch.dropped_frames_total,
    )
    assert snap.drop_rate_percent == batch.drop_rate_percent
    if batch.received_frames_total:
        assert snap.current_fps == batch.rolling_fps_values()[-1]
        assert snap.latest_ts_ns == max(ts for ts, dropped in frames if not dropped)
    else:
        assert (snap.current_fps, snap.latest_ts_ns) == (0.0, None)


def test_accumulator_snapshot_tracks_live_window() -> None:
    acc = TriageAccumulator(1000)
    acc.add_many([(0, False), (400 * MS, False), (300 * MS, True), (1200 * MS, False)])
    snap = acc.snapshot()
    assert snap.current_fps == 2.0  # 400 ms and 1200 ms frames are inside [200 ms, 1200 ms]
    acc.add((250 * MS, False))  # late arrival inside the window
    assert acc.snapshot().current_fps == 3.0
    acc.add((100 * MS, False))  # late arrival outside the window
    assert acc.snapshot().current_fps == 3.0
