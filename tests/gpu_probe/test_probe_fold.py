"""ProbeFold: the original probe's metrics dict, rebuilt from hand-made event sequences.

Each scenario follows the original's control flow (``gpu_capacity_probe.py`` at 8a1fb62e): the
events a runner records for it, and the dict the original would have written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from vrx_core.events import Event, Metric
from vrx_core.hooks.api import DerivedFiles
from vrx_plugins.gpu_probe.derive import ProbeDeriver, probe_snapshot
from vrx_plugins.gpu_probe.events import (
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
from vrx_plugins.gpu_probe.fold import ProbeFold

#: The original's ``metrics`` dict keys, in its insertion order (the CSV's column order).
# fmt: off
ORIGINAL_KEYS = [
    "batch_size", "seq_len", "warmup_steps", "measure_steps", "measure_wall_time_s",
    "median_step_time_s", "p95_step_time_s", "throughput_samples_per_s", "throughput_tokens_per_s",
    "peak_vram_reserved_bytes", "peak_vram_allocated_bytes", "had_oom", "had_nan", "had_inf",
    "stability_pass", "fail_reasons",
    # the original's extras
    "workload_id", "probe_id", "synth_len", "out_dim", "device", "precision", "amp",
    "vram_guard_ratio", "heartbeat_stall_detected", "heartbeat_stall_threshold_s",
    "heartbeat_last_progress_age_s", "step_time_mode", "runtime_exception_msg",
    "debug_stall_after_step", "debug_stall_s", "debug_stall_threshold_s",
]
# fmt: on
CONTRACT_KEYS = ORIGINAL_KEYS[:16]

WL = "wl_v1_0123456789ab"
SPEC: dict[str, Any] = {
    "schema_version": "workload_schema_v1",
    "ant_spec": {"ring_len": 32, "slot_dim": 16, "ptr_dtype": "fp32", "precision": "fp32"},
    "colony_spec": {
        "seq_len": 8,
        "synth_len": 4,
        "batch_size": 2,
        "ptr_update_every": 1,
        "state_loop_samples": 0,
    },
}


def started(**overrides: Any) -> ProbeStarted:
    fields: dict[str, Any] = {
        "argv": ["vrx", "probe", "run", "--ant", "{}"],
        "resolved_spec": SPEC,
        "canonical_spec": SPEC,
        "workload_id": WL,
        "probe_id": f"{WL}__E1__fp32_amp0",
        "out_dim": 1,
        "warmup_steps": 2,
        "measure_steps": 3,
        "precision": "fp32",
        "amp": 0,
    }
    fields.update(overrides)
    return ProbeStarted(**fields)


def env(total: int | None = None) -> ProbeEnv:
    return ProbeEnv(env={"env_schema_version": "v1", "total_vram_bytes": total, "errors": []})


def step(phase: str, index: int, secs: float, loss: float = 1.0, **mem: int) -> ProbeStep:
    return ProbeStep(
        phase=phase,  # type: ignore[arg-type]
        index=index,
        step_time_s=secs,
        loss=loss,
        finite=math.isfinite(loss),
        **mem,
    )


def cpu_prelude(**start: Any) -> list[Event]:
    """Start, env without a GPU, device, two finite warmup steps, the warmup arming."""
    return [
        started(**start),
        env(),
        ProbeDevice(device="cpu", step_time_mode="perf_counter"),
        step("warmup", 0, 0.2),
        step("warmup", 1, 0.1),
        ProbeWatchdogArmed(threshold_s=60.0, basis="warmup"),
    ]


def measure(*durs: float) -> list[Event]:
    return [step("measure", i, d) for i, d in enumerate(durs)]


END = ProbeEnded(armed=True, threshold_s=60.0, last_progress_age_s=0.25, stalled=False)


def fold_of(events: Iterable[Event]) -> ProbeFold:
    fold = ProbeFold()
    for ev in events:
        fold.add(ev)
    return fold


def metrics_of(events: Iterable[Event]) -> dict[str, Any]:
    fold = fold_of(events)
    assert fold.finished
    return fold.metrics()


# -- the whole dict ---------------------------------------------------------------------------


def test_cpu_pass_whole_dict_in_the_original_order() -> None:
    m = metrics_of([*cpu_prelude(), *measure(0.1, 0.12, 0.11), ProbeMeasured(wall_time_s=0.4), END])
    assert list(m) == ORIGINAL_KEYS
    assert m == {
        "batch_size": 2,
        "seq_len": 8,
        "warmup_steps": 2,
        "measure_steps": 3,
        "measure_wall_time_s": 0.4,
        "median_step_time_s": 0.11,
        "p95_step_time_s": 0.11,  # int(0.95 * 2) = 1: the middle of three
        "throughput_samples_per_s": 3 * 2 / 0.4,
        "throughput_tokens_per_s": float(3 * 2 / 0.4) * 8.0,
        "peak_vram_reserved_bytes": None,
        "peak_vram_allocated_bytes": None,
        "had_oom": False,
        "had_nan": False,
        "had_inf": False,
        "stability_pass": True,
        "fail_reasons": [],
        "workload_id": WL,
        "probe_id": f"{WL}__E1__fp32_amp0",
        "synth_len": 4,
        "out_dim": 1,
        "device": "cpu",
        "precision": "fp32",
        "amp": 0,
        "vram_guard_ratio": 0.92,
        "heartbeat_stall_detected": False,
        "heartbeat_stall_threshold_s": 60.0,
        "heartbeat_last_progress_age_s": 0.25,
        "step_time_mode": "perf_counter",
        "runtime_exception_msg": None,
        "debug_stall_after_step": -1,
        "debug_stall_s": 0.0,
        "debug_stall_threshold_s": 0.0,
    }
    assert set(CONTRACT_KEYS) <= set(m)


def test_initial_dict_before_any_compute() -> None:
    fold = fold_of([started(), env()])
    assert not fold.finished
    m = fold.metrics()
    assert list(m) == ORIGINAL_KEYS
    assert m["stability_pass"] is True and m["fail_reasons"] == []
    assert m["device"] is None and m["step_time_mode"] is None
    assert m["heartbeat_stall_threshold_s"] is None


# -- the gates ----------------------------------------------------------------------------------


def test_nan_in_warmup_fails_but_measure_still_runs() -> None:
    events = cpu_prelude()
    events[4] = step("warmup", 1, 0.1, loss=math.nan)
    m = metrics_of([*events, *measure(0.1, 0.1, 0.1), ProbeMeasured(wall_time_s=0.3), END])
    assert m["fail_reasons"] == ["nan_or_inf"]
    assert (m["had_nan"], m["had_inf"], m["stability_pass"]) == (True, False, False)
    assert m["throughput_samples_per_s"] == 3 * 2 / 0.3  # the window itself was complete
    assert m["median_step_time_s"] == 0.1


def test_nan_in_warmup_is_left_out_of_the_warmup_durations() -> None:
    fold = fold_of([started(), step("warmup", 0, 0.2), step("warmup", 1, 9.0, loss=math.inf)])
    assert fold.steps.warmup_durations == [0.2]
    assert fold.steps.warmup_done == 2


def test_inf_in_measure_aborts_the_window() -> None:
    bad = step("measure", 1, 0.5, loss=-math.inf)
    m = metrics_of([*cpu_prelude(), step("measure", 0, 0.1), bad, ProbeMeasured(wall_time_s=0.6), END])
    assert m["fail_reasons"] == ["nan_or_inf", "timing_missing"]
    assert (m["had_nan"], m["had_inf"]) == (False, True)
    # the aborted step's duration still counts; the window has no wall time or throughput
    assert m["median_step_time_s"] == 0.5 and m["p95_step_time_s"] == 0.1
    assert m["measure_wall_time_s"] is None
    assert m["throughput_samples_per_s"] is None and m["throughput_tokens_per_s"] is None


def test_nan_in_both_phases_is_reported_twice() -> None:
    events = cpu_prelude()
    events[3] = step("warmup", 0, 0.1, loss=math.nan)
    del events[4]  # the original stops warming up at the first non-finite loss
    m = metrics_of([*events, step("measure", 0, 0.1, loss=math.nan), ProbeMeasured(wall_time_s=0.1), END])
    assert m["fail_reasons"] == ["nan_or_inf", "nan_or_inf", "timing_missing"]


def test_step_time_explosion() -> None:
    durs = [0.1] * 17 + [1.0] * 3  # 20 steps: p95 is sorted[int(0.95 * 19)] = sorted[18] = 1.0
    m = metrics_of([*cpu_prelude(measure_steps=20), *measure(*durs), ProbeMeasured(wall_time_s=5.0), END])
    assert (m["median_step_time_s"], m["p95_step_time_s"]) == (0.1, 1.0)
    assert m["fail_reasons"] == ["step_time_explosion"]
    assert m["throughput_samples_per_s"] == 20 * 2 / 5.0


def test_one_slow_step_of_twenty_is_no_explosion() -> None:
    durs = [0.1] * 19 + [1.0]  # sorted[18] is still 0.1: the floor index ignores the slowest step
    m = metrics_of([*cpu_prelude(measure_steps=20), *measure(*durs), ProbeMeasured(wall_time_s=5.0), END])
    assert m["fail_reasons"] == [] and m["stability_pass"] is True


def test_timing_missing_when_fewer_steps_were_timed() -> None:
    m = metrics_of([*cpu_prelude(), *measure(0.1, 0.1), ProbeMeasured(wall_time_s=0.2), END])
    assert m["fail_reasons"] == ["timing_missing"]
    assert m["median_step_time_s"] == 0.1
    # the window was not aborted by a NaN, so the original still reported its throughput
    assert m["throughput_samples_per_s"] == 3 * 2 / 0.2


def test_zero_wall_time_has_no_throughput() -> None:
    m = metrics_of([*cpu_prelude(), *measure(0.0, 0.0, 0.0), ProbeMeasured(wall_time_s=0.0), END])
    assert m["measure_wall_time_s"] == 0.0
    assert m["throughput_samples_per_s"] is None
    assert m["fail_reasons"] == []  # a zero median never trips the explosion gate


def cuda_run(total: int | None, vram: ProbeVram) -> list[Event]:
    mem = {"mem_reserved_bytes": 500, "mem_allocated_bytes": 300}
    return [
        started(precision="fp16", amp=1),
        env(total),
        ProbeDevice(device="cuda", step_time_mode="cuda_events"),
        step("warmup", 0, 0.01, **mem),
        ProbeWatchdogArmed(threshold_s=60.0, basis="warmup"),
        *(step("measure", i, 0.01, mem_peak_reserved_bytes=900, **mem) for i in range(3)),
        ProbeMeasured(wall_time_s=0.03),
        vram,
        END,
    ]


def test_cuda_peaks_and_the_guard() -> None:
    m = metrics_of(cuda_run(1000, ProbeVram(peak_reserved_bytes=921, peak_allocated_bytes=700)))
    assert (m["peak_vram_reserved_bytes"], m["peak_vram_allocated_bytes"]) == (921, 700)
    assert m["fail_reasons"] == ["vram_guard"]  # 921 > int(0.92 * 1000) = 920
    assert (m["device"], m["step_time_mode"]) == ("cuda", "cuda_events")


def test_cuda_peak_at_the_guard_passes() -> None:
    m = metrics_of(cuda_run(1000, ProbeVram(peak_reserved_bytes=920, peak_allocated_bytes=700)))
    assert m["fail_reasons"] == [] and m["stability_pass"] is True


def test_guard_ratio_comes_from_the_start() -> None:
    events = cuda_run(1000, ProbeVram(peak_reserved_bytes=910, peak_allocated_bytes=700))
    events[0] = started(precision="fp16", amp=1, vram_guard_ratio=0.90)
    m = metrics_of(events)
    assert m["vram_guard_ratio"] == 0.90 and m["fail_reasons"] == ["vram_guard"]


def test_guard_needs_the_total_from_env() -> None:
    m = metrics_of(cuda_run(None, ProbeVram(peak_reserved_bytes=10**12, peak_allocated_bytes=1)))
    assert m["fail_reasons"] == []


def test_vram_stats_failed() -> None:
    m = metrics_of(cuda_run(1000, ProbeVram(error="RuntimeError: no allocator")))
    assert m["fail_reasons"] == ["vram_stats_failed"]
    assert m["peak_vram_reserved_bytes"] is None and m["peak_vram_allocated_bytes"] is None


def test_vram_read_failing_after_the_reserved_peak() -> None:
    m = metrics_of(cuda_run(1000, ProbeVram(peak_reserved_bytes=950, error="RuntimeError: x")))
    assert m["peak_vram_reserved_bytes"] == 950 and m["peak_vram_allocated_bytes"] is None
    assert m["fail_reasons"] == ["vram_stats_failed", "vram_guard"]


def test_runtime_exception_not_oom() -> None:
    err = ProbeError(exception_type="ValueError", message="ValueError: bad shape", oom=False)
    m = metrics_of([*cpu_prelude(), step("measure", 0, 0.1), err, END])
    assert m["fail_reasons"] == ["runtime_exception"]
    assert m["runtime_exception_msg"] == "ValueError: bad shape"
    assert m["had_oom"] is False
    assert m["median_step_time_s"] is None and m["measure_wall_time_s"] is None  # never computed


def test_cuda_oom_message() -> None:
    msg = "OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB"
    err = ProbeError(exception_type="OutOfMemoryError", message=msg, oom=True)
    m = metrics_of(
        [started(), env(80 * 2**30), ProbeDevice(device="cuda", step_time_mode="cuda_events"), err, END]
    )
    assert m["fail_reasons"] == ["runtime_exception", "oom"]
    assert m["had_oom"] is True and m["runtime_exception_msg"] == msg


def test_cpu_memory_error_counts_as_oom() -> None:
    err = ProbeError(exception_type="MemoryError", message="MemoryError: ", oom=True)
    m = metrics_of([*cpu_prelude(), err, END])
    assert m["fail_reasons"] == ["runtime_exception", "oom"]
    assert m["had_oom"] is True and m["runtime_exception_msg"] == "MemoryError: "


def test_error_before_the_device_leaves_it_null() -> None:
    err = ProbeError(exception_type="ModuleNotFoundError", message="ModuleNotFoundError: torch", oom=False)
    m = metrics_of(
        [
            started(),
            env(),
            err,
            ProbeEnded(armed=False, threshold_s=60.0, last_progress_age_s=0.5, stalled=False),
        ]
    )
    assert m["device"] is None and m["step_time_mode"] is None
    assert m["heartbeat_stall_threshold_s"] is None  # never armed: the snapshot leaves it alone
    assert m["heartbeat_last_progress_age_s"] == 0.5


# -- the watchdog ------------------------------------------------------------------------------


def debug_prelude() -> list[Event]:
    return [
        started(debug_stall_after_step=0, debug_stall_s=2.0, debug_stall_threshold_s=1.0, measure_steps=100),
        env(),
        ProbeDevice(device="cpu", step_time_mode="perf_counter"),
        step("warmup", 0, 0.1),
        ProbeWatchdogArmed(threshold_s=1.0, basis="debug"),
        step("measure", 0, 0.1),
    ]


def test_stall_freezes_the_metrics() -> None:
    stall = ProbeStall(threshold_s=1.0, last_progress_age_s=1.5)
    at_stall = fold_of([*debug_prelude(), stall]).metrics()
    later = [
        step("measure", 1, 9.0, loss=math.nan),
        ProbeError(exception_type="RuntimeError", message="RuntimeError: late", oom=False),
        ProbeMeasured(wall_time_s=3.0),
        ProbeVram(error="x"),
        ProbeEnded(armed=True, threshold_s=5.0, last_progress_age_s=9.0, stalled=True),
    ]
    fold = fold_of([*debug_prelude(), stall, *later])
    assert fold.finished and fold.stalled
    assert fold.metrics() == at_stall
    m = at_stall
    assert m["heartbeat_stall_detected"] is True
    assert (m["heartbeat_stall_threshold_s"], m["heartbeat_last_progress_age_s"]) == (1.0, 1.5)
    assert m["fail_reasons"] == ["heartbeat_stall"] and m["stability_pass"] is False
    assert m["median_step_time_s"] is None  # the original's stats come after the loop it left
    assert m["debug_stall_after_step"] == 0


def test_cpu_rearm_after_five_measured_steps() -> None:
    events = [*cpu_prelude(measure_steps=6), *measure(0.1, 0.1, 0.1, 0.1, 0.1)]
    events += [ProbeWatchdogArmed(threshold_s=60.0, basis="measure"), step("measure", 5, 0.1)]
    fold = fold_of(events)
    assert fold.metrics()["heartbeat_stall_threshold_s"] == 60.0


def test_final_heartbeat_snapshot() -> None:
    base = [*cpu_prelude(), *measure(0.1, 0.1, 0.1), ProbeMeasured(wall_time_s=0.3)]
    armed = metrics_of(
        [*base, ProbeEnded(armed=True, threshold_s=70.0, last_progress_age_s=0.1, stalled=False)]
    )
    assert armed["heartbeat_stall_threshold_s"] == 70.0 and armed["heartbeat_last_progress_age_s"] == 0.1
    stalled = metrics_of(
        [*base, ProbeEnded(armed=True, threshold_s=60.0, last_progress_age_s=0.1, stalled=True)]
    )
    assert stalled["heartbeat_stall_detected"] is True
    assert stalled["fail_reasons"] == []  # the final snapshot sets the flag only, as the original did


def test_events_after_the_end_change_nothing() -> None:
    done = [*cpu_prelude(), *measure(0.1, 0.1, 0.1), ProbeMeasured(wall_time_s=0.3), END]
    m = metrics_of(done)
    assert metrics_of([*done, ProbeStall(threshold_s=60.0, last_progress_age_s=61.0)]) == m


def test_events_before_the_start_and_other_kinds_are_ignored() -> None:
    fold = fold_of([step("measure", 0, 9.0, loss=math.nan), Metric("loss", 1.0, 1), *cpu_prelude()])
    assert fold.metrics()["fail_reasons"] == []
    assert fold.steps.measure_done == 0


def test_not_a_probe_run_has_no_metrics() -> None:
    with pytest.raises(RuntimeError, match=r"no probe\.start"):
        ProbeFold().metrics()


# -- vrx extras ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "extras"),
    [
        ({}, None),
        ({"variant": "compact"}, {"variant": "compact", "compile": False, "model": None}),
        ({"compile": True}, {"variant": "dense", "compile": True, "model": None}),
        ({"model": "pkg.models:make"}, {"variant": "dense", "compile": False, "model": "pkg.models:make"}),
    ],
)
def test_extras_keys_only_for_a_non_default_workload(
    overrides: dict[str, Any], extras: dict[str, Any] | None
) -> None:
    m = metrics_of([*cpu_prelude(**overrides), *measure(0.1, 0.1, 0.1), ProbeMeasured(wall_time_s=0.3), END])
    if extras is None:
        assert list(m) == ORIGINAL_KEYS
    else:
        assert list(m) == [*ORIGINAL_KEYS, "variant", "compile", "model"]
        assert {k: m[k] for k in extras} == extras


# -- the deriver: which files, and the live snapshot ---------------------------------------------


def derive(events: Iterable[Event], tmp_path: Path) -> dict[str, bytes]:
    d = ProbeDeriver()
    for ev in events:
        d.fold.add(ev)
    out = DerivedFiles(plugin="gpu_probe", out_dir=tmp_path, declared=frozenset(d.run_outputs()))
    d.finish(out)
    return out.files


def test_files_per_kind_of_run(tmp_path: Path) -> None:
    full = [*cpu_prelude(), *measure(0.1, 0.1, 0.1), ProbeMeasured(wall_time_s=0.3), END]
    assert derive([Metric("loss", 1.0, 1)], tmp_path) == {}
    assert set(derive([started()], tmp_path)) == {"run_cmd.txt"}
    assert set(derive(full[:4], tmp_path)) == {"run_cmd.txt", "env.json"}  # killed mid-way
    assert set(derive(full, tmp_path)) == {
        "run_cmd.txt",
        "env.json",
        "metrics.json",
        "metrics.csv",
        "summary.md",
    }
    stalled = [*debug_prelude(), ProbeStall(threshold_s=1.0, last_progress_age_s=1.5)]
    assert "metrics.json" in derive(stalled, tmp_path)


def test_snapshot_is_flat_and_short() -> None:
    assert probe_snapshot(ProbeFold()) == {}
    snap = probe_snapshot(fold_of([*cpu_prelude(), step("measure", 0, 0.1), step("measure", 1, 0.3)]))
    assert all(not isinstance(v, dict) for v in snap.values())
    assert len(snap) <= 12  # vrx tail's live view shows a plugin's first 12 rows
    assert snap["status"] == "running" and snap["phase"] == "measure" and snap["step"] == 1
    assert snap["steps"] == "warmup 2/2, measure 2/3"
    assert (snap["median_step_time_s"], snap["p95_step_time_s"]) == (0.3, 0.1)
    assert snap["samples_per_s"] == 2 / 0.3 and snap["tokens_per_s"] == 2 / 0.3 * 8
    assert snap["gates"] == []
    assert not any(k.startswith("vram") for k in snap)  # CPU: no allocator figures


def test_snapshot_in_warmup_uses_warmup_steps() -> None:
    snap = probe_snapshot(fold_of([started(), step("warmup", 0, 0.2)]))
    assert snap["phase"] == "warmup" and snap["median_step_time_s"] == 0.2


def test_snapshot_shows_gates_before_the_window_closes() -> None:
    events = cuda_run(1000, ProbeVram(peak_reserved_bytes=1, peak_allocated_bytes=1))[:6]
    events.append(
        step("measure", 1, 0.01, loss=math.nan, mem_reserved_bytes=600, mem_peak_reserved_bytes=990)
    )
    snap = probe_snapshot(fold_of(events))
    assert snap["status"] == "FAIL"
    assert snap["gates"] == ["nan_or_inf", "vram_guard"]
    assert snap["vram_peak_reserved_bytes"] == 990 and snap["vram_reserved_bytes"] == 600
    assert len(snap) <= 12  # every row fits vrx tail's live view, VRAM included


def test_snapshot_when_finished() -> None:
    fold = fold_of([*cpu_prelude(), *measure(0.1, 0.1, 0.1), ProbeMeasured(wall_time_s=0.4), END])
    snap = probe_snapshot(fold)
    assert snap["status"] == "PASS" and snap["phase"] == "done"
    assert snap["samples_per_s"] == 3 * 2 / 0.4  # the window's own figure once it closed
