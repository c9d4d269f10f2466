"""Runs side by side (``vrx compare``): merged params, the resolved config, and per-metric last,
best and at-step values.

Each run's log is read in full (recover mode: crash residue ends it quietly, corruption raises
:class:`~vrx_core.errors.CorruptLog`). ``params`` events are merged last-wins after flattening
nested dicts to dotted keys (``{"opt": {"lr": 1}}`` is ``opt.lr``; a key that holds a dot itself is
quoted, ``["opt.lr"]``, so the two never collide: :func:`flatten`); the ``config`` event's resolved
config is flattened the same way under ``config.``. A key a run lacks is :data:`MISSING`, apart
from a recorded null. For every metric: its last value, its best value (the lowest or the highest
by :func:`lower_is_better`; NaN never counts) with the step it was reached at, and, when asked, its
value at one step (the last event with that step).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from vrx_core.events import Config, EventRegistry, Metric, Params
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import RunDir

#: A metric whose name contains one of these (any case) is better lower; any other, higher.
LOWER_WORDS: Final = ("loss", "err", "ppl", "perplexity", "mse", "mae", "latency")
#: The prefix of the resolved config's rows.
CONFIG_PREFIX: Final = "config."


class _Missing:
    """The value of a params or config key a run does not have (a recorded null is None)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass
class MetricStats:
    """One metric of one run."""

    last: float | None = None
    best: float | None = None
    best_step: int | None = None
    at_step: float | None = None
    count: int = 0


@dataclass
class RunData:
    """What :func:`load_run` read from one run."""

    path: Path
    name: str
    run_id: str | None
    complete: bool
    end_status: str | None
    events: int
    start: float | None
    last_t: float | None
    params: dict[str, Any] = field(default_factory=dict)
    #: The ``config`` event's resolved config, flattened, keys prefixed ``config.``.
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, MetricStats] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``ended`` (``ended/error``, ``ended/interrupted``) or ``incomplete`` (no run_end)."""
        if not self.complete:
            return "incomplete"
        return "ended" if self.end_status in (None, "ok") else f"ended/{self.end_status}"


@dataclass(frozen=True)
class Better:
    """Which direction is better for a metric name: ``--lower-is-better`` globs first, then
    ``--higher-is-better`` globs, then the :data:`LOWER_WORDS` rule."""

    lower: tuple[str, ...] = ()
    higher: tuple[str, ...] = ()

    def lower_is_better(self, name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, g) for g in self.lower):
            return True
        if any(fnmatch.fnmatchcase(name, g) for g in self.higher):
            return False
        low = name.lower()
        return any(w in low for w in LOWER_WORDS)


def key_part(key: str) -> str:
    """One key of a flattened path: as it is, or quoted as a JSON string in brackets (``["a.b"]``)
    when it holds a dot, starts with ``[`` or is empty, so that a literal ``"opt.lr"`` key and a
    nested ``{"opt": {"lr": ...}}`` stay two rows."""
    if not key or "." in key or key.startswith("["):
        return f"[{json.dumps(key, ensure_ascii=False)}]"
    return key


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (each key by :func:`key_part`); lists and scalars are values."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}{key_part(str(k))}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def load_run(
    run: str | os.PathLike[str], *, registry: EventRegistry, better: Better, step: int | None = None
) -> RunData:
    """Read one run's log in full and fold its params and metrics."""
    rd = RunDir.of(run)
    reader = LogReader(rd.log, registry=registry)
    params: dict[str, Any] = {}
    config: dict[str, Any] = {}
    metrics: dict[str, MetricStats] = {}
    lower: dict[str, bool] = {}
    last_t = None
    for ev in reader:
        last_t = ev.t
        if isinstance(ev, Metric):
            stats = metrics.get(ev.name)
            if stats is None:
                stats = metrics[ev.name] = MetricStats()
                lower[ev.name] = better.lower_is_better(ev.name)
            _add(stats, ev, lower[ev.name], step)
        elif isinstance(ev, Params):
            params.update(flatten(ev.values))
        elif isinstance(ev, Config):
            config = flatten(ev.resolved, CONFIG_PREFIX)
    r = reader.report
    start = r.run_start
    return RunData(
        path=rd.root,
        name=(start.name if start is not None else None) or rd.root.name or os.fspath(rd.root),
        run_id=start.run_id if start is not None else None,
        complete=r.complete,
        end_status=r.run_end.status if r.run_end is not None and r.complete else None,
        events=r.lines,
        start=start.t if start is not None else None,
        last_t=last_t,
        params=dict(sorted(params.items())),
        config=dict(sorted(config.items())),
        metrics=dict(sorted(metrics.items())),
    )


def _add(stats: MetricStats, ev: Metric, lower: bool, step: int | None) -> None:
    value = float(ev.value)
    stats.last = value
    stats.count += 1
    if step is not None and ev.step == step:
        stats.at_step = value
    if math.isnan(value):
        return
    if stats.best is None or (value < stats.best if lower else value > stats.best):
        stats.best, stats.best_step = value, ev.step


@dataclass
class Row:
    """One compared row: ``section`` ``params``, ``config`` or ``metrics``; ``stat`` (metrics only)
    is ``last``, ``best`` or ``at_step``; ``values`` one per run (a params or config key a run lacks
    is :data:`MISSING`, a metric value it lacks None)."""

    section: str
    key: str
    stat: str | None
    values: list[Any]
    differs: bool
    lower_is_better: bool | None = None


def same(values: Sequence[Any]) -> bool:
    """True when every run has the same value (NaN equals NaN here; a missing value differs)."""
    first = values[0]
    return all(_eq(first, v) for v in values[1:])


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def compare_rows(runs: Sequence[RunData], *, better: Better, step: int | None = None) -> list[Row]:
    """The rows of the comparison: every param, every config key, then every metric's last, best
    (and at-step) values."""
    rows = []
    for section in ("params", "config"):
        keyed = [getattr(r, section) for r in runs]
        for key in _union(keyed):
            values = [d.get(key, MISSING) for d in keyed]
            rows.append(Row(section, key, None, values, not same(values)))
    stats_names = ("last", "best", *(("at_step",) if step is not None else ()))
    for name in _union(r.metrics for r in runs):
        lower = better.lower_is_better(name)
        for stat in stats_names:
            values = [getattr(r.metrics[name], stat) if name in r.metrics else None for r in runs]
            rows.append(Row("metrics", name, stat, values, not same(values), lower))
    return rows


def _union(dicts: Iterable[dict[str, Any]]) -> list[str]:
    keys: set[str] = set()
    for d in dicts:
        keys.update(d)
    return sorted(keys)


__all__ = [
    "CONFIG_PREFIX",
    "LOWER_WORDS",
    "MISSING",
    "Better",
    "MetricStats",
    "Row",
    "RunData",
    "compare_rows",
    "flatten",
    "key_part",
    "load_run",
]
