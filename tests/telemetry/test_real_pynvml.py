"""Against the real pynvml (nvidia-ml-py, in the test extras): the fake's names are the real ones, and
on a machine without the NVIDIA driver the sampler reports NVMLError_LibraryNotFound and runs on."""

from __future__ import annotations

import ctypes

import pytest
from _nvml_fake import API, ERRORS, FakeNvml, ListSink, warnings_in

from vrx_plugins.telemetry.events import GpuTelemetryStatus
from vrx_plugins.telemetry.sampler import GpuSampler, nvml_unavailable_reason

pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed (pip install -e '.[dev]')")


def _has_driver() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")  # what pynvml loads on Linux
    except OSError:
        return False
    return True


def test_the_fake_has_the_real_names_codes_and_messages() -> None:
    missing = [name for name in API if not hasattr(pynvml, name)]
    assert not missing, f"the fake pynvml has names the real one lacks: {missing}"
    for name, (code, message) in ERRORS.items():
        cls = getattr(pynvml, name)
        assert issubclass(cls, pynvml.NVMLError)
        err = pynvml.NVMLError(code)  # the real base class maps a code to its subclass
        assert (type(err), err.value, str(err)) == (cls, code, message)
        assert cls().value == code  # subclasses are raised without arguments
    assert (pynvml.NVML_TEMPERATURE_GPU, pynvml.NVML_CLOCK_SM) == (
        FakeNvml.NVML_TEMPERATURE_GPU,
        FakeNvml.NVML_CLOCK_SM,
    )


@pytest.mark.skipif(_has_driver(), reason="this machine has the NVIDIA driver")
def test_without_a_driver_the_real_pynvml_says_library_not_found(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reason = "NVMLError_LibraryNotFound: NVML Shared Library Not Found"
    assert nvml_unavailable_reason() == reason
    sink = ListSink()
    with GpuSampler(sink, interval_s=0.01) as sampler:
        assert sampler._thread is None
    assert sink.events == [GpuTelemetryStatus(available=False, interval_s=0.01, reason=reason)]
    assert sampler.unavailable == f"nvml_unavailable: {reason}"
    assert len(warnings_in(capsys.readouterr().err)) == 1
