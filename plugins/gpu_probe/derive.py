"""The probe deriver: a probe run's events -> the original's five artifacts, and a live snapshot.

Which files a run gets follows when the original wrote them:

- a probe run (one with ``probe.start``) always gets ``run_cmd.txt``, and ``env.json`` once its
  environment was recorded: the original wrote both before any compute;
- ``metrics.json``, ``metrics.csv`` and ``summary.md`` only for a finished run (``probe.end`` or
  ``probe.stall``): a run killed mid-way left the original with the pre-run files alone;
- any other run gets nothing, so other plugins may write ``metrics.json`` for their own runs.
"""

from __future__ import annotations

from typing import Any

from vrx_core.hooks.api import DerivedFiles, Deriver, handles

from . import stats
from .events import (
    ProbeDevice,
    ProbeEnded,
    ProbeEnv,
    ProbeError,
    ProbeMeasured,
    ProbeStall,
    ProbeStarted,
    ProbeStep,
    ProbeVram,
    ProbeWatchdogArmed,
)
from .fold import OOM, STEP_TIME_EXPLOSION, VRAM_GUARD, ProbeFold
from .formats import env_json, metrics_csv, metrics_json, run_cmd_txt, status, summary_md

PRE_RUN = ("run_cmd.txt", "env.json")
POST_RUN = ("metrics.json", "metrics.csv", "summary.md")


class ProbeDeriver(Deriver):
    """probe.* events -> run_cmd.txt, env.json, metrics.json, metrics.csv, summary.md."""

    outputs = frozenset(PRE_RUN + POST_RUN)

    def __init__(self) -> None:
        self.fold = ProbeFold()

    @handles(ProbeStarted)
    def on_start(self, event: ProbeStarted) -> None:
        self.fold.on_start(event)

    @handles(ProbeEnv)
    def on_env(self, event: ProbeEnv) -> None:
        self.fold.on_env(event)

    @handles(ProbeDevice)
    def on_device(self, event: ProbeDevice) -> None:
        self.fold.on_device(event)

    @handles(ProbeStep)
    def on_step(self, event: ProbeStep) -> None:
        self.fold.on_step(event)

    @handles(ProbeWatchdogArmed)
    def on_watchdog_armed(self, event: ProbeWatchdogArmed) -> None:
        self.fold.on_watchdog_armed(event)

    @handles(ProbeMeasured)
    def on_measured(self, event: ProbeMeasured) -> None:
        self.fold.on_measured(event)

    @handles(ProbeVram)
    def on_vram(self, event: ProbeVram) -> None:
        self.fold.on_vram(event)

    @handles(ProbeError)
    def on_error(self, event: ProbeError) -> None:
        self.fold.on_error(event)

    @handles(ProbeStall)
    def on_stall(self, event: ProbeStall) -> None:
        self.fold.on_stall(event)

    @handles(ProbeEnded)
    def on_end(self, event: ProbeEnded) -> None:
        self.fold.on_end(event)

    def run_outputs(self) -> frozenset[str]:
        fold = self.fold
        if fold.started is None:
            return frozenset()  # not a probe run
        files = {"run_cmd.txt"}
        if fold.env is not None:
            files.add("env.json")
        if fold.finished:
            files.update(POST_RUN)
        return frozenset(files)

    def finish(self, out: DerivedFiles) -> None:
        fold = self.fold
        started = fold.started
        if started is None:
            return  # not a probe run
        out.write_bytes("run_cmd.txt", run_cmd_txt(started))
        if fold.env is not None:
            out.write_bytes("env.json", env_json(fold.env))
        if fold.finished:
            metrics = fold.metrics()
            out.write_bytes("metrics.json", metrics_json(metrics))
            out.write_bytes("metrics.csv", metrics_csv(metrics))
            out.write_bytes("summary.md", summary_md(metrics, started))

    def snapshot(self) -> dict[str, Any]:
        return probe_snapshot(self.fold)


# -- the live view ------------------------------------------------------------------------------
#
# Flat scalar keys, most important first: `vrx tail` shows a plugin's first 12 rows. Estimates
# ("so far") use the steps seen, so a watcher sees a gate coming before the window closes.


def probe_snapshot(fold: ProbeFold) -> dict[str, Any]:
    """What ``vrx tail`` shows of a probe run: progress, step times, throughput, VRAM, gates."""
    started = fold.started
    if started is None:
        return {}
    m = fold.metrics()
    log = fold.steps
    in_warmup = log.phase == "warmup"
    durs = log.warmup_durations if in_warmup else log.measure_durations
    med, p95 = stats.median_step_time(durs), stats.p95_step_time(durs)
    snap: dict[str, Any] = {
        "probe_id": started.probe_id,
        "status": _status(fold, m),
        "gates": _gates(fold, m, None if in_warmup else med, None if in_warmup else p95),
        "phase": _phase(fold),
        "step": log.index,
        "steps": f"warmup {log.warmup_done}/{started.warmup_steps}, "
        f"measure {log.measure_done}/{started.measure_steps}",
        "median_step_time_s": med,
        "p95_step_time_s": p95,
    }
    snap.update(_throughput(m, med))
    snap.update(_vram(fold))
    return snap


def _status(fold: ProbeFold, m: dict[str, Any]) -> str:
    """PASS or FAIL once final; FAIL as soon as a gate failed (no gate ever recovers); else running."""
    if fold.finished or not m["stability_pass"]:
        return status(m)
    return "running"


def _phase(fold: ProbeFold) -> str:
    if fold.stalled:
        return "stalled"
    if fold.ended:
        return "done"
    if fold.errored:
        return "error"
    return fold.steps.phase or "starting"


def _gates(fold: ProbeFold, m: dict[str, Any], med: float | None, p95: float | None) -> list[str]:
    """The reasons so far, plus the gates the measure steps seen so far would already trip."""
    gates = list(dict.fromkeys(m["fail_reasons"]))  # a reason twice (NaN in both phases) shows once
    if med is not None and p95 is not None and stats.is_step_time_explosion(med, p95):
        gates.append(STEP_TIME_EXPLOSION)
    peak = fold.steps.measure_peak_reserved_bytes
    if stats.vram_guard_fires(peak, fold.total_vram_bytes, m["vram_guard_ratio"]):
        gates.append(VRAM_GUARD)
    if m["had_oom"]:
        gates.append(OOM)
    return list(dict.fromkeys(gates))


def _throughput(m: dict[str, Any], med: float | None) -> dict[str, Any]:
    """The window's throughput once measured; before that, one batch per median step."""
    sps = m["throughput_samples_per_s"]
    if sps is None and med is not None and med > 0:
        sps = m["batch_size"] / med
    tps = None if sps is None else stats.throughput_tokens_per_s(sps, m["seq_len"])
    return {"samples_per_s": sps, "tokens_per_s": tps}


def _vram(fold: ProbeFold) -> dict[str, Any]:
    """Reserved memory after the last step and the peaks so far; omitted on CPU (all null).

    Current allocated memory is left out to keep a CUDA run's snapshot within 12 rows; reserved
    is what the guard judges.
    """
    log = fold.steps
    rows = {
        "vram_reserved_bytes": log.mem_reserved_bytes,
        "vram_peak_reserved_bytes": log.peak_reserved_bytes,
        "vram_peak_allocated_bytes": log.peak_allocated_bytes,
    }
    return {k: v for k, v in rows.items() if v is not None}
