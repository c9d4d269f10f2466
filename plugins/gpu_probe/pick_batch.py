"""Pick the batch whose reserved-VRAM ratio lands in the accept band (VRA-77, ORIGINS 2.5): pure.

The search is the original's (``ant_ratio_pick_batch_v0.py``): probe B=1; double while the run
PASSes below the band; step up once more when still below the target; stop when the best PASS is
in the band; otherwise bisect between the brackets with at most six more probes. The ratio is
assumed to grow with the batch: a PASS whose ratio drops below the previous one stops the
refinement with the note ``non_monotonic_ratio_detected; abort refinement`` and the best PASS so
far is kept. Every probe counts against ``max_calls``.

``probe(batch) -> ProbeOutcome`` is the only way the search touches a GPU, so tests drive it with a
stand-in; the CLI (``pick_batch_cli``) passes one that runs ``vrx probe run`` in a subprocess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "ant_ratio_batch_targets_v0"
NON_MONOTONIC = "non_monotonic_ratio_detected; abort refinement"
MISSING_RATIO = "missing vram_ratio_reserved; cannot bracket (keep best observed PASS)"
MISSING_RATIO_REFINE = "missing vram_ratio_reserved during refine; abort refinement"
FAIL_AT_ONE = "FAIL at B=1"
MAX_REFINE_CALLS = 6
#: Below this a drop in the ratio is noise, not a non-monotonic curve (the original's tolerance).
EPS = 1e-9


class PickBatchError(RuntimeError):
    """The search cannot go on (the probe budget is spent, a probe could not run)."""


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe run as the search sees it: PASS (the combined rule), the ratio, where it ran."""

    pass_: bool
    ratio: float | None
    run_root: str
    batch: int = 0
    fail_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Band:
    """The target reserved-VRAM ratio and the band a chosen batch must land in."""

    target: float = 0.85
    low: float = 0.82
    high: float = 0.88

    def holds(self, ratio: float) -> bool:
        return self.low <= ratio <= self.high


@dataclass(frozen=True)
class PickResult:
    chosen_batch: int | None
    chosen_ratio: float | None
    chosen_run_root: str | None
    boundary_fail_batch: int | None
    boundary_fail_run_root: str | None
    unusable: bool
    notes: list[str]
    observations: list[ProbeOutcome] = field(default_factory=list)


class _Search:
    """The probes made so far, under the call budget."""

    def __init__(self, probe: Callable[[int], ProbeOutcome], max_calls: int, target: float) -> None:
        self._probe = probe
        self.max_calls = max_calls
        self.target = target
        self.observed: list[ProbeOutcome] = []
        self.notes: list[str] = []
        self.boundary_fail: ProbeOutcome | None = None

    @property
    def calls(self) -> int:
        return len(self.observed)

    @property
    def budget_left(self) -> int:
        return max(0, self.max_calls - self.calls)

    def run(self, batch: int) -> ProbeOutcome:
        if self.calls >= self.max_calls:
            raise PickBatchError(f"probe call budget exceeded (max_calls={self.max_calls})")
        got = self._probe(batch)
        # The stand-in or the runner may leave the batch out; the search knows it.
        outcome = got if got.batch == batch else _with_batch(got, batch)
        self.observed.append(outcome)
        return outcome

    def result(self, *, unusable: bool = False) -> PickResult:
        best = best_pass(self.observed, self.target)
        fail = self.boundary_fail
        return PickResult(
            chosen_batch=best.batch if best else None,
            chosen_ratio=best.ratio if best else None,
            chosen_run_root=best.run_root if best else None,
            boundary_fail_batch=fail.batch if fail else None,
            boundary_fail_run_root=fail.run_root if fail else None,
            unusable=unusable,
            notes=list(self.notes),
            observations=list(self.observed),
        )


def _with_batch(o: ProbeOutcome, batch: int) -> ProbeOutcome:
    return ProbeOutcome(o.pass_, o.ratio, o.run_root, batch=batch, fail_reasons=o.fail_reasons)


def best_pass(observed: Sequence[ProbeOutcome], target: float) -> ProbeOutcome | None:
    """The PASS closest to the target ratio; the smaller batch on a tie."""
    cands = [o for o in observed if o.pass_ and o.ratio is not None]
    return min(cands, key=lambda o: (abs(float(o.ratio or 0.0) - target), o.batch), default=None)


def _drops(new: ProbeOutcome, prev: ProbeOutcome) -> bool:
    return new.ratio is not None and prev.ratio is not None and new.ratio + EPS < prev.ratio


def pick_batch(
    probe: Callable[[int], ProbeOutcome], band: Band = Band(), *, max_calls: int = 10
) -> PickResult:
    """Search for the batch (see the module docstring); ``probe`` is called at most ``max_calls`` times."""
    s = _Search(probe, max_calls, band.target)
    first = s.run(1)
    if not first.pass_:
        # The original reports the failing B=1 run as the "chosen" root so the row points at it.
        return PickResult(
            chosen_batch=None, chosen_ratio=first.ratio, chosen_run_root=first.run_root,
            boundary_fail_batch=1, boundary_fail_run_root=first.run_root, unusable=True,
            notes=[FAIL_AT_ONE], observations=list(s.observed),
        )
    last_pass, batch = _double(s, first, band)
    _step_up(s, last_pass, batch, band)
    best = best_pass(s.observed, band.target)
    if best is not None and best.ratio is not None and band.holds(best.ratio):
        return s.result()
    if NON_MONOTONIC in s.notes:
        return s.result()
    if not any(o.pass_ and o.ratio is not None for o in s.observed):
        # No PASS has a ratio to bisect on (the original crashed here): nothing to choose.
        return s.result(unusable=True)
    _refine(s, band)
    return s.result()


def _double(s: _Search, first: ProbeOutcome, band: Band) -> tuple[ProbeOutcome, int]:
    """Double the batch while it PASSes below the band; returns the last PASS and the last batch tried."""
    batch, last_pass = 1, first
    while s.calls < s.max_calls:
        if last_pass.ratio is None:
            s.notes.append(MISSING_RATIO)
            break
        if last_pass.ratio >= band.low:
            break
        batch *= 2
        o = s.run(batch)
        if not o.pass_:
            s.boundary_fail = o
            break
        if _drops(o, last_pass):
            s.notes.append(NON_MONOTONIC)
            break
        last_pass = o
    return last_pass, batch


def _step_up(s: _Search, last_pass: ProbeOutcome, batch: int, band: Band) -> None:
    """Still below the target with no FAIL seen: one more doubling, for a high bracket."""
    if s.boundary_fail is not None or last_pass.ratio is None or last_pass.ratio >= band.target:
        return
    if s.calls >= s.max_calls:
        return
    o = s.run(max(2, batch * 2))
    if not o.pass_:
        s.boundary_fail = o
    elif _drops(o, last_pass):
        s.notes.append(NON_MONOTONIC)


def _refine(s: _Search, band: Band) -> None:
    """Bisect between the brackets, at most MAX_REFINE_CALLS probes and never past the budget."""
    passes = sorted((o for o in s.observed if o.pass_ and o.ratio is not None), key=lambda o: o.batch)
    hi: int | None = s.boundary_fail.batch if s.boundary_fail is not None else None
    # A PASS at or above the target is a better high bracket than a FAIL.
    hi = next((o.batch for o in passes if (o.ratio or 0.0) >= band.target), hi)
    # The original bisected up from its smallest PASS (B=1) and so probed the doubling's batches
    # again; starting from the highest PASS below the target spends no call twice.
    below = [o.batch for o in passes if (o.ratio or 0.0) < band.target and (hi is None or o.batch < hi)]
    lo = max(below, default=passes[0].batch)
    for _ in range(min(MAX_REFINE_CALLS, s.budget_left)):
        if hi is None or hi - lo <= 1:
            break
        mid = (lo + hi) // 2
        o = s.run(mid)
        if not o.pass_:
            hi, s.boundary_fail = mid, o
            continue
        if o.ratio is None:
            s.notes.append(MISSING_RATIO_REFINE)
            break
        prev = max((x for x in passes if x.batch <= o.batch), key=lambda x: x.batch, default=None)
        if prev is not None and _drops(o, prev):
            s.notes.append(NON_MONOTONIC)
            break
        passes = sorted([*passes, o], key=lambda x: x.batch)
        if o.ratio < band.target:
            lo = mid
        else:
            hi = mid


def failed_pick(exc: BaseException) -> PickResult:
    """The row of a configuration whose search raised: unusable, the exception as its note."""
    return PickResult(
        chosen_batch=None, chosen_ratio=None, chosen_run_root=None, boundary_fail_batch=None,
        boundary_fail_run_root=None, unusable=True, notes=[f"exception: {exc}"],
    )


def target_row(
    *, ant_tier: str, colony: str, expert_heads: int, precision: str, amp: int, band: Band, result: PickResult
) -> dict[str, Any]:
    """One ``rows[]`` entry of ``ant_ratio_batch_targets_v0``, keys exactly the original's."""
    return {
        "ant_tier": ant_tier,
        "colony": colony,
        "expert_heads": int(expert_heads),
        "precision": precision,
        "amp": int(amp),
        "target_ratio": float(band.target),
        "accept_band": [float(band.low), float(band.high)],
        "chosen_batch": result.chosen_batch,
        "chosen_ratio": result.chosen_ratio,
        "chosen_run_root": result.chosen_run_root,
        "boundary_fail_batch": result.boundary_fail_batch,
        "boundary_fail_run_root": result.boundary_fail_run_root,
        "unusable": bool(result.unusable),
        "notes": list(result.notes),
    }


def targets_document(rows: Sequence[dict[str, Any]], *, out_root: str, generated_utc: str) -> dict[str, Any]:
    """The ``ant_ratio_batch_targets_v0.json`` object (the sweep's ``--batch-targets`` input)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_utc": generated_utc,
        "out_root": out_root,
        "rows": list(rows),
    }
