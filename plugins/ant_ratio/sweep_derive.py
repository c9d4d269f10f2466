"""The sweep deriver: a sweep run's events -> its packets, summary rows, failures, meta, db rows.

Only runs with a ``sweep.start`` get these files, so the plugin stays out of every other run. The
state is one small record per configuration, not the log; everything written comes from the
events (times included), so ``vrx replay`` rebuilds each file byte for byte.
"""

from __future__ import annotations

from typing import Any

from vrx_core.events import RunStart
from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from .derive import PacketDeriver
from .rows import DB_CSV, DB_JSONL, db_csv, db_jsonl, db_row, sort_rows
from .sweep_events import SweepConfigResult, SweepConfigStarted, SweepStarted
from .sweep_formats import csv_row, failures_json, meta_json, packets_jsonl, summary_csv, summary_md, utc

PACKETS = "ant_ratio_packets.jsonl"
SUMMARY_CSV = "ant_ratio_summary.csv"
FAILURES = "sweep_failures.json"
META = "sweep_meta.json"
SUMMARY_MD = "sweep_summary.md"
OUTPUTS = (PACKETS, SUMMARY_CSV, FAILURES, META, SUMMARY_MD, DB_JSONL, DB_CSV)


class SweepDeriver(Deriver):
    """sweep.* events -> the sweep outputs, and a live snapshot for ``vrx tail``.

    Its attributes and handlers are prefixed ``sweep_`` so it combines with the packet deriver
    into the plugin's one deriver (:class:`AntRatioDeriver`) without a name clash.
    """

    outputs = frozenset(OUTPUTS)

    def __init__(self) -> None:
        self.sweep_run_id = ""
        self.sweep_started: SweepStarted | None = None
        self.sweep_sessions = 0
        self.sweep_results: dict[str, SweepConfigResult] = {}  # in the order they first finished
        self.sweep_running: dict[str, SweepConfigStarted] = {}  # started, no result yet
        self.sweep_last_t = 0.0

    @handles(RunStart)
    def on_sweep_run_start(self, event: RunStart) -> None:
        self.sweep_run_id = event.run_id  # the published rows' run_tag, as the sweep directory's name was

    @handles(SweepStarted)
    def on_sweep_start(self, event: SweepStarted) -> None:
        self.sweep_started = event  # the latest session's settings and plan
        self.sweep_sessions += 1
        self.sweep_last_t = event.t

    @handles(SweepConfigStarted)
    def on_sweep_config_start(self, event: SweepConfigStarted) -> None:
        self.sweep_running[event.config_id] = event
        self.sweep_last_t = event.t

    @handles(SweepConfigResult)
    def on_sweep_result(self, event: SweepConfigResult) -> None:
        self.sweep_results[event.config_id] = event
        self.sweep_running.pop(event.config_id, None)
        self.sweep_last_t = event.t

    def run_outputs(self) -> frozenset[str]:
        return self.outputs if self.sweep_started is not None else frozenset()

    def sweep_meta(self) -> dict[str, Any]:
        assert self.sweep_started is not None
        results = list(self.sweep_results.values())
        planned = [c["config_id"] for c in self.sweep_started.configs]
        ok = sum(r.status == "ok" for r in results)
        return {
            "generated_utc": utc(self.sweep_last_t),
            "settings": self.sweep_started.settings,
            "batch_targets": self.sweep_started.batch_targets,
            "sessions": self.sweep_sessions,
            "configs_planned": len(planned),
            "configs_done": len(results),
            "ok": ok,
            "error": len(results) - ok,
            "pending": [c for c in planned if c not in self.sweep_results],
            "interrupted": sorted(self.sweep_running),
        }

    def finish(self, out: DerivedFiles) -> None:
        if self.sweep_started is None:
            return  # not a sweep run
        results = list(self.sweep_results.values())
        meta = self.sweep_meta()
        out.write_bytes(PACKETS, packets_jsonl(results))
        out.write_bytes(SUMMARY_CSV, summary_csv(results))
        out.write_bytes(FAILURES, failures_json(results))
        out.write_bytes(META, meta_json(meta))
        out.write_bytes(SUMMARY_MD, summary_md(meta, results))
        rows = db_rows(results, run_tag=self.sweep_run_id)
        out.write_bytes(DB_JSONL, db_jsonl(rows))
        out.write_bytes(DB_CSV, db_csv(rows))

    def snapshot(self) -> dict[str, Any]:
        if self.sweep_started is None:
            return {}
        meta = self.sweep_meta()
        snap: dict[str, Any] = {
            "configs": f"{meta['configs_done']}/{meta['configs_planned']}",
            "ok": meta["ok"],
            "error": meta["error"],
        }
        if self.sweep_running:
            snap["running"] = ", ".join(sorted(self.sweep_running))
        if self.sweep_results:
            last = list(self.sweep_results.values())[-1]
            snap["last"] = f"{last.config_id} {last.status}"
        return snap


def db_rows(results: list[SweepConfigResult], *, run_tag: str) -> list[dict[str, Any]]:
    """The published ``ant_ratio_db_row_v0`` rows of the sweep (no paths), in the database order.

    A row's time is its packet's ``generated_utc``, or when the configuration failed, the time
    its outcome was recorded: a row keeps its bytes when later configurations finish.
    """
    return sort_rows(
        db_row(r.packet, run_tag=run_tag, summary=csv_row(r), generated_utc=_row_time(r)) for r in results
    )


def _row_time(r: SweepConfigResult) -> str:
    return str((r.packet or {}).get("generated_utc") or utc(r.t))


class AntRatioDeriver(PacketDeriver, SweepDeriver):
    """The plugin's one deriver: packet runs get ``packet.json``, sweep runs the sweep outputs."""

    outputs = PacketDeriver.outputs | SweepDeriver.outputs

    def __init__(self) -> None:
        PacketDeriver.__init__(self)
        SweepDeriver.__init__(self)

    def run_outputs(self) -> frozenset[str]:
        return frozenset(PacketDeriver.run_outputs(self)) | SweepDeriver.run_outputs(self)

    def finish(self, out: DerivedFiles) -> None:
        PacketDeriver.finish(self, out)
        SweepDeriver.finish(self, out)

    def snapshot(self) -> dict[str, Any]:
        return {**PacketDeriver.snapshot(self), **SweepDeriver.snapshot(self)}
