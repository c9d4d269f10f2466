"""The query deriver: ``metrics.parquet``, every metric point of the run, for ``vrx query``."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from vrx_core.events import Metric, Params
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .table import PARQUET, MetricColumns


class MetricsDeriver(Deriver):
    """Metric events -> ``metrics.parquet`` (every rank's points in merged log order), with the
    run's params and rank 0's last/min/max per metric in the file's key-value metadata; nothing
    for a run without a metric or params."""

    outputs = frozenset({PARQUET})

    def __init__(self) -> None:
        self.columns = MetricColumns()

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        self.columns.metric(event)

    @handles(Params)
    def on_params(self, event: Params) -> None:
        self.columns.add_params(event)

    def run_outputs(self) -> Set[str]:
        return frozenset() if self.columns.empty else self.outputs

    def snapshot(self) -> dict[str, Any]:
        return {"points": len(self.columns)}

    def finish(self, out: DerivedFiles) -> None:
        if self.columns.empty:
            return
        from .duck import parquet_bytes

        out.write_bytes(PARQUET, parquet_bytes(self.columns))
