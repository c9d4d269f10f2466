"""The probe's arithmetic against the original's expressions and test vectors (ORIGINS 2.2)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.gpu_probe import stats


@pytest.mark.parametrize(("median", "expected"), [(0.1, 60.0), (6.0, 60.0), (7.0, 70.0)])
def test_stall_threshold_vector(median: float, expected: float) -> None:
    assert stats.compute_stall_threshold_s(median) == expected


@pytest.mark.parametrize("median", [0.0, -1.0, math.nan, math.inf, None])
def test_stall_threshold_unusable_median_is_the_floor(median: float | None) -> None:
    assert stats.compute_stall_threshold_s(median) == 60.0


def test_median_is_the_upper_middle() -> None:
    assert stats.median_step_time([3.0, 1.0, 2.0]) == 2.0
    assert stats.median_step_time([4.0, 1.0, 3.0, 2.0]) == 3.0  # sorted[len // 2], no averaging
    assert stats.median_step_time([]) is None


def test_p95_is_a_floor_index_not_nearest_rank() -> None:
    # 2 steps: int(0.95 * 1) = 0 -> the smaller; nearest rank would take the larger.
    assert stats.p95_step_time([1.0, 9.0]) == 1.0
    # 20 steps: int(0.95 * 19) = 18 -> the 19th smallest; nearest rank (ceil(19)) = the 19th too,
    # but 10 steps: int(0.95 * 9) = 8 -> the 9th, where nearest rank takes the 10th.
    assert stats.p95_step_time([float(i) for i in range(10)]) == 8.0
    assert stats.p95_step_time([float(i) for i in range(20)]) == 18.0
    assert stats.p95_step_time([]) is None


@given(st.lists(st.floats(min_value=0.0, max_value=1e3), min_size=1, max_size=300))
def test_stats_match_the_original_expressions(durs: list[float]) -> None:
    srt = sorted(durs)
    assert stats.median_step_time(durs) == srt[len(srt) // 2]
    assert stats.p95_step_time(durs) == srt[int(0.95 * (len(srt) - 1))]


def test_explosion_gate() -> None:
    assert stats.is_step_time_explosion(1.0, 2.6)
    assert not stats.is_step_time_explosion(1.0, 2.5)  # strictly greater
    assert not stats.is_step_time_explosion(0.0, 5.0)  # no positive median, no gate


def test_throughput() -> None:
    assert stats.throughput_samples_per_s(200, 128, 18.4) == 200 * 128 / 18.4
    assert stats.throughput_samples_per_s(2, 2, 0.0) is None
    assert stats.throughput_samples_per_s(2, 2, math.nan) is None
    assert stats.throughput_tokens_per_s(10.0, 8) == 80.0


@pytest.mark.parametrize(
    ("message", "oom"),
    [
        ("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", True),
        ("OutOfMemoryError: CUDA OOM while allocating", True),
        ("RuntimeError: [enforce fail] DefaultCPUAllocator: not enough memory", False),
        ("RuntimeError: Out Of Memory", True),
        ("MemoryError: ", False),  # the original's heuristic misses a bare MemoryError
        ("ValueError: bad shape", False),
    ],
)
def test_oom_message(message: str, oom: bool) -> None:
    assert stats.is_oom_message(message) is oom


def test_oom_counts_a_memory_error() -> None:
    assert stats.is_oom("MemoryError", "MemoryError: ")
    assert stats.is_oom("RuntimeError", "RuntimeError: CUDA out of memory")
    assert not stats.is_oom("ValueError", "ValueError: bad shape")


def test_nonfinite_flags() -> None:
    assert stats.nonfinite_flags(math.nan) == (True, False)
    assert stats.nonfinite_flags(-math.inf) == (False, True)
    assert stats.nonfinite_flags(1.0) == (False, False)


def test_vram_guard() -> None:
    total = 80 * 2**30
    limit = int(0.92 * total)
    assert stats.vram_guard_limit(0.92, total) == limit
    assert stats.vram_guard_fires(limit + 1, total, 0.92)
    assert not stats.vram_guard_fires(limit, total, 0.92)  # at the limit is allowed
    assert not stats.vram_guard_fires(limit + 1, None, 0.92)  # no total in env.json: no check
    assert not stats.vram_guard_fires(None, total, 0.92)  # CPU: no peak
    assert not stats.vram_guard_fires(limit + 1, float(total), 0.92)  # only ints qualify
