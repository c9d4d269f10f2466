"""The simulated camera: known SplitMix64 outputs, a literal reference loop, and the fault rules."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.frame_triage.sim import (
    MASK64,
    Frame,
    SimConfig,
    jitter_us,
    percent_drop_hit,
    reorder_key,
    simulate,
    splitmix64,
    splitmix64_many,
)

START = 1_700_000_000_000_000_000
US = 1_000


def test_splitmix64_known_outputs() -> None:
    # The standard SplitMix64 generator seeded with 0 yields these first two outputs.
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4
    values = [0, 1, MASK64, 12345678901234567890]
    assert splitmix64_many(values) == [splitmix64(v) for v in values]


def reference_simulate(cfg: SimConfig, start: int) -> list[Frame]:
    """Frame by frame, the way the C++ PullFrames loop is written."""
    count = cfg.duration_ms * cfg.fps // 1000
    period = max(1, 1_000_000_000 // cfg.fps)
    frames: list[Frame] = []
    burst_remaining = 0
    for frame_id in range(count):
        ts = start + period * frame_id + jitter_us(cfg.seed, frame_id, cfg.jitter_us) * US
        if frames and ts <= frames[-1].ts_ns:
            ts = frames[-1].ts_ns + US
        periodic = cfg.drop_every_n > 0 and (frame_id + 1) % cfg.drop_every_n == 0
        trigger = periodic or percent_drop_hit(cfg.seed, frame_id, cfg.drop_percent)
        if cfg.burst_drop > 0 and trigger:
            burst_remaining = max(burst_remaining, cfg.burst_drop)
        dropped = trigger
        if cfg.burst_drop > 0 and burst_remaining > 0:
            dropped = True
            burst_remaining -= 1
        frames.append(Frame(frame_id, ts, 0 if dropped else cfg.frame_size_bytes, dropped))
    if cfg.reorder > 1:
        for chunk_start in range(0, len(frames), cfg.reorder):
            chunk = frames[chunk_start : chunk_start + cfg.reorder]
            chunk.sort(key=lambda f: (reorder_key(cfg.seed, f.frame_id), f.frame_id))
            frames[chunk_start : chunk_start + cfg.reorder] = chunk
    return frames


configs = st.builds(
    SimConfig,
    fps=st.integers(1, 500),
    jitter_us=st.sampled_from([0, 1, 350, 5_000, 40_000]),
    seed=st.integers(0, MASK64),
    frame_size_bytes=st.integers(1, 4096),
    drop_every_n=st.integers(0, 7),
    drop_percent=st.sampled_from([0, 1, 15, 50, 99, 100]),
    burst_drop=st.integers(0, 5),
    reorder=st.integers(0, 9),
    duration_ms=st.integers(0, 1500),
)


@given(cfg=configs, start=st.sampled_from([0, START, -5_000_000_000]))
def test_matches_reference_loop(cfg: SimConfig, start: int) -> None:
    assert simulate(cfg, start) == reference_simulate(cfg, start)


def test_deterministic_and_golden_prefix() -> None:
    cfg = SimConfig(
        fps=25,
        duration_ms=1200,
        seed=777,
        jitter_us=350,
        drop_every_n=4,
        drop_percent=15,
        burst_drop=2,
        reorder=3,
    )
    first = simulate(cfg, 0)
    assert first == simulate(cfg, 0)
    assert len(first) == 30
    assert [tuple(f) for f in first[:6]] == [
        (2, 79_924_000, 0, True),
        (0, -218_000, 1_048_576, False),
        (1, 39_655_000, 0, True),
        (3, 120_117_000, 0, True),
        (4, 160_274_000, 0, True),
        (5, 200_085_000, 0, True),
    ]
    shifted = simulate(cfg, START)
    assert [f.ts_ns - START for f in shifted] == [f.ts_ns for f in first]


@given(cfg=configs)
def test_generation_order_properties(cfg: SimConfig) -> None:
    frames = simulate(cfg, START)
    assert len(frames) == cfg.frame_count
    by_id = sorted(frames, key=lambda f: f.frame_id)
    assert [f.frame_id for f in by_id] == list(range(cfg.frame_count))
    period = cfg.period_ns
    for previous, frame in pairwise(by_id):
        assert frame.ts_ns > previous.ts_ns
    for frame in by_id:
        nominal = START + period * frame.frame_id
        assert (
            frame.ts_ns - nominal <= cfg.jitter_us * US or frame.ts_ns == by_id[frame.frame_id - 1].ts_ns + US
        )
        assert frame.ts_ns >= nominal - cfg.jitter_us * US
        assert frame.size_bytes == (0 if frame.dropped else cfg.frame_size_bytes)
    if cfg.jitter_us == 0:
        assert [f.ts_ns for f in by_id] == [START + period * i for i in range(cfg.frame_count)]


@given(cfg=configs)
def test_drop_rules(cfg: SimConfig) -> None:
    by_id = sorted(simulate(cfg, 0), key=lambda f: f.frame_id)
    dropped = [f.dropped for f in by_id]
    n = cfg.drop_every_n
    burst = max(cfg.burst_drop, 1)
    for frame_id in range(len(by_id)):
        trigger = (n > 0 and (frame_id + 1) % n == 0) or percent_drop_hit(
            cfg.seed, frame_id, cfg.drop_percent
        )
        if trigger:
            # A trigger drops its own frame and the next burst_drop - 1 frames.
            assert all(dropped[frame_id : frame_id + burst])
    if cfg.drop_percent == 100:
        assert all(dropped)
    if cfg.drop_percent == 0 and n == 0:
        assert not any(dropped)


@given(cfg=configs)
def test_reorder_is_a_chunk_permutation(cfg: SimConfig) -> None:
    frames = simulate(cfg, 0)
    ids = [f.frame_id for f in frames]
    size = cfg.reorder
    if size <= 1:
        assert ids == list(range(len(frames)))
        return
    for chunk_start in range(0, len(ids), size):
        chunk = ids[chunk_start : chunk_start + size]
        assert sorted(chunk) == list(range(chunk_start, chunk_start + len(chunk)))
        keys = [reorder_key(cfg.seed, i) for i in chunk]
        assert keys == sorted(keys)


def test_jitter_bounds_and_formula() -> None:
    assert jitter_us(5, 3, 0) == 0
    draws = [jitter_us(777, i, 350) for i in range(2000)]
    assert min(draws) >= -350
    assert max(draws) <= 350
    assert len(set(draws)) > 500
    mixed = splitmix64(777 ^ ((3 * 0x9E3779B97F4A7C15) & MASK64))
    assert jitter_us(777, 3, 350) == mixed % 701 - 350


def test_large_jitter_forces_one_microsecond_steps() -> None:
    # Jitter far larger than the period makes the strictly-increasing rule fire often.
    frames = sorted(
        simulate(SimConfig(fps=1000, jitter_us=100_000, duration_ms=200), 0), key=lambda f: f.frame_id
    )
    steps = [b.ts_ns - a.ts_ns for a, b in pairwise(frames)]
    assert min(steps) == US
    assert all(step > 0 for step in steps)


def test_periodic_and_burst_exact() -> None:
    frames = simulate(SimConfig(fps=10, duration_ms=1000, drop_every_n=4, burst_drop=2), 0)
    assert [f.frame_id for f in frames if f.dropped] == [3, 4, 7, 8]
    frames = simulate(SimConfig(fps=10, duration_ms=1000, drop_every_n=3), 0)
    assert [f.frame_id for f in frames if f.dropped] == [2, 5, 8]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"fps": 0}, ValueError),
        ({"fps": True}, TypeError),
        ({"fps": 30.0}, TypeError),
        ({"drop_percent": 101}, ValueError),
        ({"seed": -1}, ValueError),
        ({"seed": 1 << 64}, ValueError),
        ({"jitter_us": 1 << 32}, ValueError),
        ({"frame_size_bytes": 0}, ValueError),
        ({"duration_ms": -1}, ValueError),
    ],
)
def test_config_bounds(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error, match="SimConfig"):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_applied_params_order() -> None:
    assert [k for k, _ in SimConfig().applied_params()] == [
        "fps",
        "jitter_us",
        "seed",
        "frame_size_bytes",
        "drop_every_n",
        "drop_percent",
        "burst_drop",
        "reorder",
    ]
    assert SimConfig(duration_ms=0).frame_count == 0
    assert simulate(SimConfig(duration_ms=0), 0) == []
