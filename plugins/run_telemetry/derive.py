"""The telemetry deriver: ``summary.json`` and ``run.md`` for any run that recorded a metric."""

from __future__ import annotations

from typing import Any

from vrx_core.events import Config, Environment, Metric, Params, Resumed, RunEnd, RunLayout, RunStart, Sync
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .runmd import run_md
from .summary import RUN_MD, SUMMARY, TelemetryFold, build_summary


class TelemetryDeriver(Deriver):
    """Core events -> ``summary.json`` (mgr.telemetry.v1) and ``run.md``; nothing for a run
    without a single ``metric`` event."""

    outputs = frozenset({SUMMARY, RUN_MD})

    def __init__(self) -> None:
        self.fold = TelemetryFold()

    # A multi-rank run is summarised from rank 0 (mgr's summary is one process's view); every
    # rank's events stay in the log for plugins that reduce across ranks.
    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        if not event.rank:
            self.fold.metric(event)

    @handles(RunStart, RunLayout, Environment, Config)
    def on_start(self, event: RunStart | RunLayout | Environment | Config) -> None:
        if not event.rank:
            self.fold.add(event)

    @handles(Params, RunEnd, Resumed, Sync)
    def on_other(self, event: Params | RunEnd | Resumed | Sync) -> None:
        self.fold.add(event)

    def run_outputs(self) -> frozenset[str]:
        return self.outputs if self.fold.has_metrics else frozenset()

    def snapshot(self) -> dict[str, Any]:
        return self.fold.snapshot()

    def finish(self, out: DerivedFiles) -> None:
        if not self.fold.has_metrics:
            return
        summary = build_summary(self.fold)
        out.write_json(SUMMARY, summary)
        out.write_text(RUN_MD, run_md(summary, self.fold.layout))
