"""A scenario's pass/fail thresholds and their evaluation against a run's metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .metrics import TriageMetrics
from .scenario import require_valid, scenario_section


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Pass/fail limits of a scenario; None means the threshold is not configured."""

    min_avg_fps: float | None = None
    max_drop_rate_percent: float | None = None
    max_inter_frame_interval_p95_us: float | None = None
    max_inter_frame_jitter_p95_us: float | None = None
    max_disconnect_count: int | None = None


def thresholds_from_scenario(doc: Mapping[str, Any], *, source: str = "<scenario>") -> Thresholds:
    """The thresholds section as a dataclass (validated first; raises ScenarioInvalidError)."""
    require_valid(doc, source)
    limits = scenario_section(doc, "thresholds")
    return Thresholds(
        min_avg_fps=_opt_float(limits.get("min_avg_fps")),
        max_drop_rate_percent=_opt_float(limits.get("max_drop_rate_percent")),
        max_inter_frame_interval_p95_us=_opt_float(limits.get("max_inter_frame_interval_p95_us")),
        max_inter_frame_jitter_p95_us=_opt_float(limits.get("max_inter_frame_jitter_p95_us")),
        max_disconnect_count=limits.get("max_disconnect_count"),
    )


def _opt_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """One evaluated threshold. ``op`` says how ``actual`` was compared with ``limit``."""

    name: str
    limit: float | int
    actual: float | int
    passed: bool

    @property
    def op(self) -> str:
        return ">=" if self.name.startswith("min_") else "<="


def evaluate_thresholds(
    thresholds: Thresholds, metrics: TriageMetrics, *, disconnect_count: int = 0
) -> list[ThresholdResult]:
    """Compare configured thresholds with metrics, in schema order; unset thresholds are skipped.

    The simulated camera never disconnects, so ``disconnect_count`` defaults to 0.
    """
    candidates: list[tuple[str, float | int | None, float | int]] = [
        ("min_avg_fps", thresholds.min_avg_fps, metrics.avg_fps),
        ("max_drop_rate_percent", thresholds.max_drop_rate_percent, metrics.drop_rate_percent),
        (
            "max_inter_frame_interval_p95_us",
            thresholds.max_inter_frame_interval_p95_us,
            metrics.inter_frame_interval_us.p95_us,
        ),
        (
            "max_inter_frame_jitter_p95_us",
            thresholds.max_inter_frame_jitter_p95_us,
            metrics.inter_frame_jitter_us.p95_us,
        ),
        ("max_disconnect_count", thresholds.max_disconnect_count, disconnect_count),
    ]
    results: list[ThresholdResult] = []
    for name, limit, actual in candidates:
        if limit is None:
            continue
        passed = actual >= limit if name.startswith("min_") else actual <= limit
        results.append(ThresholdResult(name=name, limit=limit, actual=actual, passed=passed))
    return results
