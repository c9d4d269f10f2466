"""A fake ``pynvml`` with the real one's shape, installed with ``monkeypatch.setitem(sys.modules, ...)``.

Named ``_nvml_fake`` (not ``_harness``) so it cannot clash with a helper module of another test
directory (tests run without packages, so helper modules share one namespace).

It mirrors nvidia-ml-py's names (``test_real_pynvml.py`` checks them against the real module when
it is installed): ``NVMLError`` with ``value`` and one generated subclass per NVML error code,
``nvmlInit``/``nvmlShutdown``, and the device queries the sampler makes. Each fake device answers
with fixed readings unless ``fail`` says a query raises (always, or from its Nth call on).
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: The real codes and messages (pynvml: NVML_ERROR_* and NVMLError._errcode_to_string).
ERRORS: dict[str, tuple[int, str]] = {
    "NVMLError_Uninitialized": (1, "Uninitialized"),
    "NVMLError_InvalidArgument": (2, "Invalid Argument"),
    "NVMLError_NotSupported": (3, "Not Supported"),
    "NVMLError_NoPermission": (4, "Insufficient Permissions"),
    "NVMLError_DriverNotLoaded": (9, "Driver Not Loaded"),
    "NVMLError_Timeout": (10, "Timeout"),
    "NVMLError_LibraryNotFound": (12, "NVML Shared Library Not Found"),
    "NVMLError_GpuIsLost": (15, "GPU is lost"),
    "NVMLError_Unknown": (999, "Unknown Error"),
}


class NVMLError(Exception):
    """Like pynvml's: ``value`` is the NVML return code; ``str()`` its message."""

    value: int

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return next((msg for code, msg in ERRORS.values() if code == self.value), f"code {self.value}")


def _error_class(name: str, code: int) -> type[NVMLError]:
    def init(self: NVMLError, *args: Any) -> None:  # the real subclasses take no argument
        NVMLError.__init__(self, code)

    return type(name, (NVMLError,), {"__init__": init, "__module__": "pynvml"})


ERROR_CLASSES = {name: _error_class(name, code) for name, (code, _) in ERRORS.items()}


@dataclass
class FakeDevice:
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    name: str = "NVIDIA Fake H200"
    utilization: tuple[int, int] = (87, 41)
    memory: tuple[int, int] = (40 * 2**30, 141 * 2**30)  # used, total
    power_mw: int = 512_345
    temperature_c: int = 61
    sm_clock_mhz: int = 1980
    #: pynvml function name -> the error class name it raises, or (name, first failing call).
    fail: dict[str, str | tuple[str, int]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)


class FakeNvml(types.ModuleType):
    """The module object put in ``sys.modules["pynvml"]``."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.NVMLError = NVMLError
        for name, cls in ERROR_CLASSES.items():
            setattr(self, name, cls)
        self.devices: list[FakeDevice] = [FakeDevice()]
        self.init_error: str | None = None
        self.driver_version = "570.86.15"
        self.inits = self.shutdowns = 0
        self.lock = threading.Lock()

    # -- what the fake is told to do --------------------------------------------------------------

    def _answer(self, index: int, fn: str, value: Callable[[FakeDevice], Any]) -> Any:
        device = self.devices[index]
        with self.lock:
            n = device.calls[fn] = device.calls.get(fn, 0) + 1
        failure = device.fail.get(fn)
        if failure is not None:
            name, first = (failure, 1) if isinstance(failure, str) else failure
            if n >= first:
                raise ERROR_CLASSES[name]()
        return value(device)

    def calls(self, index: int, fn: str) -> int:
        with self.lock:
            return self.devices[index].calls.get(fn, 0)

    # -- the pynvml API subset ------------------------------------------------------------------

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise ERROR_CLASSES[self.init_error]()
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.devices):
            raise ERROR_CLASSES["NVMLError_InvalidArgument"]()
        return index  # the real handle is an opaque ctypes pointer; the index stands in for it

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return str(self._answer(handle, "nvmlDeviceGetUUID", lambda d: d.uuid))

    def nvmlDeviceGetName(self, handle: int) -> str:
        return str(self._answer(handle, "nvmlDeviceGetName", lambda d: d.name))

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        gpu, mem = self._answer(handle, "nvmlDeviceGetUtilizationRates", lambda d: d.utilization)
        return types.SimpleNamespace(gpu=gpu, memory=mem)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        used, total = self._answer(handle, "nvmlDeviceGetMemoryInfo", lambda d: d.memory)
        return types.SimpleNamespace(total=total, free=total - used, used=used)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return int(self._answer(handle, "nvmlDeviceGetPowerUsage", lambda d: d.power_mw))

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return int(self._answer(handle, "nvmlDeviceGetTemperature", lambda d: d.temperature_c))

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        assert clock == self.NVML_CLOCK_SM
        return int(self._answer(handle, "nvmlDeviceGetClockInfo", lambda d: d.sm_clock_mhz))


#: The pynvml names the fake provides (checked against the real module).
API = [*sorted(n for n in vars(FakeNvml) if n.startswith(("nvml", "NVML_"))), "NVMLError", *ERRORS]


class ListSink:
    """A recorder stand-in: keeps what is emitted; ``refuse`` makes ``emit`` raise."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.lock = threading.Lock()
        self.refuse: Exception | None = None

    def emit(self, event: Any) -> int:
        with self.lock:
            if self.refuse is not None:
                raise self.refuse
            self.events.append(event)
            return len(self.events) - 1

    def of(self, cls: type[Any]) -> list[Any]:
        with self.lock:
            return [e for e in self.events if isinstance(e, cls)]


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout_s`` passes (generous: CI machines stall)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("vrx: warning:")]
