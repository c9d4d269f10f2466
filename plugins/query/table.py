"""A run's metric points as columns, and the per-run facts kept beside them (params, summaries).

One fold for both sources of ``vrx query``'s tables: the deriver feeds it the replayed events and
writes it as ``metrics.parquet``; ``vrx query`` feeds it a run's events read from its log when the
parquet cannot be trusted. Either way the table has the same rows and the same summaries.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import msgspec

from vrx_core.codec import json_safe, parse_nonfinite
from vrx_core.events import Metric, Params

if TYPE_CHECKING:
    import numpy as np

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


#: How the columns of :meth:`MetricColumns.points` become :data:`COLUMNS` (declared types; NULL
#: where a point has no rank or no step). DuckDB reads a NaN in a numpy float column as NULL (the
#: pandas convention); a metric's value is never null, so a NULL there is the NaN it was.
POINT_SELECT: Final = (
    "CAST(CASE WHEN has_rank THEN rank END AS INTEGER) AS rank, seq, "
    "CASE WHEN has_step THEN step END AS step, t, CAST(name AS VARCHAR) AS name, "
    "coalesce(value, 'NaN'::DOUBLE) AS value"
)


@dataclass
class MetricColumns:
    """Metric points in log order (a multi-rank run's merged order), in typed arrays: a million
    points take about 40 MB, not the gigabyte of Python objects (each metric name is stored once).

    Summaries follow rank 0 (or the single process), as ``summary.json`` does: ``last`` is the
    last value recorded, ``min``/``max`` ignore NaN (a metric that was only ever NaN has none).
    """

    rank: array[int] = field(default_factory=lambda: array("q"))  # -1: no rank (one process)
    seq: array[int] = field(default_factory=lambda: array("q"))
    step: array[int] = field(default_factory=lambda: array("q"))  # 0 where has_step is 0
    has_step: array[int] = field(default_factory=lambda: array("b"))
    t: array[float] = field(default_factory=lambda: array("d"))
    name: array[int] = field(default_factory=lambda: array("I"))  # an index into names
    value: array[float] = field(default_factory=lambda: array("d"))
    names: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    has_params: bool = False
    last: dict[str, float] = field(default_factory=dict)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)

    def metric(self, event: Metric) -> None:
        rank, step, name = event.rank, event.step, event.name
        self.rank.append(-1 if rank is None else rank)
        self.seq.append(event.seq)
        self.step.append(0 if step is None else step)
        self.has_step.append(step is not None)
        self.t.append(event.t)
        code = self.names.get(name)
        if code is None:
            code = self.names[name] = len(self.names)
        self.name.append(code)
        self.value.append(event.value)
        if not rank:
            self._summarise(name, event.value)

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

    def points(self, np: Any) -> dict[str, np.ndarray[Any, Any]]:
        """The points as numpy columns (``np`` the numpy module), which DuckDB scans without a copy
        per value; :data:`POINT_SELECT` turns them into :data:`COLUMNS`."""
        names = np.array(list(self.names), dtype=object)
        return {
            "rank": np.frombuffer(self.rank, dtype=np.int64),
            "has_rank": np.frombuffer(self.rank, dtype=np.int64) >= 0,
            "seq": np.frombuffer(self.seq, dtype=np.int64),
            "step": np.frombuffer(self.step, dtype=np.int64),
            "has_step": np.frombuffer(self.has_step, dtype=np.int8).astype(bool),
            "t": np.frombuffer(self.t, dtype=np.float64),
            "name": names[np.frombuffer(self.name, dtype=np.uint32)],
            "value": np.frombuffer(self.value, dtype=np.float64),
        }

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
    "POINT_SELECT",
    "SUMMARIES",
    "SUMMARY_KEY",
    "MetricColumns",
    "decode_summaries",
    "encode",
]
