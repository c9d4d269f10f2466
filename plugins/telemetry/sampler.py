"""GPU telemetry for any run: :class:`GpuSampler` samples NVML on a daemon thread into a Recorder.

>>> with Recorder("runs/a") as rec, GpuSampler(rec, interval_s=1.0):
...     train()

GPU telemetry is an extra, never a reason for a run to fail: without pynvml, without a driver, or
when NVML refuses, the sampler records one ``gpu.telemetry`` event saying why, prints one warning,
and the run goes on without it. A query that fails mid-run costs that field (None) and one warning
per device and error class; a lost GPU (``NVMLError_GpuIsLost``) is dropped and the others go on.

pynvml calls the NVML C library through ctypes, which releases the GIL for each call, so the
training thread keeps running while a tick waits on the driver; the Python work of a tick is a few
attribute reads and one ``emit`` per device.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from vrx_core.errors import VrxError
from vrx_core.events import Event
from vrx_core.log import diagnostics

from . import nvml as nv
from .events import GpuDeviceInfo, GpuQueryFailed, GpuSample, GpuTelemetryStatus, GpuTelemetryStopped
from .nvml import NOT_INSTALLED, describe_error, nvml_unavailable_reason

#: How long ``stop()`` waits for a tick in progress (an NVML call can block for seconds).
JOIN_TIMEOUT_S = 10.0


class EventSink(Protocol):
    """What the sampler records into: a :class:`vrx_core.Recorder`, or anything with its ``emit``."""

    def emit(self, event: Event) -> int: ...


@dataclass
class _Device:
    info: GpuDeviceInfo
    handle: Any
    lost: bool = False


@dataclass
class _TickStats:
    ticks: int = 0
    skipped: int = 0
    samples: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.ticks += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)


class GpuSampler:
    """Sample every ``interval_s`` seconds the NVML devices ``devices`` (default: all) into ``recorder``.

    A context manager, or ``start()`` / ``stop()``. After ``start()``, ``available`` and ``reason``
    tell whether NVML answered (``unavailable``: the same as one ``errors`` line). ``stop()`` joins
    the thread, records ``gpu.telemetry_stopped`` and shuts NVML down; it is idempotent.
    """

    def __init__(
        self, recorder: EventSink, *, interval_s: float = 1.0, devices: list[int] | None = None
    ) -> None:
        if isinstance(interval_s, bool) or not (isinstance(interval_s, int | float) and interval_s > 0):
            raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
        if not math.isfinite(interval_s):
            raise ValueError(f"interval_s must be finite, got {interval_s!r}")
        self.recorder = recorder
        self.interval_s = float(interval_s)
        self.devices = None if devices is None else [int(i) for i in devices]
        self.available = False
        self.reason: str | None = None
        self._nvml: Any = None
        # pynvml's error classes, resolved by start(); () matches no exception.
        self._not_supported: type[BaseException] | tuple[()] = ()
        self._gpu_lost: type[BaseException] | tuple[()] = ()
        self._devices: list[_Device] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stats = _TickStats()
        self._warned: set[tuple[int | None, str]] = set()
        self._held: list[Event] | None = None  # failures found by start(), recorded after the status
        self._started = self._stopped = self._sink_failed = False

    @property
    def unavailable(self) -> str | None:
        """After ``start()``: ``"nvml_unavailable: <reason>"``, one line for an ``errors`` list, or None."""
        return None if self.reason is None else f"nvml_unavailable: {self.reason}"

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> GpuSampler:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> GpuSampler:
        """Record the ``gpu.telemetry`` status and, when NVML answers, start the sampling thread."""
        if self._started:
            raise RuntimeError("this GpuSampler was already started; make a new one")
        self._started = True
        nvml = nv.import_nvml()
        if nvml is None:
            return self._unavailable(NOT_INSTALLED)
        reason = nv.init(nvml)
        if reason is not None:
            return self._unavailable(reason)
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except Exception as exc:  # NVML answered init but cannot enumerate: as good as absent
            nv.shutdown(nvml)
            return self._unavailable(describe_error(exc))
        self._nvml = nvml
        self._not_supported = nv.error_class(nvml, "NVMLError_NotSupported")
        self._gpu_lost = nv.error_class(nvml, "NVMLError_GpuIsLost")
        self._record_status(count)
        if self._devices:
            self._thread = threading.Thread(target=self._run, name="vrx-gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def _record_status(self, count: int) -> None:
        """Open the devices, then record the status, then what failed while opening them."""
        self._held = []
        self._devices = self._open_devices(count)
        driver = self._driver_version()
        held, self._held = self._held, None
        self.available = True
        devices = [d.info for d in self._devices]
        self.recorder.emit(
            GpuTelemetryStatus(
                available=True,
                interval_s=self.interval_s,
                driver_version=driver,
                device_count=count,
                devices=devices,
            )
        )
        for event in held:
            self.recorder.emit(event)

    def stop(self) -> None:
        """Stop sampling: join the thread, record ``gpu.telemetry_stopped``, shut NVML down."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self._nvml is None:
            return  # unavailable: nothing was started
        thread = self._thread
        if thread is not None:
            self._stop.set()
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                # Shutting NVML down under a call in progress could crash the process; leave both.
                diagnostics.get_logger().warning(
                    f"GPU sampler thread still in an NVML call after {JOIN_TIMEOUT_S:g} s; left running"
                )
                return
        s = self._stats
        self._emit(
            GpuTelemetryStopped(
                ticks=s.ticks,
                skipped_ticks=s.skipped,
                samples=s.samples,
                tick_mean_s=s.total_s / s.ticks if s.ticks else 0.0,
                tick_max_s=s.max_s,
            )
        )
        nv.shutdown(self._nvml)

    def _unavailable(self, reason: str) -> GpuSampler:
        self.reason = reason
        self.recorder.emit(GpuTelemetryStatus(available=False, interval_s=self.interval_s, reason=reason))
        diagnostics.get_logger().warning(f"GPU telemetry unavailable: {reason}; the run goes on without it")
        return self

    # -- discovery ------------------------------------------------------------------------------

    def _driver_version(self) -> str | None:
        try:
            return nv.text(self._nvml.nvmlSystemGetDriverVersion())
        except Exception as exc:
            self._failed(None, "driver_version", exc)
            return None

    def _open_devices(self, count: int) -> list[_Device]:
        wanted = range(count) if self.devices is None else sorted(set(self.devices))
        opened = (self._open_device(index) for index in wanted)
        return [d for d in opened if d is not None]

    def _open_device(self, index: int) -> _Device | None:
        nvml = self._nvml
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except Exception as exc:
            self._failed(index, "handle", exc, lost=isinstance(exc, self._gpu_lost))
            return None
        uuid = self._describe(index, "uuid", lambda: nv.text(nvml.nvmlDeviceGetUUID(handle)))
        name = self._describe(index, "name", lambda: nv.text(nvml.nvmlDeviceGetName(handle)))
        total = self._describe(index, "memory", lambda: int(nvml.nvmlDeviceGetMemoryInfo(handle).total))
        info = GpuDeviceInfo(index=index, uuid=uuid, name=name, memory_total_bytes=total)
        return _Device(info=info, handle=handle)

    def _describe(self, index: int, query: str, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except Exception as exc:
            if not isinstance(exc, self._not_supported):
                self._failed(index, query, exc)
            return None

    # -- sampling -------------------------------------------------------------------------------

    def _run(self) -> None:
        deadline = time.monotonic()
        while not self._stop.wait(max(0.0, deadline - time.monotonic())):
            began = time.perf_counter()
            try:
                self._tick()
            except Exception as exc:  # unexpected: one warning, not a thread traceback, and the run goes on
                diagnostics.get_logger().warning(f"GPU sampling stopped: {describe_error(exc)}")
                return
            self._stats.add(time.perf_counter() - began)
            if self._sink_failed or all(d.lost for d in self._devices):
                return
            deadline = self._next_deadline(deadline + self.interval_s)

    def _next_deadline(self, deadline: float) -> float:
        """Keep the ticks on the ``interval_s`` grid; a tick that overran skips the missed slots."""
        late = time.monotonic() - deadline
        if late <= 0:
            return deadline
        missed = math.floor(late / self.interval_s) + 1
        self._stats.skipped += missed
        return deadline + missed * self.interval_s

    def _tick(self) -> None:
        for device in self._devices:
            if device.lost:
                continue
            sample = self._read(device)
            if sample is not None and self._emit(sample):
                self._stats.samples += 1

    def _read(self, device: _Device) -> GpuSample | None:
        """The device's sample, or None when no query answered (nothing worth a line)."""
        index = device.info.index
        fields: dict[str, Any] = {}
        for query, read in nv.QUERIES:
            try:
                fields.update(read(self._nvml, device.handle))
            except Exception as exc:
                if isinstance(exc, self._not_supported):
                    continue
                device.lost = isinstance(exc, self._gpu_lost)
                self._failed(index, query, exc, lost=device.lost)
                if device.lost:
                    break
        if not fields:
            return None
        return GpuSample(index=index, uuid=device.info.uuid, **fields)

    # -- recording ------------------------------------------------------------------------------

    def _failed(self, index: int | None, query: str, exc: BaseException, *, lost: bool = False) -> None:
        """Record and warn once per device and error class; later ones only cost the field."""
        error = type(exc).__name__
        if (index, error) in self._warned:
            return
        self._warned.add((index, error))
        message = describe_error(exc)
        where = "GPU telemetry" if index is None else f"GPU {index}"
        consequence = "no longer sampled" if lost else "not repeated for this device and error"
        diagnostics.get_logger().warning(f"{where}: {query} query failed: {message}; {consequence}")
        event = GpuQueryFailed(query=query, error=error, message=nv.error_text(exc), index=index, lost=lost)
        if self._held is not None:
            self._held.append(event)
        else:
            self._emit(event)

    def _emit(self, event: Event) -> bool:
        """Record from the sampling thread; a recorder that refuses (closed, failed) ends sampling."""
        if self._sink_failed:
            return False
        try:
            self.recorder.emit(event)
        except VrxError as exc:
            self._sink_failed = True
            diagnostics.get_logger().warning(f"GPU sampling stopped: the recorder refused an event: {exc}")
            return False
        return True


__all__ = ["NOT_INSTALLED", "EventSink", "GpuSampler", "describe_error", "nvml_unavailable_reason"]
