"""vrx triage validate/run/import end to end, the plugin contract, and replay rebuilding the bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vrx_core.events import Event
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.testing import PluginContract, read_files
from vrx_plugins import frame_triage
from vrx_plugins.frame_triage.events import (
    TriageFrame,
    TriageScenario,
    TriageStreamStarted,
    TriageStreamStopped,
)

SCENARIOS = Path(frame_triage.__file__).resolve().parent / "scenarios"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "labops_bundle"
BUNDLE_FILES = {
    "scenario.json",
    "run.json",
    "metrics.csv",
    "metrics.json",
    "bundle_manifest.json",
    "summary.md",
}


def test_validate_valid_and_invalid(cli, tmp_path: Path) -> None:
    """validate exits 0 on a starter scenario and 1 with dotted-path messages on a bad one."""
    ok = cli("triage", "validate", str(SCENARIOS / "trigger_roi.json"))
    assert ok.code == 0 and ok.out.startswith("valid: ")
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"schema_version":"1.0","scenario_id":"x","duration":{"duration_ms":0},"camera":{},"thresholds":{}}'
    )
    r = cli("triage", "validate", str(bad))
    assert r.code == 1
    assert "  - duration.duration_ms: must be a positive integer (milliseconds)" in r.out.splitlines()


def test_validate_usage_and_missing_file(cli, tmp_path: Path) -> None:
    """No argument is a usage error (2); a missing file is a one-line error (1)."""
    assert cli("triage", "validate").code == 2
    r = cli("triage", "validate", str(tmp_path / "nope.json"))
    assert r.code == 1 and r.err.count("\n") == 1 and "nope.json" in r.err


def test_run_writes_bundle_and_passes(cli, tmp_path: Path) -> None:
    """run records events, derives the full bundle, prints key figures and exits 0 on PASS."""
    r = cli("triage", "run", str(SCENARIOS / "trigger_roi.json"), "--out", str(tmp_path))
    assert r.code == 0, r.err
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("run-") and run_dir.name[4:].isdigit()
    assert {p.name for p in run_dir.iterdir()} >= BUNDLE_FILES
    assert (run_dir / "scenario.json").read_bytes() == (SCENARIOS / "trigger_roi.json").read_bytes()
    assert "verdict: PASS" in r.out and "frames: total=300 received=300 dropped=0" in r.out
    assert cli("verify", str(run_dir)).code == 0


def test_run_failing_thresholds_exits_30(cli, tmp_path: Path) -> None:
    """A completed run whose thresholds fail exits 30 (dropped_frames fails its own thresholds)."""
    r = cli("triage", "run", str(SCENARIOS / "dropped_frames.json"), "--out", str(tmp_path))
    assert r.code == 30 and "verdict: FAIL" in r.out


def test_run_never_reuses_a_directory(cli, tmp_path: Path) -> None:
    """An explicit --run-id that exists is refused (2); default ids never collide."""
    assert (
        cli(
            "triage", "run", str(SCENARIOS / "trigger_roi.json"), "--out", str(tmp_path), "--run-id", "a"
        ).code
        == 0
    )
    again = cli("triage", "run", str(SCENARIOS / "trigger_roi.json"), "--out", str(tmp_path), "--run-id", "a")
    assert again.code == 2 and "already exists" in again.err
    for _ in range(2):
        assert cli("triage", "run", str(SCENARIOS / "trigger_roi.json"), "--out", str(tmp_path)).code == 0
    assert len(list(tmp_path.iterdir())) == 3


def test_run_unknown_backend_is_usage(cli, tmp_path: Path) -> None:
    """--backend names a registered backend or exits 2 listing the available ones."""
    r = cli("triage", "run", str(SCENARIOS / "trigger_roi.json"), "--out", str(tmp_path), "--backend", "gige")
    assert r.code == 2 and "available: sim" in r.err


def test_same_scenario_same_frames(cli, tmp_path: Path) -> None:
    """The sim backend is deterministic: two runs give the same frames relative to the stream start."""
    from vrx_core.log.reader import read_events

    def frames(run: Path) -> list[tuple[int, int, bool]]:
        evs = list(read_events(run, registry=PluginSet.load().registry))
        start = next(e for e in evs if isinstance(e, TriageStreamStarted)).started_ns
        return [(e.frame_id, e.ts_ns - start, e.dropped) for e in evs if isinstance(e, TriageFrame)]

    for rid in ("a", "b"):
        cli("triage", "run", str(SCENARIOS / "dropped_frames.json"), "--out", str(tmp_path), "--run-id", rid)
    assert frames(tmp_path / "a") == frames(tmp_path / "b")


def test_replay_rebuilds_deleted_bundle_byte_for_byte(cli, tmp_path: Path) -> None:
    """Deleting every derived file and replaying rebuilds them exactly."""
    cli("triage", "run", str(SCENARIOS / "dropped_frames.json"), "--out", str(tmp_path), "--run-id", "r")
    run = tmp_path / "r"
    before = read_files(run)
    for rel in before:
        (run / rel).unlink()
    assert cli("replay", str(run)).code == 0
    assert read_files(run) == before
    assert cli("replay", "--check", str(run)).code == 0


def test_import_labops_bundle(cli, tmp_path: Path) -> None:
    """import converts an old labops bundle, recomputes the metrics and keeps its scenario bytes."""
    r = cli("triage", "import", str(FIXTURE), "--out", str(tmp_path))
    assert r.code == 0, r.err
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "scenario.json").read_bytes() == (FIXTURE / "scenario.json").read_bytes()
    metrics = (run_dir / "metrics.json").read_text()
    assert '"frames_total":5' in metrics and "millisecond" in r.out


def test_import_malformed_bundle_is_a_data_error(cli, tmp_path: Path) -> None:
    """A damaged labops events.jsonl exits 65 naming file and line."""
    bad = tmp_path / "bundle"
    shutil.copytree(FIXTURE, bad)
    lines = (bad / "events.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"frame_id":"', '"frame_id":"x')
    (bad / "events.jsonl").write_text("\n".join(lines) + "\n")
    r = cli("triage", "import", str(bad), "--out", str(tmp_path / "out"))
    assert r.code == 65 and "events.jsonl:3" in r.err


class TestTriageContract(PluginContract):
    def plugins(self) -> PluginSet:
        return PluginSet.load(Selection(only={"frame_triage", "manifest"}))

    def events(self) -> list[Event]:
        base = 1_700_000_000 * 10**9
        raw = (SCENARIOS / "sim_baseline.json").read_text()
        evs: list[Event] = [
            TriageScenario(
                scenario_id="sim_baseline",
                source_name="sim_baseline",
                raw=raw,
                bundle_run_id="run-1",
                created_ns=base,
            ),
            TriageStreamStarted(backend="sim", fps=30, duration_ms=1000, seed=1, started_ns=base),
        ]
        evs += [
            TriageFrame(frame_id=i, ts_ns=base + i * 33_333_333, size_bytes=10, dropped=i % 7 == 3)
            for i in range(30)
        ]
        evs.append(
            TriageStreamStopped(
                frames_total=30, frames_received=26, frames_dropped=4, stopped_ns=base + 10**9
            )
        )
        return evs


@pytest.mark.parametrize("name", ["sim_baseline", "dropped_frames", "trigger_roi"])
def test_starter_scenarios_are_valid(cli, name: str) -> None:
    """Every shipped starter scenario validates."""
    assert cli("triage", "validate", str(SCENARIOS / f"{name}.json")).code == 0
    assert json.loads((SCENARIOS / f"{name}.json").read_text())["scenario_id"] == name


def test_a_run_that_fails_before_recording_leaves_no_directory(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run id stays free: a retry with the same --run-id is not blocked by an empty directory."""
    from vrx_plugins.frame_triage import cli as triage_cli

    def fail(*args: object, **kwargs: object) -> int:
        raise triage_cli.TriageFailed("camera not found")

    monkeypatch.setattr(triage_cli, "record_capture", fail)
    scenario = str(SCENARIOS / "sim_baseline.json")
    out = tmp_path / "out"
    r = cli("triage", "run", scenario, "--out", str(out), "--run-id", "r1")
    assert r.code == 1 and "camera not found" in r.err
    assert not (out / "r1").exists()
    monkeypatch.undo()
    assert cli("triage", "run", scenario, "--out", str(out), "--run-id", "r1").code == 0


def test_invalid_json_says_where_and_shows_the_text(cli, tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"a": 1,\n "b": }')
    r = cli("triage", "validate", str(bad))
    assert r.err.strip().endswith(f"{bad}:2:7: invalid JSON: Expecting value near '\"b\": }}'")
