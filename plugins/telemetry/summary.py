"""Per-device summary of GPU telemetry events: pure, deterministic, a fold over the events in seq order.

:class:`TelemetrySummary` keeps running counts, sums and extremes, never the samples, so its state
is proportional to the devices and sampler sessions, not to the length of the run. ``to_dict()``
is the content of ``gpu_telemetry.json`` (docs/telemetry.md); ``snapshot()`` the current readings
``vrx tail`` shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vrx_core.events import Event

from .events import GpuDeviceInfo, GpuQueryFailed, GpuSample, GpuTelemetryStatus, GpuTelemetryStopped

SCHEMA = "vrx.gpu_telemetry.v1"
#: The GpuSample fields summarised as min/mean/max, in the order the docs list them.
METRICS: tuple[str, ...] = (
    "utilization_gpu_percent",
    "utilization_memory_percent",
    "memory_used_bytes",
    "power_w",
    "temperature_c",
    "sm_clock_mhz",
)
_MIB = 1024 * 1024


@dataclass
class MetricStats:
    """Count, min, max and running sum of one metric (None readings are not counted)."""

    count: int = 0
    total: float = 0
    min: float | None = None
    max: float | None = None

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)

    def to_dict(self) -> dict[str, Any]:
        mean = self.total / self.count if self.count else None
        return {"count": self.count, "min": self.min, "mean": mean, "max": self.max}


@dataclass
class DeviceSummary:
    """One device (NVML index and UUID) over the whole run."""

    index: int
    uuid: str | None
    name: str | None = None
    memory_total_bytes: int | None = None
    samples: int = 0
    first_t: float | None = None
    last_t: float | None = None
    lost: bool = False
    metrics: dict[str, MetricStats] = field(default_factory=lambda: {m: MetricStats() for m in METRICS})
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add_sample(self, sample: GpuSample) -> None:
        self.samples += 1
        if self.first_t is None:
            self.first_t = sample.t
        self.last_t = sample.t
        if sample.memory_total_bytes is not None:
            self.memory_total_bytes = sample.memory_total_bytes
        for name, stats in self.metrics.items():
            value = getattr(sample, name)
            if value is not None:
                stats.add(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "samples": self.samples,
            "first_t": self.first_t,
            "last_t": self.last_t,
            "memory_total_bytes": self.memory_total_bytes,
            "peak_memory_used_bytes": self.metrics["memory_used_bytes"].max,
            "lost": self.lost,
            "metrics": {name: stats.to_dict() for name, stats in self.metrics.items()},
            "errors": list(self.errors),
        }


def _failure(event: GpuQueryFailed) -> dict[str, Any]:
    return {
        "t": event.t,
        "query": event.query,
        "error": event.error,
        "message": event.message,
        "lost": event.lost,
    }


def _session(event: GpuTelemetryStatus) -> dict[str, Any]:
    return {
        "t": event.t,
        "available": event.available,
        "reason": event.reason,
        "driver_version": event.driver_version,
        "device_count": event.device_count,
        "devices": [d.index for d in event.devices],
        "interval_s": event.interval_s,
        "stopped": None,
    }


def _stopped(event: GpuTelemetryStopped) -> dict[str, Any]:
    return {
        "t": event.t,
        "ticks": event.ticks,
        "skipped_ticks": event.skipped_ticks,
        "samples": event.samples,
        "tick_mean_s": event.tick_mean_s,
        "tick_max_s": event.tick_max_s,
    }


class TelemetrySummary:
    """Fold ``gpu.*`` events (``add``) into the summary; ``seen`` is False until one arrives."""

    def __init__(self) -> None:
        self.seen = False
        self.sessions: list[dict[str, Any]] = []
        self.devices: dict[tuple[int, str], DeviceSummary] = {}
        self.errors: list[dict[str, Any]] = []  # failures that belong to no device
        self.latest: dict[int, GpuSample] = {}
        self._uuids: dict[int, str | None] = {}  # index -> uuid in the current session

    def add(self, event: Event) -> None:
        """Take one event; kinds other than the telemetry ones are ignored."""
        if isinstance(event, GpuSample):
            self.add_sample(event)
        elif isinstance(event, GpuTelemetryStatus):
            self.add_status(event)
        elif isinstance(event, GpuQueryFailed):
            self.add_failure(event)
        elif isinstance(event, GpuTelemetryStopped):
            self.add_stopped(event)

    def _device(self, index: int, uuid: str | None) -> DeviceSummary:
        key = (index, uuid or "")
        device = self.devices.get(key)
        if device is None:
            device = self.devices[key] = DeviceSummary(index=index, uuid=uuid)
        return device

    def add_status(self, event: GpuTelemetryStatus) -> None:
        self.seen = True
        self.sessions.append(_session(event))
        self._uuids = {d.index: d.uuid for d in event.devices}
        for info in event.devices:
            self._describe(info)

    def _describe(self, info: GpuDeviceInfo) -> None:
        device = self._device(info.index, info.uuid)
        device.name = info.name if info.name is not None else device.name
        if info.memory_total_bytes is not None:
            device.memory_total_bytes = info.memory_total_bytes

    def add_sample(self, event: GpuSample) -> None:
        self.seen = True
        self._device(event.index, event.uuid).add_sample(event)
        self.latest[event.index] = event

    def add_failure(self, event: GpuQueryFailed) -> None:
        self.seen = True
        if event.index is None:
            self.errors.append(_failure(event))
            return
        device = self._device(event.index, self._uuids.get(event.index))
        device.errors.append(_failure(event))
        device.lost = device.lost or event.lost

    def add_stopped(self, event: GpuTelemetryStopped) -> None:
        self.seen = True
        if self.sessions and self.sessions[-1]["stopped"] is None:
            self.sessions[-1]["stopped"] = _stopped(event)

    def to_dict(self) -> dict[str, Any]:
        """The content of ``gpu_telemetry.json`` (JSON-able; devices by index, then UUID)."""
        last = self.sessions[-1] if self.sessions else None
        return {
            "schema": SCHEMA,
            "available": last["available"] if last else None,
            "reason": last["reason"] if last else None,
            "sessions": [dict(s) for s in self.sessions],
            "devices": [self.devices[key].to_dict() for key in sorted(self.devices)],
            "errors": list(self.errors),
        }

    def snapshot(self) -> dict[str, Any]:
        """Current readings per device (``gpu0``, ...) for ``vrx tail``; memory in MiB."""
        snap: dict[str, Any] = {}
        if self.sessions and not self.sessions[-1]["available"]:
            snap["unavailable"] = self.sessions[-1]["reason"]
        for index in sorted(self.latest):
            snap[f"gpu{index}"] = _readings(self.latest[index])
        return snap


def _readings(sample: GpuSample) -> dict[str, Any]:
    def mib(value: int | None) -> float | None:
        return None if value is None else round(value / _MIB, 1)

    return {
        "utilization_gpu_percent": sample.utilization_gpu_percent,
        "memory_used_mib": mib(sample.memory_used_bytes),
        "memory_total_mib": mib(sample.memory_total_bytes),
        "power_w": sample.power_w,
        "temperature_c": sample.temperature_c,
    }


def summarize(events: Iterable[Event]) -> dict[str, Any]:
    """The ``gpu_telemetry.json`` content of ``events`` (other kinds are ignored)."""
    summary = TelemetrySummary()
    for event in events:
        summary.add(event)
    return summary.to_dict()
