"""The runs deriver: ``config.yaml`` and ``config_resolved.yaml`` for any run with a ``config``
event; ``run_manifest.json`` for runs placed in the rvinci layout, and ``metrics.json`` for those
that record core metrics. A GPU probe or a triage capture placed in the rvinci layout records no
core metric: its own ``metrics.json`` (the objective contract's, the bundle's) is the run's."""

from __future__ import annotations

from typing import Any

from vrx_core.events import Checkpoint, Config, Environment, Metric, RunLayout, RunStart
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .files import add_metric, metrics_document, run_manifest
from .yaml_text import to_yaml

CONFIG, CONFIG_RESOLVED = "config.yaml", "config_resolved.yaml"
RUN_MANIFEST, METRICS = "run_manifest.json", "metrics.json"


class RunsDeriver(Deriver):
    outputs = frozenset({CONFIG, CONFIG_RESOLVED, RUN_MANIFEST, METRICS})

    def __init__(self) -> None:
        self.start: RunStart | None = None
        self.layout: RunLayout | None = None
        self.env: Environment | None = None
        self.config: Config | None = None
        self.checkpoints: list[Checkpoint] = []
        self.series: dict[str, list[tuple[int | None, float]]] = {}

    @handles(RunStart)
    def on_start(self, event: RunStart) -> None:
        self.start = event

    @handles(RunLayout)
    def on_layout(self, event: RunLayout) -> None:
        self.layout = event

    @handles(Environment)
    def on_environment(self, event: Environment) -> None:
        self.env = event  # a resumed run records its new host: the latest one describes the run

    @handles(Config)
    def on_config(self, event: Config) -> None:
        self.config = event

    @handles(Checkpoint)
    def on_checkpoint(self, event: Checkpoint) -> None:
        self.checkpoints.append(event)

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        if self._rvinci():
            add_metric(self.series, event)  # a rank's own series: "loss@rank1" (rank 0 keeps the name)

    def _rvinci(self) -> bool:
        return self.layout is not None and self.layout.style == "rvinci"

    def run_outputs(self) -> frozenset[str]:
        found: set[str] = set()
        if self.config is not None:
            found |= {CONFIG, CONFIG_RESOLVED}
        if self._rvinci():
            found |= {RUN_MANIFEST, METRICS} if self.series else {RUN_MANIFEST}
        return frozenset(found)

    def snapshot(self) -> dict[str, Any]:
        return {"layout": self.layout.style if self.layout else None, "config": self.config is not None}

    def finish(self, out: DerivedFiles) -> None:
        if self.config is not None:
            out.write_text(CONFIG, to_yaml(self.config.composed))
            out.write_text(CONFIG_RESOLVED, to_yaml(self.config.resolved))
        if self.layout is not None and self._rvinci():
            out.write_json(
                RUN_MANIFEST,
                run_manifest(
                    layout=self.layout,
                    start=self.start,
                    env=self.env,
                    has_config=self.config is not None,
                    checkpoints=self.checkpoints,
                ),
            )
            if self.series:
                out.write_json(METRICS, metrics_document(self.series))
