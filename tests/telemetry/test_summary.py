"""The pure summary behind gpu_telemetry.json: per-device statistics, sessions, errors, snapshot."""

from __future__ import annotations

import msgspec

from vrx_core.events import Event
from vrx_plugins.telemetry.events import (
    GpuDeviceInfo,
    GpuQueryFailed,
    GpuSample,
    GpuTelemetryStatus,
    GpuTelemetryStopped,
)
from vrx_plugins.telemetry.summary import METRICS, SCHEMA, TelemetrySummary, summarize

MIB = 1024 * 1024


def _at(event: Event, t: float) -> Event:
    return msgspec.structs.replace(event, t=t)


def _events() -> list[Event]:
    status = GpuTelemetryStatus(
        available=True,
        interval_s=1.0,
        driver_version="570.86.15",
        device_count=2,
        devices=[
            GpuDeviceInfo(index=0, uuid="GPU-a", name="H200", memory_total_bytes=1000 * MIB),
            GpuDeviceInfo(index=1, uuid="GPU-b", name="H200", memory_total_bytes=1000 * MIB),
        ],
    )
    return [
        _at(status, 10.0),
        _at(GpuSample(index=0, uuid="GPU-a", utilization_gpu_percent=10, memory_used_bytes=100 * MIB,
                      memory_total_bytes=1000 * MIB, power_w=100.5), 11.0),
        _at(GpuSample(index=1, uuid="GPU-b", utilization_gpu_percent=50), 11.0),
        _at(GpuSample(index=0, uuid="GPU-a", utilization_gpu_percent=30, memory_used_bytes=300 * MIB,
                      memory_total_bytes=1000 * MIB, power_w=200.0), 12.0),
        _at(GpuQueryFailed(query="power", error="NVMLError_GpuIsLost", message="GPU is lost", index=1,
                           lost=True), 12.0),
        _at(GpuSample(index=0, uuid="GPU-a", utilization_gpu_percent=20, memory_used_bytes=200 * MIB,
                      memory_total_bytes=1000 * MIB), 13.0),
        _at(GpuTelemetryStopped(ticks=3, skipped_ticks=0, samples=4, tick_mean_s=0.001, tick_max_s=0.002),
            14.0),
    ]  # fmt: skip


def test_per_device_statistics() -> None:
    doc = summarize(_events())
    assert doc["schema"] == SCHEMA and doc["available"] is True and doc["reason"] is None
    gpu0, gpu1 = doc["devices"]
    assert (gpu0["index"], gpu0["uuid"], gpu0["name"], gpu0["samples"]) == (0, "GPU-a", "H200", 3)
    assert (gpu0["first_t"], gpu0["last_t"]) == (11.0, 13.0)
    assert gpu0["metrics"]["utilization_gpu_percent"] == {"count": 3, "min": 10, "mean": 20.0, "max": 30}
    assert gpu0["metrics"]["power_w"] == {"count": 2, "min": 100.5, "mean": 150.25, "max": 200.0}
    assert gpu0["metrics"]["temperature_c"] == {"count": 0, "min": None, "mean": None, "max": None}
    assert gpu0["peak_memory_used_bytes"] == 300 * MIB and gpu0["memory_total_bytes"] == 1000 * MIB
    assert list(gpu0["metrics"]) == list(METRICS) and gpu0["errors"] == [] and not gpu0["lost"]
    assert gpu1["lost"] is True and gpu1["samples"] == 1
    assert gpu1["errors"] == [
        {"t": 12.0, "query": "power", "error": "NVMLError_GpuIsLost", "message": "GPU is lost", "lost": True}
    ]
    (session,) = doc["sessions"]
    assert session["devices"] == [0, 1] and session["stopped"]["ticks"] == 3


def test_deterministic_and_json_able() -> None:
    first = msgspec.json.encode(summarize(_events()), order="sorted")
    assert first == msgspec.json.encode(summarize(_events()), order="sorted")


def test_unavailable_run_and_snapshot() -> None:
    summary = TelemetrySummary()
    assert not summary.seen and summary.snapshot() == {}
    summary.add(GpuTelemetryStatus(available=False, interval_s=1.0, reason="NVMLError_LibraryNotFound: x"))
    assert summary.seen
    doc = summary.to_dict()
    assert (doc["available"], doc["reason"], doc["devices"]) == (False, "NVMLError_LibraryNotFound: x", [])
    assert summary.snapshot() == {"unavailable": "NVMLError_LibraryNotFound: x"}


def test_snapshot_shows_the_latest_readings() -> None:
    summary = TelemetrySummary()
    for event in _events():
        summary.add(event)
    assert summary.snapshot() == {
        "gpu0": {
            "utilization_gpu_percent": 20,
            "memory_used_mib": 200.0,
            "memory_total_mib": 1000.0,
            "power_w": None,
            "temperature_c": None,
        },
        "gpu1": {
            "utilization_gpu_percent": 50,
            "memory_used_mib": None,
            "memory_total_mib": None,
            "power_w": None,
            "temperature_c": None,
        },
    }


def test_a_failure_that_belongs_to_no_device() -> None:
    failed = GpuQueryFailed(query="driver_version", error="NVMLError_Unknown", message="Unknown Error")
    doc = summarize([failed])
    assert doc["errors"][0]["query"] == "driver_version" and doc["devices"] == []
