"""The thin layer over pynvml: lazy import, init/shutdown, error descriptions, and the per-tick queries.

pynvml (``nvidia-ml-py``, the ``nvml`` extra) is imported only here and only when asked, so
importing the sampler costs nothing on a machine without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vrx_core.log import diagnostics

#: The ``reason`` recorded when the optional dependency is missing.
NOT_INSTALLED = "pynvml not installed: pip install 'vrx-core[nvml]'"


def error_text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # pynvml's __str__ may ask the library, which may be what failed
        return f"NVML error code {getattr(exc, 'value', '?')}"


def describe_error(exc: BaseException) -> str:
    """``"NVMLError_Timeout: Timeout"``: the one-line form every reason and warning uses."""
    text = error_text(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def import_nvml() -> Any | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def init(nvml: Any) -> str | None:
    """Initialise NVML; the reason it is unavailable, or None."""
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_* and whatever a broken install raises (OSError, ...)
        return describe_error(exc)
    return None


def shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception as exc:
        diagnostics.get_logger().warning(f"nvmlShutdown failed: {describe_error(exc)}")


def nvml_unavailable_reason() -> str | None:
    """Why GPU telemetry cannot run here (``"NVMLError_LibraryNotFound: ..."``), or None if it can.

    Initialises and shuts NVML down once; for a single line in a report such as env.json's
    ``errors`` (``f"nvml_unavailable: {reason}"``).
    """
    nvml = import_nvml()
    if nvml is None:
        return NOT_INSTALLED
    reason = init(nvml)
    if reason is None:
        shutdown(nvml)
    return reason


def error_class(nvml: Any, name: str) -> type[BaseException] | tuple[()]:
    """pynvml's generated error class ``name``; ``()`` (matches nothing) for a pynvml without it."""
    cls = getattr(nvml, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else ()


def text(value: Any) -> str:
    """NVML strings: str from nvidia-ml-py >= 11.5, bytes from older bindings."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# One entry per NVML query of a tick: the query's name (in warnings and gpu.query_failed) and a
# function returning the GpuSample fields it fills.
def _utilization(nvml: Any, handle: Any) -> dict[str, Any]:
    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
    return {"utilization_gpu_percent": int(rates.gpu), "utilization_memory_percent": int(rates.memory)}


def _memory(nvml: Any, handle: Any) -> dict[str, Any]:
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    return {"memory_used_bytes": int(info.used), "memory_total_bytes": int(info.total)}


def _power(nvml: Any, handle: Any) -> dict[str, Any]:
    return {"power_w": int(nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0}  # NVML reports milliwatts


def _temperature(nvml: Any, handle: Any) -> dict[str, Any]:
    return {"temperature_c": int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))}


def _sm_clock(nvml: Any, handle: Any) -> dict[str, Any]:
    return {"sm_clock_mhz": int(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))}


QUERIES: tuple[tuple[str, Callable[[Any, Any], dict[str, Any]]], ...] = (
    ("utilization", _utilization),
    ("memory", _memory),
    ("power", _power),
    ("temperature", _temperature),
    ("sm_clock", _sm_clock),
)
