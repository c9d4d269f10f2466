"""GpuSampler against a fake pynvml: unavailability, NVML errors at init and mid-run, ticks, shutdown.

Waits are bounded polls (``wait_until``), never sleeps that assume a speed; the only timing claim
is the coarse one that a 60 s interval gives no second tick within a fraction of a second.
"""

from __future__ import annotations

import sys
import time

import pytest
from _nvml_fake import ERRORS, FakeDevice, FakeNvml, ListSink, wait_until, warnings_in

from vrx_core.errors import RecorderClosed
from vrx_plugins.telemetry.events import (
    GpuQueryFailed,
    GpuSample,
    GpuTelemetryStatus,
    GpuTelemetryStopped,
)
from vrx_plugins.telemetry.sampler import NOT_INSTALLED, GpuSampler, nvml_unavailable_reason

FAST = 0.01  # seconds between ticks where a test waits for several


def test_without_pynvml_one_status_one_warning_and_no_thread(
    monkeypatch: pytest.MonkeyPatch, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    with GpuSampler(sink, interval_s=FAST) as sampler:
        assert sampler._thread is None
    assert sink.events == [GpuTelemetryStatus(available=False, interval_s=FAST, reason=NOT_INSTALLED)]
    assert not sampler.available
    assert sampler.unavailable == f"nvml_unavailable: {NOT_INSTALLED}"
    assert warnings_in(capsys.readouterr().err) == [
        f"vrx: warning: GPU telemetry unavailable: {NOT_INSTALLED}; the run goes on without it"
    ]
    assert nvml_unavailable_reason() == NOT_INSTALLED


@pytest.mark.parametrize(
    "error",
    ["NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded", "NVMLError_NoPermission", "NVMLError_Unknown"],
)
def test_init_failure_is_one_status_and_one_warning(
    error: str, fake_nvml: FakeNvml, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_nvml.init_error = error
    reason = f"{error}: {ERRORS[error][1]}"
    sampler = GpuSampler(sink, interval_s=FAST).start()
    sampler.stop()
    sampler.stop()
    assert sampler._thread is None
    assert sink.events == [GpuTelemetryStatus(available=False, interval_s=FAST, reason=reason)]
    assert sampler.reason == reason
    assert fake_nvml.shutdowns == 0  # a failed nvmlInit holds nothing to shut down
    assert len(warnings_in(capsys.readouterr().err)) == 1
    assert nvml_unavailable_reason() == reason


def test_samples_every_device_then_stops_cleanly(fake_nvml: FakeNvml, sink: ListSink) -> None:
    fake_nvml.devices = [FakeDevice(), FakeDevice(uuid="GPU-1", name="NVIDIA Fake B200")]
    with GpuSampler(sink, interval_s=FAST) as sampler:
        assert wait_until(lambda: len(sink.of(GpuSample)) >= 6)
    assert sampler._thread is not None and not sampler._thread.is_alive()
    status = sink.events[0]
    assert isinstance(status, GpuTelemetryStatus)
    assert (status.available, status.driver_version, status.device_count) == (True, "570.86.15", 2)
    assert [(d.index, d.uuid, d.name, d.memory_total_bytes) for d in status.devices] == [
        (0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA Fake H200", 141 * 2**30),
        (1, "GPU-1", "NVIDIA Fake B200", 141 * 2**30),
    ]
    first = sink.of(GpuSample)[0]
    assert first == GpuSample(
        index=0,
        uuid="GPU-00000000-0000-0000-0000-000000000000",
        utilization_gpu_percent=87,
        utilization_memory_percent=41,
        memory_used_bytes=40 * 2**30,
        memory_total_bytes=141 * 2**30,
        power_w=512.345,
        temperature_c=61,
        sm_clock_mhz=1980,
    )
    stopped = sink.events[-1]
    assert isinstance(stopped, GpuTelemetryStopped)
    assert stopped.samples == len(sink.of(GpuSample)) and stopped.ticks * 2 == stopped.samples
    assert 0 <= stopped.tick_mean_s <= stopped.tick_max_s
    assert (fake_nvml.inits, fake_nvml.shutdowns) == (1, 1)


def test_not_supported_fields_are_none_without_warning(
    fake_nvml: FakeNvml, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_nvml.devices[0].fail = {
        "nvmlDeviceGetPowerUsage": "NVMLError_NotSupported",
        "nvmlDeviceGetTemperature": "NVMLError_NotSupported",
        "nvmlDeviceGetName": "NVMLError_NotSupported",
    }
    with GpuSampler(sink, interval_s=FAST):
        assert wait_until(lambda: len(sink.of(GpuSample)) >= 2)
    sample = sink.of(GpuSample)[0]
    assert (sample.power_w, sample.temperature_c) == (None, None)
    assert (sample.utilization_gpu_percent, sample.sm_clock_mhz) == (87, 1980)
    assert sink.events[0].devices[0].name is None
    assert sink.of(GpuQueryFailed) == []
    assert warnings_in(capsys.readouterr().err) == []


@pytest.mark.parametrize("error", ["NVMLError_Unknown", "NVMLError_Timeout"])
def test_a_failing_query_costs_its_fields_and_warns_once(
    error: str, fake_nvml: FakeNvml, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_nvml.devices[0].fail = {"nvmlDeviceGetMemoryInfo": (error, 2)}  # start() reads it once
    with GpuSampler(sink, interval_s=FAST):
        assert wait_until(lambda: len(sink.of(GpuSample)) >= 4)
    samples = sink.of(GpuSample)
    assert all(s.memory_used_bytes is None and s.utilization_gpu_percent == 87 for s in samples)
    assert sink.events[0].devices[0].memory_total_bytes == 141 * 2**30
    failed = sink.of(GpuQueryFailed)
    assert failed == [
        GpuQueryFailed(query="memory", error=error, message=ERRORS[error][1], index=0, lost=False)
    ]
    (line,) = warnings_in(capsys.readouterr().err)
    assert line == (
        f"vrx: warning: GPU 0: memory query failed: {error}: {ERRORS[error][1]};"
        " not repeated for this device and error"
    )


def test_a_lost_gpu_is_dropped_and_the_others_go_on(
    fake_nvml: FakeNvml, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    lost = FakeDevice(uuid="GPU-lost", fail={"nvmlDeviceGetPowerUsage": ("NVMLError_GpuIsLost", 3)})
    fake_nvml.devices = [FakeDevice(), lost]
    with GpuSampler(sink, interval_s=FAST):
        assert wait_until(lambda: sum(s.index == 0 for s in sink.of(GpuSample)) >= 6)
    from_lost = [s for s in sink.of(GpuSample) if s.index == 1]
    # Two whole ticks, then the tick it was lost in, with what it answered before the power query.
    assert [s.power_w for s in from_lost] == [512.345, 512.345, None]
    assert from_lost[-1].memory_used_bytes == 40 * 2**30 and from_lost[-1].temperature_c is None
    assert fake_nvml.calls(1, "nvmlDeviceGetPowerUsage") == 3  # never asked again
    assert sink.of(GpuQueryFailed) == [
        GpuQueryFailed(query="power", error="NVMLError_GpuIsLost", message="GPU is lost", index=1, lost=True)
    ]
    (line,) = warnings_in(capsys.readouterr().err)
    assert "GPU 1: power query failed: NVMLError_GpuIsLost: GPU is lost; no longer sampled" in line


def test_the_thread_ends_when_every_gpu_is_lost(fake_nvml: FakeNvml, sink: ListSink) -> None:
    fake_nvml.devices[0].fail = {"nvmlDeviceGetUtilizationRates": "NVMLError_GpuIsLost"}
    sampler = GpuSampler(sink, interval_s=FAST).start()
    assert sampler._thread is not None
    sampler._thread.join(10)
    assert not sampler._thread.is_alive()
    sampler.stop()
    assert sink.of(GpuSample) == []  # nothing was read before the loss
    stopped = sink.events[-1]
    assert isinstance(stopped, GpuTelemetryStopped)
    assert (stopped.ticks, stopped.samples) == (1, 0)


def test_first_tick_is_immediate_and_the_interval_is_honoured(fake_nvml: FakeNvml, sink: ListSink) -> None:
    began = time.monotonic()
    with GpuSampler(sink, interval_s=60.0):
        assert wait_until(lambda: len(sink.of(GpuSample)) == 1)
        time.sleep(0.2)
        assert len(sink.of(GpuSample)) == 1  # the next tick is 60 s away
    assert time.monotonic() - began < 30  # stop() interrupts the wait instead of sleeping it out
    assert sink.events[-1].ticks == 1


def test_missed_ticks_are_skipped_not_bunched(fake_nvml: FakeNvml, sink: ListSink) -> None:
    sampler = GpuSampler(sink, interval_s=1.0)
    now = time.monotonic()
    assert sampler._next_deadline(now + 100) == now + 100  # on time: the grid
    late = sampler._next_deadline(now - 2.5)  # 2.5 s behind: skip three slots, keep the phase
    assert late == pytest.approx(now + 0.5, abs=0.05)
    assert sampler._stats.skipped == 3


def test_devices_selects_by_index_and_an_unknown_index_is_recorded(
    fake_nvml: FakeNvml, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_nvml.devices = [FakeDevice(), FakeDevice(uuid="GPU-1")]
    with GpuSampler(sink, interval_s=FAST, devices=[1, 7]):
        assert wait_until(lambda: len(sink.of(GpuSample)) >= 2)
    assert {s.index for s in sink.of(GpuSample)} == {1}
    status, failed = sink.events[:2]
    assert [d.index for d in status.devices] == [1] and status.device_count == 2
    assert failed == GpuQueryFailed(
        query="handle", error="NVMLError_InvalidArgument", message="Invalid Argument", index=7
    )
    assert len(warnings_in(capsys.readouterr().err)) == 1


def test_a_recorder_that_refuses_ends_sampling_with_one_warning(
    fake_nvml: FakeNvml, sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    sampler = GpuSampler(sink, interval_s=FAST).start()
    assert wait_until(lambda: len(sink.of(GpuSample)) >= 1)
    sink.refuse = RecorderClosed("recorder is closed")
    assert sampler._thread is not None
    sampler._thread.join(10)
    assert not sampler._thread.is_alive()
    sampler.stop()
    assert fake_nvml.shutdowns == 1
    (line,) = warnings_in(capsys.readouterr().err)
    assert "GPU sampling stopped: the recorder refused an event" in line


def test_start_once_stop_idempotent_and_interval_checked(fake_nvml: FakeNvml, sink: ListSink) -> None:
    sampler = GpuSampler(sink, interval_s=FAST)
    sampler.stop()  # before start: nothing to do
    sampler.start()
    with pytest.raises(RuntimeError, match="already started"):
        sampler.start()
    sampler.stop()
    sampler.stop()
    assert fake_nvml.shutdowns == 1
    assert len(sink.of(GpuTelemetryStopped)) == 1
    for bad in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="interval_s"):
            GpuSampler(sink, interval_s=bad)


def test_nvml_unavailable_reason_when_nvml_answers(fake_nvml: FakeNvml) -> None:
    assert nvml_unavailable_reason() is None
    assert (fake_nvml.inits, fake_nvml.shutdowns) == (1, 1)
