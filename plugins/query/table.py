"""A run's metric points as columns, and the per-run facts kept beside them (params, summaries).

One fold for both sources of ``vrx query``'s tables: the deriver feeds it the replayed events and
writes it as ``metrics.parquet``; ``vrx query`` feeds it a run's events read from its log when the
parquet cannot be trusted. Either way the table has the same rows and the same summaries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from vrx_core.codec import json_safe, parse_nonfinite
from vrx_core.events import Metric, Params

#: The derived file, in the run's directory.
PARQUET: Final = "metrics.parquet"
#: The parquet's key-value metadata keys (JSON values): the run's params and metric summaries.
PARAMS_KEY: Final = "vrx.params"
SUMMARY_KEY: Final = "vrx.summary"
FORMAT_KEY: Final = "vrx.format"
FORMAT: Final = "vrx.query.metrics.v1"
#: The metric table's columns and their declared DuckDB types, in file order.
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("rank", "INTEGER"),
    ("seq", "BIGINT"),
    ("step", "BIGINT"),
    ("t", "DOUBLE"),
    ("name", "VARCHAR"),
    ("value", "DOUBLE"),
)
SUMMARIES: Final = ("last", "min", "max")


@dataclass
class MetricColumns:
    """Metric points in log order (a multi-rank run's merged order), one list per column.

    Summaries follow rank 0 (or the single process), as ``summary.json`` does: ``last`` is the
    last value recorded, ``min``/``max`` ignore NaN (a metric that was only ever NaN has none).
    """

    rank: list[int | None] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    step: list[int | None] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    has_params: bool = False
    last: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)

    def metric(self, event: Metric) -> None:
        self.rank.append(event.rank)
        self.seq.append(event.seq)
        self.step.append(event.step)
        self.t.append(event.t)
        self.name.append(event.name)
        self.value.append(event.value)
        if not event.rank:
            self._summarise(event.name, event.value)

    def _summarise(self, name: str, value: float) -> None:
        self.last[name] = value
        if math.isnan(value):
            return
        low, high = self.low.get(name), self.high.get(name)
        if low is None or value < low:
            self.low[name] = value
        if high is None or value > high:
            self.high[name] = value

    def add_params(self, event: Params) -> None:
        """Params events merged in log order: a later value of a key replaces an earlier one."""
        self.params.update(event.values)
        self.has_params = True

    def __len__(self) -> int:
        return len(self.seq)

    @property
    def empty(self) -> bool:
        """Nothing to derive: no metric point and no params."""
        return not self.seq and not self.has_params

    def as_lists(self) -> list[list[Any]]:
        """The columns in :data:`COLUMNS` order."""
        return [self.rank, self.seq, self.step, self.t, self.name, self.value]

    def summaries(self) -> dict[str, dict[str, float]]:
        return {"last": self.last, "min": self.low, "max": self.high}

    def metadata(self) -> dict[str, str]:
        """The parquet's key-value metadata: canonical JSON, non-finite floats spelled as in the log."""
        return {
            FORMAT_KEY: FORMAT,
            PARAMS_KEY: encode(self.params) if self.has_params else "null",
            SUMMARY_KEY: encode(self.summaries()),
        }


def encode(value: Any) -> str:
    return msgspec.json.encode(json_safe(value), order="sorted").decode()


def decode_summaries(text: str | None) -> dict[str, dict[str, float]]:
    """:data:`SUMMARY_KEY`'s value back to floats; empty maps for anything unreadable."""
    try:
        data = msgspec.json.decode(text or "{}")
    except msgspec.DecodeError:
        data = {}
    found: dict[str, dict[str, float]] = {k: {} for k in SUMMARIES}
    if not isinstance(data, dict):
        return found
    for key in SUMMARIES:
        values = data.get(key)
        if isinstance(values, dict):
            found[key] = {str(k): f for k, v in values.items() if (f := _float(v)) is not None}
    return found


def _float(v: Any) -> float | None:
    if isinstance(v, str):
        return parse_nonfinite(v)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


__all__ = [
    "COLUMNS",
    "FORMAT",
    "PARAMS_KEY",
    "PARQUET",
    "SUMMARIES",
    "SUMMARY_KEY",
    "MetricColumns",
    "decode_summaries",
    "encode",
]
