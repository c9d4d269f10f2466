"""The probe's artifacts byte for byte as the original's writers made them, and derived by replay."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from vrx_core import hookimpl
from vrx_core.engine.replay import replay
from vrx_core.events import Event
from vrx_core.hooks.api import AlertRules, Deriver, ReplayContext
from vrx_core.log.reader import read_events
from vrx_core.testing import PluginContract, make_plugins, write_log
from vrx_plugins.gpu_probe.alerts import ProbeAlertRules
from vrx_plugins.gpu_probe.derive import ProbeDeriver
from vrx_plugins.gpu_probe.events import (
    KINDS,
    ProbeDevice,
    ProbeEnded,
    ProbeEnv,
    ProbeMeasured,
    ProbeStarted,
    ProbeStep,
    ProbeWatchdogArmed,
)
from vrx_plugins.gpu_probe.fold import ProbeFold
from vrx_plugins.gpu_probe.formats import (
    csv_cell,
    env_json,
    metrics_csv,
    metrics_json,
    run_cmd_txt,
    summary_md,
)

WL = "wl_v1_0123456789ab"
PID = f"{WL}__E1__fp32_amp0"
SPEC: dict[str, Any] = {
    "schema_version": "workload_schema_v1",
    "ant_spec": {"ring_len": 32, "slot_dim": 16, "ptr_dtype": "fp32", "precision": "fp32"},
    "colony_spec": {
        "seq_len": 8,
        "synth_len": 4,
        "batch_size": 2,
        "ptr_update_every": 1,
        "state_loop_samples": 0,
    },
}
ENV: dict[str, Any] = {
    "env_schema_version": "v1",
    "tool_version": "gpu_env_dump/1.0",
    "gpu_name": None,
    "total_vram_bytes": None,
    "os": "Linux-6.1-x86_64-with-glibc2.36 \u00e9",
    "env_vars": {"CUDA_VISIBLE_DEVICES": None, "OMP_NUM_THREADS": "4"},
    "errors": ["nvidia_smi_not_found"],
}


def started(**overrides: Any) -> ProbeStarted:
    fields: dict[str, Any] = {
        "argv": ["vrx", "probe", "run", "--ant", '{"ring_len": 32}'],
        "resolved_spec": SPEC,
        "canonical_spec": SPEC,
        "workload_id": WL,
        "probe_id": PID,
        "out_dim": 1,
        "warmup_steps": 1,
        "measure_steps": 2,
        "precision": "fp32",
        "amp": 0,
    }
    fields.update(overrides)
    return ProbeStarted(**fields)


def run_events(wall: float = 0.1 + 0.2, **start: Any) -> list[Event]:
    """A CPU run that passes; its wall time 0.30000000000000004 needs every digit of repr."""
    return [
        started(**start),
        ProbeEnv(env=ENV),
        ProbeDevice(device="cpu", step_time_mode="perf_counter"),
        ProbeStep(phase="warmup", index=0, step_time_s=0.013, loss=5.5, finite=True),
        ProbeWatchdogArmed(threshold_s=60.0, basis="warmup"),
        ProbeStep(phase="measure", index=0, step_time_s=0.0123456789012345, loss=5.4, finite=True),
        ProbeStep(phase="measure", index=1, step_time_s=1e-05, loss=5.3, finite=True),
        ProbeMeasured(wall_time_s=wall),
        ProbeEnded(armed=True, threshold_s=60.0, last_progress_age_s=0.000123, stalled=False),
    ]


def metrics_of(events: list[Event]) -> dict[str, Any]:
    fold = ProbeFold()
    for ev in events:
        fold.add(ev)
    return fold.metrics()


# -- metrics.csv ---------------------------------------------------------------------------------


def original_csv(path: Path, row: dict[str, Any]) -> bytes:
    """What the original's CSV writer put on disk: a csv.writer on a newline="\\n" text file."""
    with path.open("w", encoding="utf-8", newline="\n") as f:
        w = csv.writer(f)
        w.writerow(list(row))
        w.writerow([csv_cell(row[k]) for k in row])
    return path.read_bytes()


def test_csv_has_crlf_rows_like_the_original(tmp_path: Path) -> None:
    m = metrics_of(run_events())
    data = metrics_csv(m)
    assert data == original_csv(tmp_path / "metrics.csv", m)
    assert data.count(b"\r\n") == 2 and data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_csv_cells() -> None:
    row = {"a": None, "b": True, "c": False, "d": 3, "e": 0.30000000000000004, "f": ["x", "y"], "g": "p,q"}
    row["h"] = {"z": 1, "a": "\u00e9"}
    assert metrics_csv(row) == (
        b"a,b,c,d,e,f,g,h\r\n"
        b',True,False,3,0.30000000000000004,"[""x"", ""y""]","p,q","{""a"": ""\\u00e9"", ""z"": 1}"\r\n'
    )
    assert metrics_csv({"fail_reasons": []}) == b"fail_reasons\r\n[]\r\n"


def test_csv_columns_follow_the_dict_order() -> None:
    m = metrics_of(run_events())
    header = metrics_csv(m).split(b"\r\n")[0].decode()
    assert header.split(",") == list(m)


# -- JSON artifacts --------------------------------------------------------------------------------


def test_json_layout() -> None:
    assert metrics_json({"b": [1, "\u00e9"], "a": None, "c": {"y": True, "x": 0.5}}) == (
        b'{\n  "a": null,\n  "b": [\n    1,\n    "\\u00e9"\n  ],\n'
        b'  "c": {\n    "x": 0.5,\n    "y": true\n  }\n}\n'
    )
    assert metrics_json({"fail_reasons": []}) == b'{\n  "fail_reasons": []\n}\n'


def test_env_json_is_the_writers_layout() -> None:
    data = env_json(ENV)
    assert data == (json.dumps(ENV, ensure_ascii=True, sort_keys=True, indent=2) + "\n").encode()
    assert data.isascii() and data.endswith(b"}\n")


def test_run_cmd_keys_and_notes() -> None:
    doc = json.loads(run_cmd_txt(started()))
    assert list(doc) == sorted(doc)  # sort_keys
    assert doc["argv"] == ["vrx", "probe", "run", "--ant", '{"ring_len": 32}']
    assert doc["contract_rel_golden_draft"] == "docs/gpu/objective_contract_v1.md"
    assert doc["contract_repo_path"] == "Golden Draft/docs/gpu/objective_contract_v1.md"
    assert doc["workload_schema_rel_golden_draft"] == "docs/gpu/workload_schema_v1.md"
    assert doc["workload_schema_repo_path"] == "Golden Draft/docs/gpu/workload_schema_v1.md"
    assert doc["resolved_spec"] == SPEC and doc["canonical_spec"] == SPEC
    assert (doc["workload_id"], doc["probe_id"]) == (WL, PID)
    assert doc["notes"] == [
        "seq_len is accounting (tokens/sec uses seq_len).",
        "synth_len is generated input length (x uses synth_len).",
        "out_dim is not part of workload_schema_v1; do not compare across out_dim without probe_id.",
    ]
    assert set(doc) == {
        "argv",
        "contract_rel_golden_draft",
        "contract_repo_path",
        "workload_schema_rel_golden_draft",
        "workload_schema_repo_path",
        "resolved_spec",
        "canonical_spec",
        "workload_id",
        "probe_id",
        "notes",
    }
    assert run_cmd_txt(started()).endswith(
        b'\n  "workload_schema_repo_path": "Golden Draft/docs/gpu/workload_schema_v1.md"\n}\n'
    )
    assert run_cmd_txt(started()).isascii()


def test_run_cmd_debug_note() -> None:
    s = started(debug_stall_after_step=0, debug_stall_s=2.0, debug_stall_threshold_s=1.0, measure_steps=100)
    notes = json.loads(run_cmd_txt(s))["notes"]
    assert len(notes) == 4
    assert notes[3] == (
        "DEBUG: watchdog self-test enabled (stall_after_step=0, stall_s=2.0, stall_threshold_s=1.0). "
        "Not a rankable datapoint."
    )


# -- summary.md ------------------------------------------------------------------------------------


def test_summary_of_a_pass() -> None:
    m = metrics_of(run_events())
    sps = 2 * 2 / (0.1 + 0.2)
    assert summary_md(m, started()).decode() == (
        "# GPU Capacity Probe Summary (VRA-32)\n"
        "\n"
        "- status: PASS\n"
        f"- probe_id: {PID}\n"
        f"- workload_id: {WL}\n"
        "- device: cpu\n"
        "- precision/amp: fp32 / 0\n"
        "- out_dim: 1\n"
        "- batch_size: 2\n"
        "- seq_len (accounting): 8\n"
        "- synth_len (generated): 4\n"
        f"- throughput_samples_per_s: {sps!r}\n"
        f"- throughput_tokens_per_s: {sps * 8.0!r}\n"
        "- median_step_time_s: 0.0123456789012345\n"
        "- p95_step_time_s: 1e-05\n"
        "- peak_vram_reserved_bytes: None\n"
        "- peak_vram_allocated_bytes: None\n"
        "- fail_reasons: (none)\n"
        "\n"
        "Contract: Golden Draft/docs/gpu/objective_contract_v1.md\n"
    )


def test_summary_of_a_debug_stall() -> None:
    s = started(debug_stall_after_step=3, debug_stall_s=2.5, debug_stall_threshold_s=1.0, measure_steps=100)
    m = {
        **metrics_of(run_events()),
        "stability_pass": False,
        "fail_reasons": ["nan_or_inf", "heartbeat_stall"],
    }
    m["median_step_time_s"] = None
    text = summary_md(m, s).decode()
    assert "- status: FAIL\n" in text
    assert "- median_step_time_s: None\n" in text
    assert "- fail_reasons: nan_or_inf, heartbeat_stall\n" in text
    assert text.endswith(
        "Contract: Golden Draft/docs/gpu/objective_contract_v1.md\n"
        "\n"
        "NOTE: debug watchdog self-test enabled (stall_after_step=3, stall_s=2.5, stall_threshold_s=1.0).\n"
    )


# -- through the log -------------------------------------------------------------------------------


class _ProbePlugin:
    """The gpu_probe hooks, registered by hand so these tests need no entry point."""

    @hookimpl
    def vrx_event_kinds(self) -> list[type[Event]]:
        return list(KINDS)

    @hookimpl
    def vrx_deriver(self, context: ReplayContext) -> Deriver:
        return ProbeDeriver()

    @hookimpl
    def vrx_alert_rules(self, context: ReplayContext, stall_after_s: float) -> AlertRules:
        return ProbeAlertRules()


PROBE = _ProbePlugin()
ARTIFACTS = ("metrics.json", "metrics.csv", "env.json", "run_cmd.txt", "summary.md")


def test_floats_survive_the_log(tmp_path: Path) -> None:
    ps = make_plugins(PROBE, names=["gpu_probe"])
    events = run_events()
    run = write_log(tmp_path / "run", events, plugins=ps)
    back = [ev for ev in read_events(run, registry=ps.registry) if type(ev) in KINDS]
    assert [(type(a), a.seq) for a in back] == [(type(e), a.seq) for e, a in zip(events, back, strict=True)]
    for before, after in zip(events, back, strict=True):
        for name in before.__struct_fields__:
            if name not in ("seq", "t"):
                assert getattr(before, name) == getattr(after, name), name
    measured = next(ev for ev in back if isinstance(ev, ProbeMeasured))
    assert repr(measured.wall_time_s) == "0.30000000000000004"
    log = (run / "events.jsonl").read_text()
    assert "0.30000000000000004" in log and "0.0123456789012345" in log


def test_nonfinite_loss_survives_the_log(tmp_path: Path) -> None:
    ps = make_plugins(PROBE, names=["gpu_probe"])
    nan_step = ProbeStep(phase="measure", index=0, step_time_s=0.1, loss=math.nan, finite=False)
    run = write_log(tmp_path / "run", [started(), nan_step], plugins=ps)
    back = [ev for ev in read_events(run, registry=ps.registry) if isinstance(ev, ProbeStep)]
    assert math.isnan(back[0].loss) and back[0].finite is False


def test_replay_derives_the_five_artifacts(tmp_path: Path) -> None:
    ps = make_plugins(PROBE, names=["gpu_probe"])
    events = run_events()
    run = write_log(tmp_path / "run", events, plugins=ps)
    replay(run, ps)
    m = metrics_of(events)
    expected = {
        "metrics.json": metrics_json(m),
        "metrics.csv": metrics_csv(m),
        "env.json": env_json(ENV),
        "run_cmd.txt": run_cmd_txt(started()),
        "summary.md": summary_md(m, started()),
    }
    assert {name: (run / name).read_bytes() for name in ARTIFACTS} == expected
    assert b"- throughput_samples_per_s: 13.333333333333332\n" in expected["summary.md"]
    for name in ARTIFACTS:
        (run / name).unlink()
        replay(run, ps)
        assert (run / name).read_bytes() == expected[name], name


def test_replay_of_another_run_writes_nothing(tmp_path: Path) -> None:
    from vrx_core.events import Metric

    ps = make_plugins(PROBE, names=["gpu_probe"])
    run = write_log(tmp_path / "run", [Metric("loss", 1.0, 1)], plugins=ps)
    replay(run, ps)
    assert not any((run / name).exists() for name in ARTIFACTS)


class TestProbeContract(PluginContract):
    """Replay twice == once; in parts == whole; no clock."""

    plugin = PROBE

    def events(self) -> list[Event]:
        return run_events()
