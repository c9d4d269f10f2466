"""``ProbeFold``: the original probe's ``metrics`` dict, rebuilt from the run's events.

The original mutated one dict as its run went along and wrote it when the run ended (or from the
watchdog, at a stall). The fold applies the same mutations, in the same order, when the matching
event arrives, so the key order, the order of ``fail_reasons`` and which values stay null are the
original's (ORIGINS 2.2):

=====================  ======================================================================
``probe.start``        the initial dict (contract keys, then the extras)
``probe.device``       ``device`` and ``step_time_mode``
``probe.step``         a non-finite loss: ``had_nan``/``had_inf``, ``nan_or_inf``; in measure it
                       also aborts the window (``measured_ok`` False)
``probe.watchdog_armed``  ``heartbeat_stall_threshold_s``
``probe.measured``     ``timing_missing``, median/p95, ``step_time_explosion``, wall time and
                       throughputs (the last three only for a window that was not aborted)
``probe.vram``         peaks or ``vram_stats_failed``, then the VRAM guard
``probe.error``        ``runtime_exception`` (+ message), then ``oom``
``probe.stall``        the watchdog's fields and ``heartbeat_stall``; the dict is final
``probe.end``          the final heartbeat snapshot; the dict is final
=====================  ======================================================================

A stall or an end closes the fold: the original wrote its artifacts then, so later events
(a step that came back after the stall, say) change nothing.

vrx extras: ``variant``, ``compile`` and ``model`` are appended, in that order, after the
original's keys, and only for a run that is not the original's workload (a variant other than
``dense``, ``compile`` on, or a model of the user's own), so a default run's ``metrics.json`` has
exactly the original's 32 keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vrx_core.events import AnyEvent, Event

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

#: The original's reasons, by name, as ``fail_reasons`` spells them.
NAN_OR_INF = "nan_or_inf"
TIMING_MISSING = "timing_missing"
STEP_TIME_EXPLOSION = "step_time_explosion"
VRAM_STATS_FAILED = "vram_stats_failed"
VRAM_GUARD = "vram_guard"
RUNTIME_EXCEPTION = "runtime_exception"
OOM = "oom"
HEARTBEAT_STALL = "heartbeat_stall"

#: The vrx extras' keys, in the order they are appended (see the module docstring).
EXTRA_KEYS = ("variant", "compile", "model")


def initial_metrics(started: ProbeStarted) -> dict[str, Any]:
    """The original's dict before any compute: contract keys, then its extras, in its order."""
    colony = started.canonical_spec["colony_spec"]
    return {
        "batch_size": int(colony["batch_size"]),
        "seq_len": int(colony["seq_len"]),
        "warmup_steps": int(started.warmup_steps),
        "measure_steps": int(started.measure_steps),
        "measure_wall_time_s": None,
        "median_step_time_s": None,
        "p95_step_time_s": None,
        "throughput_samples_per_s": None,
        "throughput_tokens_per_s": None,
        "peak_vram_reserved_bytes": None,
        "peak_vram_allocated_bytes": None,
        "had_oom": False,
        "had_nan": False,
        "had_inf": False,
        "stability_pass": True,
        "fail_reasons": [],
        "workload_id": started.workload_id,
        "probe_id": started.probe_id,
        "synth_len": int(colony["synth_len"]),
        "out_dim": int(started.out_dim),
        "device": None,
        "precision": str(started.precision),
        "amp": int(started.amp),
        "vram_guard_ratio": float(started.vram_guard_ratio),
        "heartbeat_stall_detected": False,
        "heartbeat_stall_threshold_s": None,
        "heartbeat_last_progress_age_s": None,
        "step_time_mode": None,
        "runtime_exception_msg": None,
        "debug_stall_after_step": int(started.debug_stall_after_step),
        "debug_stall_s": float(started.debug_stall_s),
        "debug_stall_threshold_s": float(started.debug_stall_threshold_s),
    }


def has_extras(started: ProbeStarted) -> bool:
    """Whether the run differs from the original's workload, so its metrics name how."""
    return started.variant != "dense" or started.compile or started.model is not None


@dataclass
class StepLog:
    """What the steps so far show, for ``vrx tail``: counts, durations and allocator figures.

    Durations are kept as the original kept them (one float per step of the phase), because the
    median and p95 need them all; a probe has hundreds of steps, not millions.
    """

    phase: str | None = None
    index: int | None = None
    warmup_done: int = 0
    measure_done: int = 0
    warmup_durations: list[float] = field(default_factory=list)
    measure_durations: list[float] = field(default_factory=list)
    mem_reserved_bytes: int | None = None
    mem_allocated_bytes: int | None = None
    peak_reserved_bytes: int | None = None
    peak_allocated_bytes: int | None = None
    measure_peak_reserved_bytes: int | None = None

    def add(self, ev: ProbeStep) -> None:
        self.phase, self.index = ev.phase, ev.index
        if ev.phase == "warmup":
            self.warmup_done += 1
        else:
            self.measure_done += 1
        self.mem_reserved_bytes = ev.mem_reserved_bytes
        self.mem_allocated_bytes = ev.mem_allocated_bytes
        self.peak_reserved_bytes = _max(self.peak_reserved_bytes, ev.mem_peak_reserved_bytes)
        self.peak_allocated_bytes = _max(self.peak_allocated_bytes, ev.mem_peak_allocated_bytes)
        if ev.phase == "measure":
            self.measure_peak_reserved_bytes = _max(
                self.measure_peak_reserved_bytes, ev.mem_peak_reserved_bytes
            )


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


class ProbeFold:
    """The probe run's state, fed its events in seq order (``add``, or one method per kind).

    Events before ``probe.start`` are ignored (there is no dict to change yet), and so is
    everything after a stall or an end (:attr:`finished`).
    """

    def __init__(self) -> None:
        self.started: ProbeStarted | None = None
        self.env: dict[str, Any] | None = None
        self.steps = StepLog()
        self.measured_ok = True
        self.stalled = False
        self.errored = False
        self.ended = False
        self._metrics: dict[str, Any] | None = None
        self._step_time_mode: str | None = None

    # -- state ---------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether the original would have written its metrics (a stall or the run's end)."""
        return self.stalled or self.ended

    @property
    def total_vram_bytes(self) -> int | None:
        """``env.json``'s ``total_vram_bytes`` when it is an int (the guard's denominator)."""
        total = self.env.get("total_vram_bytes") if self.env is not None else None
        return total if isinstance(total, int) else None

    def metrics(self) -> dict[str, Any]:
        """A copy of the metrics dict in the original's key order, with the vrx extras if any."""
        m, started = self._live(), self._started()
        out = dict(m)
        out["fail_reasons"] = list(m["fail_reasons"])
        if has_extras(started):
            out.update(variant=started.variant, compile=started.compile, model=started.model)
        return out

    def _started(self) -> ProbeStarted:
        if self.started is None:
            raise RuntimeError("not a probe run: no probe.start was recorded")
        return self.started

    def _live(self) -> dict[str, Any]:
        if self._metrics is None:
            raise RuntimeError("not a probe run: no probe.start was recorded")
        return self._metrics

    def _open(self) -> dict[str, Any] | None:
        """The dict while events may still change it; None before the start or once final."""
        return None if self.finished else self._metrics

    def _fail(self, m: dict[str, Any], reason: str) -> None:
        m["stability_pass"] = False
        m["fail_reasons"].append(reason)

    # -- events --------------------------------------------------------------------------------

    def add(self, event: AnyEvent) -> None:
        """Fold any event; kinds that are not the probe's are ignored."""
        handler = _HANDLERS.get(type(event)) if isinstance(event, Event) else None
        if handler is not None:
            handler(self, event)

    def on_start(self, ev: ProbeStarted) -> None:
        if self.started is None:  # a second start (a resumed writer) does not reset the run
            self.started = ev
            self._metrics = initial_metrics(ev)

    def on_env(self, ev: ProbeEnv) -> None:
        if self._open() is not None:
            self.env = dict(ev.env)

    def on_device(self, ev: ProbeDevice) -> None:
        m = self._open()
        if m is not None:
            m["device"] = ev.device
            # The original set step_time_mode only when its warmup loop began: a model that
            # fails to build leaves it null. The first step or arming is that moment here.
            self._step_time_mode = ev.step_time_mode

    def _training_began(self, m: dict[str, Any]) -> None:
        if m["step_time_mode"] is None:
            m["step_time_mode"] = self._step_time_mode

    def on_step(self, ev: ProbeStep) -> None:
        m = self._open()
        if m is None:
            return
        self._training_began(m)
        self.steps.add(ev)
        if ev.phase == "warmup":
            if ev.finite:  # the original left a non-finite warmup step out of the warmup median
                self.steps.warmup_durations.append(ev.step_time_s)
        else:
            self.steps.measure_durations.append(ev.step_time_s)  # counted even when non-finite
        if not ev.finite:
            had_nan, had_inf = stats.nonfinite_flags(ev.loss)
            m["had_nan"] = m["had_nan"] or had_nan
            m["had_inf"] = m["had_inf"] or had_inf
            self._fail(m, NAN_OR_INF)
            if ev.phase == "measure":
                self.measured_ok = False

    def on_watchdog_armed(self, ev: ProbeWatchdogArmed) -> None:
        m = self._open()
        if m is not None:
            self._training_began(m)
            m["heartbeat_stall_threshold_s"] = float(ev.threshold_s)

    def on_measured(self, ev: ProbeMeasured) -> None:
        m = self._open()
        if m is None:
            return
        durs = self.steps.measure_durations
        measure_steps = int(m["measure_steps"])
        if len(durs) != measure_steps or not self.measured_ok:
            self._fail(m, TIMING_MISSING)
        med, p95 = stats.median_step_time(durs), stats.p95_step_time(durs)
        if med is not None and p95 is not None:
            m["median_step_time_s"], m["p95_step_time_s"] = med, p95
            if stats.is_step_time_explosion(med, p95):
                self._fail(m, STEP_TIME_EXPLOSION)
        if self.measured_ok and measure_steps > 0:  # an aborted window has no meaningful wall time
            self._throughput(m, float(ev.wall_time_s))

    def _throughput(self, m: dict[str, Any], wall: float) -> None:
        m["measure_wall_time_s"] = wall
        sps = stats.throughput_samples_per_s(m["measure_steps"], m["batch_size"], wall)
        if sps is not None:
            m["throughput_samples_per_s"] = sps
            m["throughput_tokens_per_s"] = stats.throughput_tokens_per_s(sps, m["seq_len"])

    def on_vram(self, ev: ProbeVram) -> None:
        m = self._open()
        if m is None:
            return
        # The original read reserved, then allocated, and failed at the first that raised.
        if ev.peak_reserved_bytes is not None:
            m["peak_vram_reserved_bytes"] = int(ev.peak_reserved_bytes)
        if ev.peak_allocated_bytes is not None:
            m["peak_vram_allocated_bytes"] = int(ev.peak_allocated_bytes)
        if ev.error is not None:
            self._fail(m, VRAM_STATS_FAILED)
        peak, ratio = m["peak_vram_reserved_bytes"], m["vram_guard_ratio"]
        if stats.vram_guard_fires(peak, self.total_vram_bytes, ratio):
            self._fail(m, VRAM_GUARD)

    def on_error(self, ev: ProbeError) -> None:
        m = self._open()
        if m is None:
            return
        self.errored = True
        self._fail(m, RUNTIME_EXCEPTION)
        m["runtime_exception_msg"] = ev.message
        if ev.oom:
            m["had_oom"] = True
            self._fail(m, OOM)

    def on_stall(self, ev: ProbeStall) -> None:
        m = self._open()
        if m is None:
            return
        m["heartbeat_stall_detected"] = True
        m["heartbeat_stall_threshold_s"] = float(ev.threshold_s)
        m["heartbeat_last_progress_age_s"] = float(ev.last_progress_age_s)
        self._fail(m, HEARTBEAT_STALL)
        self.stalled = True  # the original wrote its artifacts here and exited

    def on_end(self, ev: ProbeEnded) -> None:
        m = self._open()
        if m is None:
            return
        if ev.armed:  # an unarmed watchdog's threshold is its constructor default, never shown
            m["heartbeat_stall_threshold_s"] = float(ev.threshold_s)
        m["heartbeat_last_progress_age_s"] = float(ev.last_progress_age_s)
        m["heartbeat_stall_detected"] = bool(ev.stalled) or bool(m["heartbeat_stall_detected"])
        self.ended = True


_HANDLERS: dict[type[Event], Callable[[ProbeFold, Any], None]] = {
    ProbeStarted: ProbeFold.on_start,
    ProbeEnv: ProbeFold.on_env,
    ProbeDevice: ProbeFold.on_device,
    ProbeStep: ProbeFold.on_step,
    ProbeWatchdogArmed: ProbeFold.on_watchdog_armed,
    ProbeMeasured: ProbeFold.on_measured,
    ProbeVram: ProbeFold.on_vram,
    ProbeError: ProbeFold.on_error,
    ProbeStall: ProbeFold.on_stall,
    ProbeEnded: ProbeFold.on_end,
}
