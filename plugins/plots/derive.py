"""The plots deriver: ``plots/<metric>.png`` for every metric a run recorded, x = step, no smoothing."""

from __future__ import annotations

from typing import Any

from vrx_core.events import Metric, RunStart
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .series import MetricFold, file_name

PLOTS_DIR = "plots"


def plot_path(metric: str) -> str:
    """Where the deriver writes ``metric``'s plot, relative to the output directory."""
    return f"{PLOTS_DIR}/{file_name(metric)}"


class PlotsDeriver(Deriver):
    """Metric events -> one PNG per metric; nothing for a run without a ``metric`` event.

    Holds every metric point (x and value, 16 bytes a point): the plots draw them all, so the state
    is what is derived, not a copy of the log.
    """

    def __init__(self) -> None:
        self.fold = MetricFold("step")

    @handles(RunStart)
    def on_start(self, event: RunStart) -> None:
        self.fold.run_start(event)

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        self.fold.add(event)

    def run_outputs(self) -> frozenset[str]:
        return frozenset(plot_path(name) for name in self.fold.names)

    def snapshot(self) -> dict[str, Any]:
        return {"metrics": len(self.fold.points), "points": self.fold.count}

    def finish(self, out: DerivedFiles) -> None:
        from .render import metric_png

        runs = [(self.fold.name or "run", self.fold)]
        for name in self.fold.names:
            out.write_bytes(plot_path(name), metric_png(runs, name))
