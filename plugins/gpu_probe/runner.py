"""The probe's training loop, recorded step by step (ORIGINS 2.2 "Workload run" and "Timing").

Steps are timed as the original timed them: CUDA events on a GPU, ``perf_counter`` on CPU. The
only device synchronisation per step is the one the original had too (reading the loss to check
it is finite, which also completes the step's end event); recording a step is one ``emit``
after that, outside the timed region.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from vrx_core.log.writer import Recorder

from .args import ProbeArgs
from .events import ProbeDevice, ProbeMeasured, ProbeStep, ProbeVram, ProbeWatchdogArmed
from .stats import compute_stall_threshold_s, median_step_time
from .watchdog import Heartbeat
from .workload import Workload

#: The warmup median the original assumed when there is no warmup step.
NO_WARMUP_MEDIAN_S = 0.1
#: On CPU the watchdog is re-armed from the median of the first this-many measured steps.
REARM_AFTER = 5

Progress = Callable[[int], None]


def resolve_device(torch: Any, requested: str, force: str | None) -> str:
    """``auto``: the original's rule (``VRX_FORCE_DEVICE=cpu`` wins, then CUDA when available)."""
    if requested != "auto":
        return requested
    if (force or "").strip().lower() == "cpu":
        return "cpu"
    try:
        return "cuda" if bool(torch.cuda.is_available()) else "cpu"
    except Exception:
        return "cpu"


@dataclass
class Trainer:
    """One training step of spec section 4 on a fixed batch: Adam 1e-3, cross-entropy, backward."""

    model: Any
    opt: Any
    x: Any
    y: Any
    autocast: Callable[[], AbstractContextManager[Any]]
    scaler: Any
    forward: Any

    @classmethod
    def build(cls, torch: Any, workload: Workload, a: ProbeArgs, device: str, batch: int) -> Trainer:
        model = workload.model
        model.train(True)
        model.to(device=device)
        model.to(dtype=torch.float32)  # weights always fp32; precision is the autocast dtype
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x, y = workload.make_batch(batch, device)
        on_cuda_amp = device == "cuda" and a.amp == 1
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[a.precision]

        def autocast() -> AbstractContextManager[Any]:
            if on_cuda_amp:
                return torch.autocast(device_type="cuda", enabled=True, dtype=dtype)  # type: ignore[no-any-return]
            return nullcontext()

        scaler = torch.amp.GradScaler("cuda") if on_cuda_amp and a.precision == "fp16" else None
        forward = torch.compile(model) if a.compile else model
        return cls(model, opt, x, y, autocast, scaler, forward)

    def step(self) -> Any:
        import torch.nn.functional as F

        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.forward(self.x)
            logits = out[0] if isinstance(out, tuple | list) else out
            loss = F.cross_entropy(logits.float(), self.y)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            self.opt.step()
        return loss


class StepClock:
    """Times one step: CUDA event pairs on a GPU, perf_counter on CPU."""

    def __init__(self, torch: Any, device: str) -> None:
        self.torch = torch
        self.cuda = device == "cuda"
        self.mode = "cuda_events" if self.cuda else "perf_counter"

    def run(self, step: Callable[[], Any]) -> tuple[float, float]:
        """Run ``step``; return (its duration in s, the loss as a Python float)."""
        if self.cuda:
            start = self.torch.cuda.Event(enable_timing=True)
            end = self.torch.cuda.Event(enable_timing=True)
            start.record()
            loss = step()
            end.record()
            value = float(loss.item())  # the finite check's sync; it also completes `end`
            return float(start.elapsed_time(end)) / 1000.0, value
        t0 = time.perf_counter()
        loss = step()
        t1 = time.perf_counter()
        return t1 - t0, float(loss.item())

    def memory(self) -> dict[str, int | None]:
        if not self.cuda:
            return {}
        c = self.torch.cuda
        return {
            "mem_allocated_bytes": int(c.memory_allocated()),
            "mem_reserved_bytes": int(c.memory_reserved()),
            "mem_peak_allocated_bytes": int(c.max_memory_allocated()),
            "mem_peak_reserved_bytes": int(c.max_memory_reserved()),
        }

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()


class ProbeLoop:
    """Warmup, arm the watchdog, measure, read the VRAM peaks: each as events, in that order."""

    def __init__(
        self, rec: Recorder, a: ProbeArgs, batch: int, hb: Heartbeat, progress: Progress | None = None
    ) -> None:
        self.rec = rec
        self.a = a
        self.batch = batch
        self.hb = hb
        self.progress = progress
        self.done = 0

    def run(self, torch: Any, device: str, workload: Callable[[], Workload]) -> None:
        clock = StepClock(torch, device)
        self.rec.emit(ProbeDevice(device=device, step_time_mode=clock.mode))
        trainer = Trainer.build(torch, workload(), self.a, device, self.batch)
        self._arm(self._warmup(trainer, clock))
        if clock.cuda:
            torch.cuda.reset_peak_memory_stats()
        clock.sync()
        t0 = time.perf_counter()
        if not self._measure(trainer, clock):
            return  # stalled: the metrics are those of the stall
        clock.sync()
        self.rec.emit(ProbeMeasured(wall_time_s=time.perf_counter() - t0))
        if clock.cuda:
            self._vram(torch)

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done)

    def _warmup(self, trainer: Trainer, clock: StepClock) -> list[float]:
        durations: list[float] = []
        for i in range(self.a.warmup_steps):
            secs, loss = clock.run(trainer.step)
            self.hb.progress()
            finite = self._emit_step(clock, "warmup", i, (secs, loss))
            self._tick()
            if not finite:
                break  # the original stops warming up; the measure window still runs
            durations.append(secs)
        return durations

    def _arm(self, warmup: list[float]) -> None:
        a = self.a
        if a.debug_self_test:
            threshold, basis = a.debug_stall_threshold_s, "debug"
        else:
            median = median_step_time(warmup) if warmup else NO_WARMUP_MEDIAN_S
            threshold, basis = compute_stall_threshold_s(median), "warmup"
        self.hb.arm(threshold)
        self.rec.emit(ProbeWatchdogArmed(threshold_s=threshold, basis=basis))  # type: ignore[arg-type]

    def _measure(self, trainer: Trainer, clock: StepClock) -> bool:
        a = self.a
        durations: list[float] = []
        for i in range(a.measure_steps):
            secs, loss = clock.run(trainer.step)
            self.hb.progress()
            durations.append(secs)
            finite = self._emit_step(clock, "measure", i, (secs, loss))
            if a.debug_self_test and i == a.debug_stall_after_step:
                time.sleep(a.debug_stall_s)
            if self.hb.stalled.is_set():
                return False
            self._tick()
            if not finite:
                break
            if i == REARM_AFTER - 1 and not a.debug_self_test and not clock.cuda:
                threshold = compute_stall_threshold_s(median_step_time(durations))
                self.hb.arm(threshold)
                self.rec.emit(ProbeWatchdogArmed(threshold_s=threshold, basis="measure"))
        return True

    def _emit_step(self, clock: StepClock, phase: str, index: int, timed: tuple[float, float]) -> bool:
        """Record one step; return whether its loss was finite."""
        secs, loss = timed
        finite = math.isfinite(loss)
        self.rec.emit(
            ProbeStep(phase=phase, index=index, step_time_s=secs, loss=loss, finite=finite, **clock.memory())  # type: ignore[arg-type]
        )
        return finite

    def _vram(self, torch: Any) -> None:
        reserved: int | None = None
        try:
            reserved = int(torch.cuda.max_memory_reserved())
            allocated = int(torch.cuda.max_memory_allocated())
        except Exception as exc:
            # The original kept a reserved peak it had read before the allocated one failed.
            self.rec.emit(ProbeVram(peak_reserved_bytes=reserved, error=f"{type(exc).__name__}: {exc}"))
            return
        self.rec.emit(ProbeVram(peak_reserved_bytes=reserved, peak_allocated_bytes=allocated))
