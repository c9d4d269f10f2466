"""telemetry: a reusable NVML sampler that records GPU samples into any vrx run (library, no entry point).

``events`` holds the kinds (registered by the ``gpu_telemetry`` plugin), ``sampler`` the
:class:`GpuSampler`, ``nvml`` the only code that touches pynvml (imported lazily), ``summary`` the
pure fold behind ``gpu_telemetry.json``. Importing this package never imports pynvml.
"""

from __future__ import annotations

from .events import KINDS, GpuDeviceInfo, GpuQueryFailed, GpuSample, GpuTelemetryStatus, GpuTelemetryStopped
from .sampler import NOT_INSTALLED, GpuSampler, nvml_unavailable_reason
from .summary import TelemetrySummary, summarize

__all__ = [
    "KINDS",
    "NOT_INSTALLED",
    "GpuDeviceInfo",
    "GpuQueryFailed",
    "GpuSample",
    "GpuSampler",
    "GpuTelemetryStatus",
    "GpuTelemetryStopped",
    "TelemetrySummary",
    "nvml_unavailable_reason",
    "summarize",
]
