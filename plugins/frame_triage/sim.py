"""The deterministic simulated camera of labops (ORIGINS 4.3), reproduced bit for bit.

Why a pure function: the original backend ``PullFrames`` returns all frames of a run at once and
never runs in real time, so the whole stream is a function of ``(SimConfig, stream_start_ns)``.
Replaying a recorded run therefore needs only the config and the start timestamp, and two
implementations can be compared frame by frame.

All arithmetic is modulo 2**64 like the C++ ``std::uint64_t`` code. Per-frame random draws are
vectorised as list comprehensions (one pass per SplitMix64 step) because a Python function call
per draw would make a 144k-frame run several times slower; only the steps that carry state from
frame to frame (the monotonic timestamp rule and the burst counter) are explicit loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

MASK64 = (1 << 64) - 1
U32_MAX = (1 << 32) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
DROP_SALT = 0xA0761D6478BD642F
REORDER_SALT = 0xE7037ED1A0B428DB
NS_PER_US = 1_000
NS_PER_S = 1_000_000_000

DEFAULT_FPS = 30
DEFAULT_JITTER_US = 0
DEFAULT_SEED = 1
DEFAULT_FRAME_SIZE_BYTES = 1_048_576
DEFAULT_DURATION_MS = 1_000


class Frame(NamedTuple):
    """One frame sample as the backend returns it.

    A NamedTuple (not a dataclass) because runs hold hundreds of thousands of frames and tuple
    construction is the cheapest immutable record Python has.
    """

    frame_id: int
    ts_ns: int  # epoch nanoseconds, like the C++ system_clock time_point
    size_bytes: int  # 0 for dropped frames
    dropped: bool


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The eight applied backend parameters plus the run duration.

    Bounds mirror the C++ parameter parsers (``u32`` for most knobs, ``u64`` for the seed) so a
    config accepted here is one the original backend would also have accepted.
    """

    fps: int = DEFAULT_FPS
    jitter_us: int = DEFAULT_JITTER_US
    seed: int = DEFAULT_SEED
    frame_size_bytes: int = DEFAULT_FRAME_SIZE_BYTES
    drop_every_n: int = 0
    drop_percent: int = 0
    burst_drop: int = 0
    reorder: int = 0
    duration_ms: int = DEFAULT_DURATION_MS

    def __post_init__(self) -> None:
        _check_int("fps", self.fps, 1, U32_MAX)
        _check_int("jitter_us", self.jitter_us, 0, U32_MAX)
        _check_int("seed", self.seed, 0, MASK64)
        _check_int("frame_size_bytes", self.frame_size_bytes, 1, U32_MAX)
        _check_int("drop_every_n", self.drop_every_n, 0, U32_MAX)
        _check_int("drop_percent", self.drop_percent, 0, 100)
        _check_int("burst_drop", self.burst_drop, 0, U32_MAX)
        _check_int("reorder", self.reorder, 0, U32_MAX)
        _check_int("duration_ms", self.duration_ms, 0, (1 << 63) - 1)

    @property
    def frame_count(self) -> int:
        """Frames one run produces: ``(duration_ms * fps) // 1000``; check it before simulating."""
        return (self.duration_ms * self.fps) // 1000

    @property
    def period_ns(self) -> int:
        """Nominal frame period, integer nanoseconds, never below 1 ns (as in the C++)."""
        return max(1, NS_PER_S // self.fps)

    def applied_params(self) -> list[tuple[str, str]]:
        """The params of the CONFIG_APPLIED event, as strings, in the original apply order."""
        return [
            ("fps", str(self.fps)),
            ("jitter_us", str(self.jitter_us)),
            ("seed", str(self.seed)),
            ("frame_size_bytes", str(self.frame_size_bytes)),
            ("drop_every_n", str(self.drop_every_n)),
            ("drop_percent", str(self.drop_percent)),
            ("burst_drop", str(self.burst_drop)),
            ("reorder", str(self.reorder)),
        ]


def _check_int(name: str, value: object, low: int, high: int) -> None:
    """Reject bools, floats and out-of-range values early, naming the offending field."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"SimConfig.{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"SimConfig.{name} must be in range [{low},{high}], got {value}")


def splitmix64(value: int) -> int:
    """SplitMix64 finaliser of one 64-bit value (ORIGINS 4.3), the reference for the vector form."""
    z = (value + GOLDEN_GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _MIX1) & MASK64
    z = ((z ^ (z >> 27)) * _MIX2) & MASK64
    return z ^ (z >> 31)


def splitmix64_many(values: Sequence[int]) -> list[int]:
    """SplitMix64 of many values; one comprehension per step is ~3x faster than a call per value."""
    z = [(v + GOLDEN_GAMMA) & MASK64 for v in values]
    z = [((x ^ (x >> 30)) * _MIX1) & MASK64 for x in z]
    z = [((x ^ (x >> 27)) * _MIX2) & MASK64 for x in z]
    return [x ^ (x >> 31) for x in z]


def jitter_us(seed: int, frame_id: int, max_abs_us: int) -> int:
    """Signed jitter of one frame in microseconds, in ``[-max_abs_us, max_abs_us]``."""
    if max_abs_us == 0:
        return 0
    mixed = splitmix64(seed ^ ((frame_id * GOLDEN_GAMMA) & MASK64))
    return mixed % (2 * max_abs_us + 1) - max_abs_us


def percent_drop_hit(seed: int, frame_id: int, percent: int) -> bool:
    """Whether the drop-percent knob drops this frame (0 never drops, >= 100 always drops)."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return splitmix64(((seed ^ DROP_SALT) + frame_id * GOLDEN_GAMMA) & MASK64) % 100 < percent


def reorder_key(seed: int, frame_id: int) -> int:
    """Sort key of a frame inside its reorder chunk (ties are broken by frame_id)."""
    return splitmix64(((seed ^ REORDER_SALT) + frame_id * GOLDEN_GAMMA) & MASK64)


def simulate(cfg: SimConfig, stream_start_ns: int) -> list[Frame]:
    """All frames of one run, in the order the backend returns them (reordered if configured).

    ``stream_start_ns`` is the epoch-nanosecond instant of ``Start``; frame ids start at 0.
    """
    count = cfg.frame_count
    if count == 0:
        return []
    timestamps = generation_timestamps(cfg, stream_start_ns, count)
    dropped = drop_flags(cfg, count)
    size = cfg.frame_size_bytes
    sizes = [0 if flag else size for flag in dropped]
    frames = list(map(Frame._make, zip(range(count), timestamps, sizes, dropped, strict=True)))
    order = reorder_permutation(cfg, count)
    if order is None:
        return frames
    return [frames[i] for i in order]


def generation_timestamps(cfg: SimConfig, stream_start_ns: int, count: int) -> list[int]:
    """Frame timestamps in generation order, after jitter and the strictly-increasing rule.

    The rule ``ts <= prev -> prev + 1 us`` uses the already-adjusted previous timestamp, so it is
    a sequential scan; without jitter the nominal grid is strictly increasing and needs no scan.
    """
    period = cfg.period_ns
    nominal = [stream_start_ns + period * i for i in range(count)]
    if cfg.jitter_us == 0:
        return nominal
    span = 2 * cfg.jitter_us + 1
    offset = cfg.jitter_us
    seed = cfg.seed
    mixed = splitmix64_many([seed ^ ((i * GOLDEN_GAMMA) & MASK64) for i in range(count)])
    timestamps = [t + (m % span - offset) * NS_PER_US for t, m in zip(nominal, mixed, strict=True)]
    return _make_strictly_increasing(timestamps)


def _make_strictly_increasing(timestamps: list[int]) -> list[int]:
    """Apply ``ts <= previous -> previous + 1 us`` in generation order, in place."""
    previous = timestamps[0]
    for index in range(1, len(timestamps)):
        current = timestamps[index]
        if current <= previous:
            current = previous + NS_PER_US
            timestamps[index] = current
        previous = current
    return timestamps


def drop_flags(cfg: SimConfig, count: int) -> list[bool]:
    """Per-frame drop decision in generation order: periodic or percent triggers, then bursts."""
    triggers = _drop_triggers(cfg, count)
    if cfg.burst_drop == 0:
        return triggers
    return _apply_bursts(triggers, cfg.burst_drop)


def _drop_triggers(cfg: SimConfig, count: int) -> list[bool]:
    """Frames whose periodic slot or percent draw fires, before burst extension."""
    percent = cfg.drop_percent
    if percent >= 100:
        return [True] * count
    if percent > 0:
        base = cfg.seed ^ DROP_SALT
        mixed = splitmix64_many([(base + i * GOLDEN_GAMMA) & MASK64 for i in range(count)])
        hits = [m % 100 < percent for m in mixed]
    else:
        hits = [False] * count
    every = cfg.drop_every_n
    if every > 0:
        for index in range(every - 1, count, every):  # (frame_id + 1) % every == 0
            hits[index] = True
    return hits


def _apply_bursts(triggers: list[bool], burst: int) -> list[bool]:
    """Any trigger sets ``remaining = max(remaining, burst)``; each frame while > 0 is dropped."""
    dropped: list[bool] = []
    append = dropped.append
    remaining = 0
    for trigger in triggers:
        if trigger and remaining < burst:
            remaining = burst
        if remaining > 0:
            remaining -= 1
            append(True)
        else:
            append(False)
    return dropped


def reorder_permutation(cfg: SimConfig, count: int) -> list[int] | None:
    """Frame indices in returned order, or None when the reorder knob is off.

    Each chunk of ``reorder`` consecutive frames is stable-sorted by its SplitMix64 key with ties
    broken by frame_id; packing (chunk, key, frame_id) into one int makes that a single sort.
    """
    size = cfg.reorder
    if size <= 1 or count <= 1:
        return None
    base = cfg.seed ^ REORDER_SALT
    keys = splitmix64_many([(base + i * GOLDEN_GAMMA) & MASK64 for i in range(count)])
    packed = sorted(((i // size) << 128) | (key << 64) | i for i, key in enumerate(keys))
    return [p & MASK64 for p in packed]
