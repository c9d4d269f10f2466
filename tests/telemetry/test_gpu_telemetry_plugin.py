"""The gpu_telemetry plugin: kinds registered, gpu_telemetry.json derived by replay (exactly, twice),
nothing for a run without telemetry, and a snapshot for ``vrx tail``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _nvml_fake import FakeDevice, FakeNvml, wait_until

from vrx_core.engine.replay import replay
from vrx_core.events import Event, Metric
from vrx_core.log.reader import read_events
from vrx_core.log.writer import Recorder
from vrx_core.testing import PluginContract, make_plugins, write_log
from vrx_plugins import gpu_telemetry
from vrx_plugins.gpu_telemetry.derive import OUTPUT, ascii_json
from vrx_plugins.telemetry import KINDS
from vrx_plugins.telemetry.events import (
    GpuDeviceInfo,
    GpuQueryFailed,
    GpuSample,
    GpuTelemetryStatus,
    GpuTelemetryStopped,
)
from vrx_plugins.telemetry.sampler import GpuSampler


class TestGpuTelemetryContract(PluginContract):
    plugin = gpu_telemetry

    def events(self) -> list[Event]:
        info = GpuDeviceInfo(index=0, uuid="GPU-a", name="H200", memory_total_bytes=2**37)
        sample = GpuSample(index=0, uuid="GPU-a", utilization_gpu_percent=90, memory_used_bytes=2**34)
        return [
            GpuTelemetryStatus(available=True, interval_s=0.5, device_count=1, devices=[info]),
            Metric("loss", 1.0, 1),
            sample,
            GpuSample(index=0, uuid="GPU-a", utilization_gpu_percent=70, power_w=300.25),
            GpuQueryFailed(query="memory", error="NVMLError_Timeout", message="Timeout", index=0),
            sample,
            GpuTelemetryStopped(ticks=3, skipped_ticks=0, samples=3, tick_mean_s=1e-4, tick_max_s=2e-4),
        ]


def test_the_plugin_registers_the_telemetry_kinds() -> None:
    ps = make_plugins(gpu_telemetry)
    assert gpu_telemetry.vrx_event_kinds() == KINDS
    tags = {"gpu.sample", "gpu.telemetry", "gpu.query_failed", "gpu.telemetry_stopped"}
    assert tags <= set(ps.registry.tags())


def test_a_sampled_run_derives_gpu_telemetry_json_exactly_twice(fake_nvml: FakeNvml, tmp_path: Path) -> None:
    fake_nvml.devices = [FakeDevice(name="NVIDIA Fak\u00e9 \U0001d53e"), FakeDevice(uuid="GPU-1")]
    ps = make_plugins(gpu_telemetry)
    run = tmp_path / "run"
    with Recorder(run, registry=ps.registry) as rec, GpuSampler(rec, interval_s=0.01):
        for step in range(3):
            rec.emit(Metric("loss", 1.0 / (step + 1), step))  # the training thread, beside the sampler
        assert wait_until(lambda: rec.seq > 12)
    recorded = [e for e in read_events(run, registry=ps.registry) if isinstance(e, GpuSample)]
    assert recorded and {e.index for e in recorded} == {0, 1}

    first = replay(run, ps, out_dir=tmp_path / "a")
    data = (tmp_path / "a" / OUTPUT).read_bytes()
    replay(run, ps, out_dir=tmp_path / "a")
    assert (tmp_path / "a" / OUTPUT).read_bytes() == data
    replay(run, ps, out_dir=tmp_path / "b")
    assert (tmp_path / "b" / OUTPUT).read_bytes() == data

    assert data.isascii() and data.endswith(b"}\n") and b'\n  "available": true,' in data
    doc = json.loads(data)
    assert [d["name"] for d in doc["devices"]] == ["NVIDIA Fak\u00e9 \U0001d53e", "NVIDIA Fake H200"]
    assert sum(d["samples"] for d in doc["devices"]) == len(recorded)
    assert doc["sessions"][0]["stopped"]["samples"] == len(recorded)
    snap = first.snapshots["gpu_telemetry"]
    assert snap["gpu0"]["utilization_gpu_percent"] == 87 and snap["gpu1"]["temperature_c"] == 61


def test_an_unavailable_run_still_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    ps = make_plugins(gpu_telemetry)
    run = tmp_path / "run"
    with Recorder(run, registry=ps.registry) as rec, GpuSampler(rec):
        rec.emit(Metric("loss", 1.0, 1))
    replay(run, ps)
    doc = json.loads((run / OUTPUT).read_bytes())
    assert doc["available"] is False and doc["reason"].startswith("pynvml not installed")


def test_a_run_without_telemetry_gets_no_file(tmp_path: Path) -> None:
    ps = make_plugins(gpu_telemetry)
    run = write_log(tmp_path / "run", [Metric("loss", 1.0, 1)], plugins=ps)
    result = replay(run, ps)
    assert not (run / OUTPUT).exists() and OUTPUT not in result.files
    assert result.snapshots.get("gpu_telemetry", {}) == {}


def test_ascii_json_escapes_like_ensure_ascii() -> None:
    obj = {"name": "Fak\u00e9 \U0001d53e \u2713", "n": 1}
    assert ascii_json(obj) == (json.dumps(obj, ensure_ascii=True, sort_keys=True, indent=2) + "\n").encode()
