"""Event kinds of GPU telemetry (NVML), recorded by :class:`~vrx_plugins.telemetry.sampler.GpuSampler`.

The field names are a public contract (docs/telemetry.md). Units are in the names; a metric is
None (and, with ``omit_defaults``, absent from the line) when NVML answered NotSupported for that
query on that device, or when the query failed (a ``gpu.query_failed`` event then says why).

One ``gpu.sample`` per device per tick, not one event per tick holding a list: every field is a
scalar, so the writer takes its fast path (no nested walk), a reader or an alert rule can take one
device's series without unpacking lists, and a lost device simply stops producing lines.
"""

from __future__ import annotations

import msgspec

from vrx_core.events import Event


class GpuDeviceInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One device a sampler watches: NVML index, UUID (``GPU-...``), product name, total memory."""

    index: int
    uuid: str | None = None
    name: str | None = None
    memory_total_bytes: int | None = None


class GpuTelemetryStatus(Event, frozen=True, kw_only=True, tag="gpu.telemetry"):
    """A sampler started: whether NVML answered, and what it will sample.

    ``available`` False means no sample follows; ``reason`` is then one line: the NVML error
    class and its message (``NVMLError_LibraryNotFound: NVML Shared Library Not Found``), or
    ``pynvml not installed: ...``. ``device_count`` is how many devices NVML sees (0 when
    unavailable); ``devices`` those this sampler samples, in index order.
    """

    available: bool
    interval_s: float
    reason: str | None = None
    driver_version: str | None = None
    device_count: int = 0
    devices: list[GpuDeviceInfo] = msgspec.field(default_factory=list)


class GpuSample(Event, frozen=True, kw_only=True, tag="gpu.sample"):
    """One device's readings at one tick (the envelope's ``t`` is when it was recorded).

    ``utilization_*_percent`` is NVML's busy percentage over its last sample period (kernels
    running, memory controller busy); ``memory_*_bytes`` the device memory in use and in total;
    ``power_w`` the board's draw in watts (NVML reports milliwatts); ``temperature_c`` the GPU die;
    ``sm_clock_mhz`` the current SM clock.
    """

    index: int
    uuid: str | None = None
    utilization_gpu_percent: int | None = None
    utilization_memory_percent: int | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    power_w: float | None = None
    temperature_c: int | None = None
    sm_clock_mhz: int | None = None


class GpuQueryFailed(Event, frozen=True, kw_only=True, tag="gpu.query_failed"):
    """An NVML query raised something other than NotSupported; recorded once per device and error.

    ``query`` names what was asked (``handle``, ``uuid``, ``name``, ``utilization``, ``memory``,
    ``power``, ``temperature``, ``sm_clock``); ``error`` is the exception's class name
    (``NVMLError_Timeout``), ``message`` its text. ``lost`` is True when the device is gone
    (``NVMLError_GpuIsLost``): the sampler stops asking it. ``index`` is None for a failure that
    belongs to no device.
    """

    query: str
    error: str
    message: str
    index: int | None = None
    lost: bool = False


class GpuTelemetryStopped(Event, frozen=True, kw_only=True, tag="gpu.telemetry_stopped"):
    """A sampler stopped: its ticks, the ticks it skipped because one ran past the next deadline,
    the samples it recorded, and the wall time its ticks took (mean and max, in seconds)."""

    ticks: int
    skipped_ticks: int
    samples: int
    tick_mean_s: float
    tick_max_s: float


KINDS: list[type[Event]] = [GpuTelemetryStatus, GpuSample, GpuQueryFailed, GpuTelemetryStopped]
