"""The triage deriver: folds a capture's events into the bundle files of triage_bundle.md."""

from __future__ import annotations

from typing import Any

from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .events import (
    TriageFrame,
    TriageImported,
    TriageScenario,
    TriageStreamStarted,
    TriageStreamStopped,
)
from .formats import metrics_csv, metrics_json, run_json, summary_md, verdict
from .metrics import TriageAccumulator, TriageMetrics
from .scenario import validate_scenario
from .scenario_file import parse_scenario
from .thresholds import ThresholdResult, evaluate_thresholds, thresholds_from_scenario

OUTPUTS = ("scenario.json", "run.json", "metrics.csv", "metrics.json", "summary.md")


class TriageDeriver(Deriver):
    """Frame stream -> scenario.json, run.json, metrics.csv, metrics.json, summary.md.

    Only for a capture run (one with a ``triage.stream_started``): for any other run it writes
    nothing, so other plugins may write ``metrics.json`` for their own kinds of run.
    """

    outputs = frozenset(OUTPUTS)

    def __init__(self) -> None:
        self.scenario: TriageScenario | None = None
        self.started: TriageStreamStarted | None = None
        self.stopped: TriageStreamStopped | None = None
        self.imported: TriageImported | None = None
        self.acc = TriageAccumulator()
        self.latest_ts_ns: int | None = None
        self.results: list[ThresholdResult] | None = None
        self.metrics: TriageMetrics | None = None

    @handles(TriageFrame)
    def on_frame(self, event: TriageFrame) -> None:
        self.acc.add_sample(event.ts_ns, event.dropped)
        if self.latest_ts_ns is None or event.ts_ns > self.latest_ts_ns:
            self.latest_ts_ns = event.ts_ns

    @handles(TriageScenario)
    def on_scenario(self, event: TriageScenario) -> None:
        self.scenario = event

    @handles(TriageStreamStarted)
    def on_started(self, event: TriageStreamStarted) -> None:
        self.started = event

    @handles(TriageStreamStopped)
    def on_stopped(self, event: TriageStreamStopped) -> None:
        self.stopped = event

    @handles(TriageImported)
    def on_imported(self, event: TriageImported) -> None:
        self.imported = event

    def run_outputs(self) -> frozenset[str]:
        if self.started is None:
            return frozenset()  # not a capture run
        return self.outputs if self.scenario is not None else self.outputs - {"scenario.json"}

    def snapshot(self) -> dict[str, Any]:
        if self.started is None and self.scenario is None:
            return {}
        s = self.acc.snapshot()
        snap: dict[str, Any] = {
            "scenario_id": self.scenario.scenario_id if self.scenario else None,
            "frames_total": s.frames_total,
            "received_frames_total": s.received_frames_total,
            "dropped_frames_total": s.dropped_frames_total,
            "drop_rate_percent": round(s.drop_rate_percent, 6),
            "current_fps": s.current_fps,
        }
        if self.metrics is not None and self.results is not None:
            snap["avg_fps"] = self.metrics.avg_fps
            snap["inter_frame_interval_p95_us"] = self.metrics.inter_frame_interval_us.p95_us
            snap["inter_frame_jitter_p95_us"] = self.metrics.inter_frame_jitter_us.p95_us
            snap["verdict"] = verdict(self.results)
            snap["thresholds"] = [
                {"name": r.name, "op": r.op, "limit": r.limit, "actual": r.actual, "passed": r.passed}
                for r in self.results
            ]
        return snap

    def _scenario_doc(self) -> dict[str, Any] | None:
        if self.scenario is None:
            return None
        doc = parse_scenario(self.scenario.raw.encode(), source="scenario.json")
        return doc if not validate_scenario(doc) else None

    def finish(self, out: DerivedFiles) -> None:
        if self.started is None:
            return  # not a capture run
        started = self.started
        metrics = self.acc.result(started.duration_ms)
        doc = self._scenario_doc()
        results = evaluate_thresholds(thresholds_from_scenario(doc), metrics) if doc is not None else []
        self.metrics, self.results = metrics, results
        if self.scenario is not None:
            out.write_bytes("scenario.json", self.scenario.raw.encode())
        run_id = self.scenario.bundle_run_id if self.scenario else f"run-{started.started_ns // 1_000_000}"
        source_name = self.scenario.source_name if self.scenario else "unknown"
        created_ns = self.scenario.created_ns if self.scenario else started.started_ns
        finished_ns = self.stopped.stopped_ns if self.stopped else started.started_ns
        out.write_bytes(
            "run.json",
            run_json(
                run_id=run_id,
                scenario_id=source_name,
                seed=started.seed,
                duration_ms=started.duration_ms,
                created_at_ns=created_ns,
                started_at_ns=started.started_ns,
                finished_at_ns=finished_ns,
                latest_frame_ts_ns=self.latest_ts_ns,
                backend=started.backend,
            ),
        )
        out.write_bytes("metrics.csv", metrics_csv(metrics))
        out.write_bytes("metrics.json", metrics_json(metrics))
        scenario_id = self.scenario.scenario_id if self.scenario else source_name
        out.write_bytes(
            "summary.md", summary_md(scenario_id=scenario_id, run_id=run_id, metrics=metrics, results=results)
        )
