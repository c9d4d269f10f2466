"""``summary.json`` (``mgr.telemetry.v1``) of any run with metrics: a pure fold over its events.

:class:`TelemetryFold` takes the events in seq order and keeps only what the summary holds (the
loss and validation-loss series, the last value of every metric, the merged params, the start
events); :func:`build_summary` turns it into the document model_guided_research's trainer writes
(ORIGINS.md 3.2): ``schema_version``, ``meta``, ``hparams``, ``compile``, ``config``, ``dataset``,
``budget``, ``results``, ``numerics``. Every field, its source and every default are in
docs/summary.md. Nothing here reads the clock or the machine: the same log gives the same summary.
"""

from __future__ import annotations

import itertools
import math
import shlex
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from vrx_core.events import (
    AnyEvent,
    Config,
    Environment,
    Metric,
    Params,
    Resumed,
    RunEnd,
    RunLayout,
    RunStart,
    Sync,
)

from .meta import UNKNOWN, ddp_section, default_device, git_section, gpu_section, system_section

SCHEMA_VERSION: Final = "mgr.telemetry.v1"
SUMMARY: Final = "summary.json"
RUN_MD: Final = "run.md"
#: Times (``measured_time_s``, ``step_times_s``) are rounded to microseconds.
_TIME_DIGITS: Final = 6
#: The floor of ``measured_time_s`` (upstream's, so that a rate never divides by zero).
_MIN_TIME_S: Final = 1e-9
_isfinite: Final = math.isfinite

#: Each setting: its key, then aliases, looked up in the merged params, then in the top-level keys
#: of the resolved config; the first one present and not null wins.
SETTINGS: Final[dict[str, tuple[str, ...]]] = {
    "loss_metric": ("loss_metric",),
    "val_loss_metric": ("val_loss_metric",),
    "peak_memory_metric": ("peak_memory_metric",),
    "max_steps": ("max_steps",),
    "warmup_steps": ("warmup_steps",),
    "tokens_per_step": ("tokens_per_step", "tokens_per_step_global"),
    "flops_per_token": ("flops_per_token", "flops_per_token_est"),
    "target_flops": ("target_flops",),
    "seed": ("seed",),
    "device": ("device",),
    "kind": ("kind",),
    "topic": ("topic",),
    "compile": ("compile",),
    "dataset": ("dataset",),
    "check_numerics": ("check_numerics",),
    "detect_anomaly": ("detect_anomaly",),
    "val_interval": ("val_interval",),
    "val_batches": ("val_batches",),
    "summary_flags": ("summary_flags",),
}
DEFAULT_LOSS_METRIC: Final = "loss"
DEFAULT_VAL_LOSS_METRIC: Final = "val_loss"
DEFAULT_PEAK_MEMORY_METRIC: Final = "peak_memory_allocated_gb"


def lookup(params: Mapping[str, Any], config: Mapping[str, Any], name: str) -> Any:
    """The value of setting ``name``: params first, then the config's top level; None if absent."""
    for source in (params, config):
        for key in SETTINGS[name]:
            value = source.get(key)
            if value is not None:
                return value
    return None


def number(value: Any) -> int | float | None:
    """``value`` if it is a finite int or float (a bool is not a number), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


def count(value: Any) -> int | None:
    """``value`` as a non-negative int (``100`` or ``100.0``), else None."""
    n = number(value)
    if n is None or n < 0 or n != int(n):
        return None
    return int(n)


def _name(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


class Series:
    """A metric series keyed by step: a step recorded again (a resumed run redoing steps from its
    last checkpoint) replaces the earlier point; a point without a step takes the step after the
    previous point's (0 for the first). Stored as three flat arrays (8 bytes a number), sorted
    only at the end and only when the steps did not arrive in increasing order."""

    def __init__(self) -> None:
        self.steps: array[int] | list[int] = array("q")
        self.values = array("d")
        self.times = array("d")
        self.last_step = -1
        self.in_order = True

    def add(self, step: int | None, value: float, t: float) -> None:
        if step is None:
            step = self.last_step + 1
        elif step <= self.last_step:
            self.in_order = False
        self.last_step = step
        try:
            self.steps.append(step)
        except OverflowError:  # a step beyond 64 bits: keep the series in a list from now on
            self.steps = [*self.steps, step]
        self.values.append(value)
        self.times.append(t)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def ordered(self) -> tuple[list[int], list[float], list[float]]:
        """Steps, values and times in step order, one point per step (the last recorded)."""
        if self.in_order:
            return list(self.steps), self.values.tolist(), self.times.tolist()
        points = {s: (v, t) for s, v, t in zip(self.steps, self.values, self.times, strict=True)}
        steps = sorted(points)
        return steps, [points[s][0] for s in steps], [points[s][1] for s in steps]


@dataclass
class TelemetryFold:
    """What the summary needs from a run, folded in seq order (state: the two loss series, one
    value per metric name, the params, the start events)."""

    run_start: RunStart | None = None
    layout: RunLayout | None = None
    environment: Environment | None = None
    config: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    losses: Series = field(default_factory=Series)
    val_losses: Series = field(default_factory=Series)
    #: The last value of every metric, by name, and how many non-finite values each had.
    final: dict[str, float] = field(default_factory=dict)
    non_finite: dict[str, int] = field(default_factory=dict)
    last_t: float | None = None
    loss_name: str = DEFAULT_LOSS_METRIC
    val_loss_name: str = DEFAULT_VAL_LOSS_METRIC

    @property
    def has_metrics(self) -> bool:
        """Whether the run recorded any metric (a summary is derived only then)."""
        return bool(self.final)

    def add(self, event: AnyEvent) -> None:
        """Fold any event: the kinds the summary reads are used, others ignored."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)
        elif isinstance(event, Metric):  # a subclass of Metric
            self.metric(event)

    def metric(self, event: Metric) -> None:
        # The hot path of a replay (every metric of the run): kept to a few dict and list operations.
        name = event.name
        value = event.value
        self.final[name] = value
        self.last_t = t = event.t
        if not _isfinite(value):
            self.non_finite[name] = self.non_finite.get(name, 0) + 1
        if name == self.loss_name:
            self.losses.add(event.step, value, t)
        elif name == self.val_loss_name:
            self.val_losses.add(event.step, value, t)

    def _params(self, event: Params) -> None:
        self.params.update(event.values)
        self._settings_changed(event.t)

    def _config(self, event: Config) -> None:
        self.config = dict(event.resolved)
        self._settings_changed(event.t)

    def _settings_changed(self, t: float) -> None:
        # The series names are read as each metric arrives (keeping every series would hold the
        # whole log), so a mapping takes effect from the params or config event that sets it.
        self.loss_name = _name(lookup(self.params, self.config, "loss_metric"), DEFAULT_LOSS_METRIC)
        self.val_loss_name = _name(
            lookup(self.params, self.config, "val_loss_metric"), DEFAULT_VAL_LOSS_METRIC
        )
        self.last_t = t

    def _run_start(self, event: RunStart) -> None:
        self.run_start = event
        self.last_t = event.t

    def _layout(self, event: RunLayout) -> None:
        self.layout = event
        self.last_t = event.t

    def _environment(self, event: Environment) -> None:
        self.environment = event
        self.last_t = event.t

    def _seen(self, event: RunEnd | Resumed | Sync) -> None:
        self.last_t = event.t

    def snapshot(self) -> dict[str, Any]:
        """Cheap current values for ``vrx tail``."""
        if not self.final:
            return {}
        peak = self.final.get(_name(self.setting("peak_memory_metric"), DEFAULT_PEAK_MEMORY_METRIC))
        return {
            "losses": len(self.losses),
            "loss": self.losses.last,
            "val_loss": self.val_losses.last,
            "peak_memory_allocated_gb": peak,
        }

    def setting(self, name: str) -> Any:
        return lookup(self.params, self.config, name)


_HANDLERS: Final[dict[type, Callable[[TelemetryFold, Any], None]]] = {
    Metric: TelemetryFold.metric,
    Params: TelemetryFold._params,
    Config: TelemetryFold._config,
    RunStart: TelemetryFold._run_start,
    RunLayout: TelemetryFold._layout,
    Environment: TelemetryFold._environment,
    RunEnd: TelemetryFold._seen,
    Resumed: TelemetryFold._seen,
    Sync: TelemetryFold._seen,
}
#: The event kinds the fold reads (the deriver subscribes to exactly these).
KINDS: Final = tuple(_HANDLERS)


def _mul(a: int | float | None, b: int | float | None) -> int | float | None:
    return None if a is None or b is None else a * b


def _last_finite(values: list[float]) -> float | None:
    return next((v for v in reversed(values) if _isfinite(v)), None)


def budget_and_results(fold: TelemetryFold) -> tuple[dict[str, Any], dict[str, Any]]:
    """``budget`` and ``results`` by ORIGINS.md 3.2's formulas, on the recorded series and times."""
    _, losses, times = fold.losses.ordered()
    max_steps = count(fold.setting("max_steps"))
    max_steps = len(losses) if max_steps is None else max_steps
    warmup = count(fold.setting("warmup_steps")) or 0
    tokens_per_step = number(fold.setting("tokens_per_step"))
    flops_per_token = number(fold.setting("flops_per_token"))
    flops_per_step = _mul(flops_per_token, tokens_per_step)
    budget = {
        "max_steps": max_steps,
        "warmup_steps": warmup,
        "target_flops": number(fold.setting("target_flops")),
        "flops_per_token_est": flops_per_token,
        "tokens_per_step_global": tokens_per_step,
        "flops_per_step_est": flops_per_step,
        "planned_total_flops_est": _mul(max_steps, flops_per_step),
    }
    measured_steps = max(0, max_steps - warmup)
    measured_tokens = _mul(measured_steps, tokens_per_step)
    # The measured interval: from the end of warmup (the t of the warmup-th loss, or run_start's
    # t without warmup) to the t of the last loss; none until a loss after warmup was recorded.
    measured_time_s: float | None = None
    if len(times) > warmup:
        start = times[warmup - 1] if warmup else (fold.run_start.t if fold.run_start else times[0])
        measured_time_s = max(_MIN_TIME_S, round(times[-1] - start, _TIME_DIGITS))
    # Null without tokens per step or before a loss after warmup (a run that ended during warmup):
    # then there is no rate to compare, and ``vrx regressions`` reports ``missing``, not 0.
    tokens_per_second: float | None
    if measured_tokens is None or measured_time_s is None:
        tokens_per_second = None
    elif measured_steps == 0:
        tokens_per_second = 0.0
    else:
        tokens_per_second = measured_tokens / measured_time_s
    tflops = None if tokens_per_second is None else _mul(flops_per_token, tokens_per_second)
    val_steps, val_values, _ = fold.val_losses.ordered()
    peak_name = _name(fold.setting("peak_memory_metric"), DEFAULT_PEAK_MEMORY_METRIC)
    results = {
        "losses": losses,
        "final_loss": _last_finite(losses),
        "train_ce_final": losses[-1] if losses else None,
        "val_losses": [[step, value] for step, value in zip(val_steps, val_values, strict=True)],
        "val_ce_final": val_values[-1] if val_values else None,
        "step_times_s": [round(b - a, _TIME_DIGITS) for a, b in itertools.pairwise(times)],
        "measured_steps": measured_steps,
        "measured_tokens": measured_tokens,
        "measured_time_s": measured_time_s,
        "tokens_per_second": tokens_per_second,
        "tflops_per_second_est": None if tflops is None else tflops / 1e12,
        "peak_memory_allocated_gb": number(fold.final.get(peak_name)),
        "metrics_final": dict(sorted(fold.final.items())),
    }
    return budget, results


def numerics(fold: TelemetryFold, losses: list[float]) -> dict[str, Any]:
    """Upstream's debug flags plus what the log shows: non-finite losses (``losses`` is
    ``results.losses``) and metrics."""
    bad = [i for i, value in enumerate(losses) if not _isfinite(value)] if fold.non_finite else []
    steps = fold.losses.ordered()[0] if bad else []
    return {
        "check_numerics": fold.setting("check_numerics"),
        "detect_anomaly": fold.setting("detect_anomaly"),
        "non_finite_losses": len(bad),
        "first_non_finite_loss_step": steps[bad[0]] if bad else None,
        "non_finite_metrics": dict(sorted(fold.non_finite.items())),
    }


def meta(fold: TelemetryFold) -> dict[str, Any]:
    """Who, what and where: ``run_id``, ``generated_at`` (the last event's time), git, host, command."""
    env, layout, start = fold.environment, fold.layout, fold.run_start
    run_id = layout.run_id if layout is not None else (start.run_id if start is not None else UNKNOWN)
    kind = fold.setting("kind") or (layout.kind if layout is not None else None) or "baseline"
    topic = (
        fold.setting("topic")
        or (layout.topic or layout.project if layout is not None else None)
        or (start.name if start is not None else None)
        or run_id
    )
    argv = list(start.argv) if start is not None else []
    command = shlex.join(argv)
    env_vars = dict(env.env_vars) if env is not None else {}
    python = env.python if env is not None else {}
    device = fold.setting("device")
    last_t = fold.last_t
    generated = UNKNOWN if last_t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(last_t))
    return {
        "run_id": run_id,
        "generated_at": generated,
        "kind": str(kind),
        "topic": str(topic),
        "git": git_section(env),
        "system": system_section(env),
        "gpu": gpu_section(env),
        "python": {"executable": python.get("executable"), "version": python.get("version")},
        "command": command,
        "command_argv": command,
        "argv": argv,
        "env": env_vars,
        "ddp": ddp_section(env_vars),
        "device": default_device(env) if device is None else device,
        "seed": fold.setting("seed"),
    }


def _section(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def build_summary(fold: TelemetryFold) -> dict[str, Any]:
    """The ``summary.json`` document of a folded run (docs/summary.md lists every field)."""
    budget, results = budget_and_results(fold)
    return {
        "schema_version": SCHEMA_VERSION,
        "meta": meta(fold),
        "hparams": dict(fold.params),
        "compile": _section(fold.setting("compile")),
        "config": dict(fold.config),
        "dataset": _section(fold.setting("dataset")),
        "budget": budget,
        "results": results,
        "numerics": numerics(fold, results["losses"]),
    }


__all__ = [
    "KINDS",
    "RUN_MD",
    "SCHEMA_VERSION",
    "SETTINGS",
    "SUMMARY",
    "TelemetryFold",
    "build_summary",
    "lookup",
]
