"""``vrx regressions``: compare a candidate run's ``summary.json`` against a baseline's (pure logic).

A port of model_guided_research's ``mgr regressions`` (ORIGINS.md 3.1): the four metrics, the
extraction fallbacks (``_extract_metric`` upstream) and the classification, exactly as coded there,
including Python ``or`` fall-through on ``0.0``. One deliberate difference, off under
``mgr_compat=True``: upstream applies the loss thresholds (``c > b + loss_abs or delta_rel >
loss_rel``) to peak memory too, so ``memory_rel`` can never relax the memory check; vrx judges peak
memory by ``memory_rel`` alone (regression iff ``c > b * (1 + memory_rel)``).

No Rich and no output here: :mod:`.regressions_report` renders a :class:`Report`, and
:mod:`.regressions_cli` is the command.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from vrx_core.errors import ExitCode, UsageError, VrxError
from vrx_core.log.rundir import LOG

Direction = Literal["lower", "higher"]
Status = Literal["ok", "regression", "missing"]

SUMMARY: Final = "summary.json"


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """The five thresholds, with upstream's defaults; field order is upstream's."""

    loss_abs: float = 0.01
    loss_rel: float = 0.01
    throughput_rel: float = 0.05
    tflops_rel: float = 0.05
    memory_rel: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return {
            "loss_abs": self.loss_abs,
            "loss_rel": self.loss_rel,
            "throughput_rel": self.throughput_rel,
            "tflops_rel": self.tflops_rel,
            "memory_rel": self.memory_rel,
        }


DEFAULTS: Final = Thresholds()
#: The accepted range of each threshold, upstream's (Typer ``min=``/``max=``); None: unbounded.
RANGES: Final[dict[str, tuple[float, float | None]]] = {
    "loss_abs": (0.0, None),
    "loss_rel": (0.0, None),
    "throughput_rel": (0.0, 1.0),
    "tflops_rel": (0.0, 1.0),
    "memory_rel": (0.0, 10.0),
}


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    direction: Direction


#: The metrics compared, in upstream's order.
METRICS: Final = (
    MetricSpec("final_loss", "Final loss", "lower"),
    MetricSpec("tokens_per_second", "Tokens/s", "higher"),
    MetricSpec("tflops_per_second_est", "TFLOP/s (est)", "higher"),
    MetricSpec("peak_memory_allocated_gb", "Peak mem (GB)", "lower"),
)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """One row: ``delta``/``delta_rel`` are None when a value is missing, ``delta_rel`` also when b == 0."""

    metric: str
    label: str
    direction: Direction
    baseline: float | None
    candidate: float | None
    delta: float | None
    delta_rel: float | None
    status: Status

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "label": self.label,
            "direction": self.direction,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "delta": self.delta,
            "delta_rel": self.delta_rel,
            "status": self.status,
        }


# -- extraction -------------------------------------------------------------------------------


def finite(value: object) -> float | None:
    """``value`` as a float when it is a finite int or float; None otherwise (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        return None
    return number if math.isfinite(number) else None


def last_finite(values: object) -> float | None:
    """The last finite number of a list (upstream's final loss from ``results.losses``)."""
    if not isinstance(values, list):
        return None
    for value in reversed(values):
        number = finite(value)
        if number is not None:
            return number
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _pick(value: object, variant: str | None) -> object:
    """A dict-valued metric (``{"sdpa": ..., "flex": ...}``) gives its ``variant`` entry."""
    if isinstance(value, Mapping):
        return value.get(variant) if variant else None
    return value


def suite_run(summary: Mapping[str, Any], variant: str | None) -> Mapping[str, Any] | None:
    """The entry of a suite summary's ``runs[]`` whose ``attention_type`` is ``variant``, if any."""
    runs = summary.get("runs")
    if not variant or not isinstance(runs, list):
        return None
    for run in runs:
        if isinstance(run, Mapping) and run.get("attention_type") == variant:
            return run
    return None


def extract_metric(summary: Mapping[str, Any], key: str, variant: str | None = None) -> float | None:
    """Upstream's ``_extract_metric``: the first source in its fallback chain that gives a value.

    The chains are Python ``or`` chains, kept as such: a value of exactly ``0.0`` falls through
    to the next source (and to None when no later source has a value), unless it is the last one.
    A suite summary's matching ``runs[]`` entry, when ``variant`` names one, is the only source.
    """
    run = suite_run(summary, variant)
    if run is not None:
        if key == "final_loss":
            return finite(run.get("final_loss")) or finite(run.get("score"))
        if key == "tokens_per_second":
            return finite(run.get("tokens_per_second")) or finite(run.get("tokens_per_s"))
        return finite(run.get(key))
    results = _mapping(summary.get("results"))
    if key == "final_loss":
        return (
            last_finite(results.get("losses"))
            or finite(results.get("final_loss"))
            or finite(results.get("loss"))
            or finite(results.get("score"))
            or finite(summary.get("final_loss"))
            or finite(summary.get("score"))
        )
    if key == "tokens_per_second":
        return (
            finite(_pick(results.get("tokens_per_second"), variant))
            or finite(results.get("tokens_per_s"))
            or finite(summary.get("tokens_per_second"))
            or finite(summary.get("tokens_per_s"))
        )
    if key == "tflops_per_second_est":
        return finite(_pick(results.get(key), variant)) or finite(summary.get(key))
    if key == "peak_memory_allocated_gb":
        mb = finite(results.get("peak_mem_mb"))
        return finite(_pick(results.get(key), variant)) or (mb / 1024 if mb is not None else None)
    raise KeyError(f"unknown metric {key!r}")


def loss_series(summary: Mapping[str, Any], variant: str | None = None) -> list[float]:
    """The finite values of the losses (the suite run's, with a matching variant) for sparklines."""
    run = suite_run(summary, variant)
    losses = (run if run is not None else _mapping(summary.get("results"))).get("losses")
    if not isinstance(losses, list):
        return []
    return [number for number in map(finite, losses) if number is not None]


PROVENANCE_KEYS: Final = (
    "run_id", "kind", "device", "commit", "dirty", "attention_type", "use_flex_attention", "compile",
    "command",
)


def _first(*values: object) -> Any:
    """The first value that is not None (unlike ``or``, False and 0 count)."""
    return next((v for v in values if v is not None), None)


def provenance(summary: Mapping[str, Any], variant: str | None = None) -> dict[str, Any]:
    """Who and what a summary describes, for the "Run provenance" table and summary.json.

    ``mgr.telemetry.v1`` keeps these under ``meta`` (``meta.git`` for the commit); legacy flat
    summaries keep ``git`` and the rest at the top level; feature flags come from a matching suite
    run, then ``config``, ``hparams`` and the top level. A ``compile`` section that is an object
    gives its ``enabled`` entry when it has one. Absent facts are None.
    """
    meta = _mapping(summary.get("meta"))
    git = _mapping(meta.get("git")) or _mapping(summary.get("git"))
    run = _mapping(suite_run(summary, variant))
    config = _mapping(summary.get("config"))
    hparams = _mapping(summary.get("hparams"))

    def flag(name: str) -> Any:
        return _first(run.get(name), config.get(name), hparams.get(name), summary.get(name))

    compile_ = flag("compile")
    if isinstance(compile_, Mapping) and "enabled" in compile_:
        compile_ = compile_["enabled"]
    return {
        "run_id": _first(meta.get("run_id"), summary.get("run_id")),
        "kind": _first(meta.get("kind"), summary.get("kind")),
        "device": _first(meta.get("device"), summary.get("device"), config.get("device")),
        "commit": _first(git.get("commit"), git.get("commit_full")),
        "dirty": git.get("dirty"),
        "attention_type": flag("attention_type"),
        "use_flex_attention": flag("use_flex_attention"),
        "compile": compile_,
        "command": _first(meta.get("command"), summary.get("command")),
    }


# -- classification ---------------------------------------------------------------------------


def classify(
    spec: MetricSpec,
    baseline: float | None,
    candidate: float | None,
    *,
    thresholds: Thresholds = DEFAULTS,
    mgr_compat: bool = False,
) -> Comparison:
    """One row, classified exactly as upstream does (statuses ok, regression, missing only).

    - lower is better: regression if ``c > b + loss_abs`` or ``delta_rel > loss_rel``;
    - higher is better: regression if ``c < b * (1 - thr)`` (strict), ``thr`` being ``tflops_rel``
      for ``tflops*`` keys and ``throughput_rel`` otherwise;
    - ``peak_memory*``: regression if ``c > b * (1 + memory_rel)``; by default that rule alone
      judges memory, with ``mgr_compat`` the lower-is-better (loss) rule applies to it as well.
    """
    if baseline is None or candidate is None:
        return Comparison(
            metric=spec.key, label=spec.label, direction=spec.direction,
            baseline=baseline, candidate=candidate, delta=None, delta_rel=None, status="missing",
        )
    b, c = baseline, candidate
    delta = c - b
    delta_rel = delta / b if b != 0 else None
    memory = spec.key.startswith("peak_memory")
    regression = False
    if spec.direction == "lower":
        if mgr_compat or not memory:
            relative = delta_rel is not None and delta_rel > thresholds.loss_rel
            regression = c > b + thresholds.loss_abs or relative
    else:
        thr = thresholds.tflops_rel if spec.key.startswith("tflops") else thresholds.throughput_rel
        regression = c < b * (1 - thr)
    if memory and c > b * (1 + thresholds.memory_rel):
        regression = True
    return Comparison(
        metric=spec.key, label=spec.label, direction=spec.direction,
        baseline=b, candidate=c, delta=delta, delta_rel=delta_rel,
        status="regression" if regression else "ok",
    )


def compare(
    baseline: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    thresholds: Thresholds = DEFAULTS,
    baseline_variant: str | None = None,
    candidate_variant: str | None = None,
    mgr_compat: bool = False,
) -> list[Comparison]:
    """Every metric of :data:`METRICS`, in order."""
    return [
        classify(
            spec,
            extract_metric(baseline, spec.key, baseline_variant),
            extract_metric(candidate, spec.key, candidate_variant),
            thresholds=thresholds,
            mgr_compat=mgr_compat,
        )
        for spec in METRICS
    ]


def failing_metrics(comparisons: Sequence[Comparison], *, fail_on_missing: bool = False) -> list[str]:
    """The metrics that fail the guardrail: regressions, and missing ones with ``fail_on_missing``."""
    failing = {"regression", "missing"} if fail_on_missing else {"regression"}
    return [row.metric for row in comparisons if row.status in failing]


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Report:
    """Everything the console view and the three files show."""

    run_id: str
    generated_at: str
    git: Mapping[str, Any]
    argv: Sequence[str]
    baseline_path: str
    candidate_path: str
    baseline_variant: str | None
    candidate_variant: str | None
    thresholds: Thresholds
    mgr_compat: bool
    baseline: Mapping[str, Any]
    candidate: Mapping[str, Any]
    comparisons: Sequence[Comparison]
    baseline_losses: Sequence[float] = field(default_factory=list)
    candidate_losses: Sequence[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The ``summary.json`` object: upstream's keys exactly (no ``schema_version``)."""
        return {
            "meta": {
                "run_id": self.run_id,
                "generated_at": self.generated_at,
                "git": dict(self.git),
                "argv": list(self.argv),
                "baseline_path": self.baseline_path,
                "candidate_path": self.candidate_path,
                "baseline_variant": self.baseline_variant,
                "candidate_variant": self.candidate_variant,
            },
            "thresholds": self.thresholds.as_dict(),
            "baseline": dict(self.baseline),
            "candidate": dict(self.candidate),
            "comparisons": [row.as_dict() for row in self.comparisons],
        }


def build_report(
    baseline: Mapping[str, Any],
    candidate: Mapping[str, Any],
    *,
    run_id: str,
    generated_at: str,
    git: Mapping[str, Any],
    argv: Sequence[str],
    baseline_path: str,
    candidate_path: str,
    baseline_variant: str | None = None,
    candidate_variant: str | None = None,
    thresholds: Thresholds = DEFAULTS,
    mgr_compat: bool = False,
) -> Report:
    """Compare two loaded summaries and gather what the outputs show."""
    return Report(
        run_id=run_id,
        generated_at=generated_at,
        git=git,
        argv=list(argv),
        baseline_path=baseline_path,
        candidate_path=candidate_path,
        baseline_variant=baseline_variant,
        candidate_variant=candidate_variant,
        thresholds=thresholds,
        mgr_compat=mgr_compat,
        baseline=provenance(baseline, baseline_variant),
        candidate=provenance(candidate, candidate_variant),
        comparisons=compare(
            baseline, candidate, thresholds=thresholds, baseline_variant=baseline_variant,
            candidate_variant=candidate_variant, mgr_compat=mgr_compat,
        ),
        baseline_losses=loss_series(baseline, baseline_variant),
        candidate_losses=loss_series(candidate, candidate_variant),
    )


# -- inputs -----------------------------------------------------------------------------------


class SummaryNotFound(UsageError):
    """--baseline / --candidate names no summary.json (exit 2, like upstream's BadParameter)."""


class InvalidSummary(VrxError):
    """A summary.json that cannot be read or is not a JSON object (exit 65)."""

    exit_code = ExitCode.DATAERR


def resolve_summary(raw: str, *, artifacts_dir: str | Path, option: str) -> Path:
    """The summary.json that ``raw`` names, as upstream resolves it.

    ``raw`` is a summary.json file or a directory holding one (an mgr run directory, or a vrx run
    directory once ``vrx replay`` derived it; a run's ``events.jsonl`` names its directory too).
    A path that does not exist is also tried under ``artifacts_dir``. A vrx run's summary.json
    derived before the log last changed (``derived.json``'s log size is not the log's) is refused.
    """
    path = Path(raw)
    if not path.exists():
        under = Path(artifacts_dir) / raw
        if not under.exists():
            raise SummaryNotFound(f"{option}: no such file or directory: {raw} (nor {under})")
        path = under
    if path.name == LOG and path.is_file():
        path = path.parent
    if path.is_dir():
        summary = path / SUMMARY
        if (path / LOG).is_file():
            return _vrx_run_summary(path, option)
        if summary.is_file():
            return summary
        raise SummaryNotFound(f"{option}: no {SUMMARY} at {path}")
    return path


def _vrx_run_summary(run: Path, option: str) -> Path:
    """A vrx run's derived summary.json, refused when the log changed since it was derived (a
    stale summary would be compared silently); the reason when there is none."""
    from vrx_core.engine.provenance import read_provenance
    from vrx_core.engine.runinfo import derived_current

    current = derived_current(run)
    if (run / SUMMARY).is_file():
        if current is False:
            raise SummaryNotFound(
                f"{option}: {SUMMARY} of {run} is stale (the log changed since it was derived); "
                f"run `vrx replay {run}`"
            )
        return run / SUMMARY
    derived = read_provenance(run)
    plugins, failures = derived.get("plugins"), derived.get("failures")
    telemetry_ran = (
        isinstance(plugins, dict)
        and "telemetry" in plugins
        and isinstance(failures, list)
        and not any(isinstance(f, dict) and f.get("plugin") == "telemetry" for f in failures)
    )
    if current and telemetry_ran:
        raise SummaryNotFound(
            f"{option}: no {SUMMARY} in vrx run {run}: this run records no metrics, so it has no {SUMMARY}"
        )
    raise SummaryNotFound(f"{option}: no {SUMMARY} in vrx run {run}; run `vrx replay {run}` to derive it")


def load_summary(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; one-line :class:`InvalidSummary` naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSummary(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except OSError as exc:
        raise InvalidSummary(f"cannot read: {exc.strerror or exc}", path=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at column {exc.colno}: {exc.msg}"
        raise InvalidSummary(message, path=path, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer over Python's digit limit
        raise InvalidSummary(f"invalid JSON: {exc}", path=path) from None
    if not isinstance(data, dict):
        raise InvalidSummary(f"not a JSON object (a {type(data).__name__})", path=path)
    return data
