"""The probe's arithmetic (objective_contract_v1 as ``gpu_capacity_probe.py`` implemented it): pure.

Every formula here is the original's own expression, evaluated in the same order on the same
floats, because ``metrics.json`` must come out byte for byte as the original wrote it; a
"better" statistic (interpolated percentile, mean of the middle pair) would change the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: The contract's floor for the heartbeat stall threshold, in seconds.
MIN_STALL_THRESHOLD_S = 60.0
#: The threshold is this many median step times when that is above the floor.
STALL_MEDIAN_FACTOR = 10.0
#: ``step_time_explosion`` fires when p95 exceeds this many medians.
EXPLOSION_FACTOR = 2.5
#: The default VRAM guard: peak reserved may not exceed this share of the device's memory.
DEFAULT_VRAM_GUARD_RATIO = 0.92
#: What the lower-cased ``"<Type>: <text>"`` of an exception contains when it is an OOM.
_OOM_MARKERS = ("out of memory", "cuda oom", "cuda out of memory")


def median_step_time(durs: Sequence[float]) -> float | None:
    """``sorted(durs)[len // 2]``: the upper median for an even count, None for no steps."""
    if not durs:
        return None
    return float(sorted(durs)[len(durs) // 2])


def p95_step_time(durs: Sequence[float]) -> float | None:
    """``sorted(durs)[int(0.95 * (len - 1))]``: a floor index, NOT the nearest-rank percentile.

    With 2 steps this is the smaller one; with 20, the 19th. The product is floated exactly as
    the original floated it (``0.95 * 20`` happens to be 19.0), so the same index is chosen.
    """
    if not durs:
        return None
    return float(sorted(durs)[int(0.95 * (len(durs) - 1))])


def compute_stall_threshold_s(median_step_time_s: float | None) -> float:
    """``max(60, 10 x median)``; a median that is None, not finite or not positive counts as 0.

    Test vector (the original's): 0.1 -> 60.0, 6.0 -> 60.0, 7.0 -> 70.0. None is accepted because
    the original's ``float()`` of an unusable median fell back to 0 (the 60 s floor).
    """
    med = 0.0 if median_step_time_s is None else float(median_step_time_s)
    if not math.isfinite(med) or med <= 0.0:
        med = 0.0
    return max(MIN_STALL_THRESHOLD_S, STALL_MEDIAN_FACTOR * med)


def is_step_time_explosion(median: float, p95: float) -> bool:
    """The contract's gate 3: ``p95 > 2.5 x median``, only meaningful for a positive median."""
    return median > 0 and p95 > EXPLOSION_FACTOR * median


def throughput_samples_per_s(measure_steps: int, batch_size: int, wall_time_s: float) -> float | None:
    """``measure_steps * batch_size / wall``; None when the window took no time (the original's skip)."""
    if not wall_time_s > 0:
        return None
    return float((int(measure_steps) * int(batch_size)) / wall_time_s)


def throughput_tokens_per_s(samples_per_s: float, seq_len: int) -> float:
    """Samples/s times the *accounting* ``seq_len`` (not ``synth_len``, the generated length)."""
    return float(samples_per_s) * float(seq_len)


def is_oom_message(message: str) -> bool:
    """The original's heuristic on ``"<ExceptionType>: <text>"``: an out-of-memory wording.

    A bare ``MemoryError`` reads ``"MemoryError: "`` and does NOT match; see :func:`is_oom`.
    """
    low = message.lower()
    return any(marker in low for marker in _OOM_MARKERS)


def is_oom(exception_type: str, message: str) -> bool:
    """vrx's rule for ``ProbeError.oom``: the original's wording heuristic, or a CPU out-of-memory.

    The original classified a CPU ``MemoryError`` and torch's CPU allocator failure ("can't
    allocate memory") as a plain ``runtime_exception`` (no OOM wording); vrx counts them as the OOM
    they are. Only the runner's choice of ``oom`` differs: the fold follows whatever the event says.
    """
    return (
        exception_type == "MemoryError"
        or is_oom_message(message)
        or "can't allocate memory" in message.lower()
    )


def nonfinite_flags(loss: float) -> tuple[bool, bool]:
    """``(had_nan, had_inf)`` contributions of one loss value."""
    return math.isnan(loss), math.isinf(loss)


def vram_guard_limit(ratio: float, total_vram_bytes: int) -> int:
    """``int(ratio * total)``: the truncated byte count peak reserved may reach."""
    return int(ratio * total_vram_bytes)


def vram_guard_fires(peak_reserved_bytes: object, total_vram_bytes: object, ratio: float) -> bool:
    """Gate 5: peak reserved over ``int(ratio * total)``, checked only when both are ints.

    ``total_vram_bytes`` comes from ``env.json``, where it is null without a GPU (no check then);
    like the original, any ``int`` qualifies (``isinstance``), so the test is on the type.
    """
    if not isinstance(total_vram_bytes, int) or not isinstance(peak_reserved_bytes, int):
        return False
    return peak_reserved_bytes > vram_guard_limit(ratio, total_vram_bytes)
