"""User errors end in one line and a documented exit code, never a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vrx_core.events import Log, Metric
from vrx_core.testing import write_log

FIXTURE = Path(__file__).resolve().parent / "frame_triage" / "fixtures" / "labops_bundle"
SCENARIOS = Path(__file__).resolve().parents[1] / "plugins" / "frame_triage" / "scenarios"


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and "Traceback" not in err and err.startswith("vrx")


def test_replay_out_is_a_file_exits_73(cli, tmp_path: Path) -> None:
    """--out naming an existing file is refused with exit 73 and one line."""
    run = write_log(tmp_path / "run", [Metric("a", 1.0, 1)])
    (tmp_path / "file").write_text("x")
    r = cli("replay", str(run), "--out", str(tmp_path / "file"))
    assert r.code == 73 and one_line(r.err)


def test_events_of_a_directory_named_like_the_log(cli, tmp_path: Path) -> None:
    """events.jsonl being a directory exits 66, naming it once."""
    (tmp_path / "run" / "events.jsonl").mkdir(parents=True)
    r = cli("events", str(tmp_path / "run"))
    assert r.code == 66 and one_line(r.err) and "events.jsonl/events.jsonl" not in r.err


def test_tail_rejects_a_non_positive_timeout(cli, tmp_path: Path) -> None:
    """--timeout 0 is a usage error (2), not a missing run."""
    assert cli("tail", str(tmp_path), "--timeout", "0").code == 2


def test_events_table_escapes_control_characters(cli, tmp_path: Path) -> None:
    """A logged escape sequence or newline cannot fake a table row."""
    run = write_log(tmp_path / "run", [Log(msg="\x1b[31mRED\r\nFAKE LINE")])
    out = cli("events", str(run)).out
    assert "\x1b" not in out and "\r" not in out
    assert len(out.splitlines()) == 1 + len((run / "events.jsonl").read_bytes().splitlines())  # + header


def test_broken_plugin_file_warns_and_the_command_still_runs(cli, tmp_path: Path) -> None:
    """A plugin that fails to import is named (file:line) and skipped; verify works, replay refuses (69)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text("from vrx_core import hookimpl\nx = 1 / 0\n")
    run = write_log(tmp_path / "run", [Metric("a", 1.0, 1)])
    r = cli("verify", str(run), "--plugins-dir", str(plugins))
    assert r.code == 0 and "broken.py:2" in r.err and "ZeroDivisionError" in r.err
    assert cli("replay", str(run), "--plugins-dir", str(plugins)).code == 69


def test_triage_run_id_cannot_leave_out_dir(cli, tmp_path: Path) -> None:
    """--run-id with a path separator or dots is a usage error; nothing is written outside --out."""
    for bad in ("../escape", "/tmp/abs", ".", ""):
        r = cli(
            "triage",
            "run",
            str(SCENARIOS / "trigger_roi.json"),
            "--out",
            str(tmp_path / "o"),
            "--run-id",
            bad,
        )
        assert r.code == 2, bad
    assert not (tmp_path / "escape").exists()


def test_triage_import_hostile_run_id_is_a_data_error(cli, tmp_path: Path) -> None:
    """A bundle naming run_id '../../pwned' is refused (65) unless --run-id names the import."""
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURE, bundle)
    for name in ("events.jsonl", "run.json"):
        path = bundle / name
        path.write_text(path.read_text().replace("run-1770976800000", "../../pwned"))
    out = tmp_path / "deep" / "out"
    r = cli("triage", "import", str(bundle), "--out", str(out))
    assert r.code == 65 and "--run-id" in r.err
    assert not (tmp_path / "pwned").exists()


def test_triage_huge_scenario_is_refused_before_simulating(cli, tmp_path: Path) -> None:
    """A scenario asking for more frames than one run may hold fails at once (exit 1)."""
    doc = json.loads((SCENARIOS / "trigger_roi.json").read_text())
    doc["duration"]["duration_ms"] = 10**12
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(doc))
    r = cli("triage", "run", str(path), "--out", str(tmp_path / "o"))
    assert r.code == 1 and "at most 20000000" in r.err


def test_stale_manifest_of_a_grown_log_is_a_note(cli, tmp_path: Path) -> None:
    """Appending to a run after a replay leaves a stale manifest: verify notes it and stays OK."""
    run = write_log(tmp_path / "run", [Metric("a", 1.0, 1)])
    assert cli("replay", str(run)).code == 0
    events = tmp_path / "more.jsonl"
    events.write_text('{"type":"metric","name":"a","value":2.0}\n')
    assert cli("ingest", str(run), str(events), "--resume", "allow").code == 0
    r = cli("verify", str(run))
    assert r.code == 0 and "stale" in r.out
