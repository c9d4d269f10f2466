"""Command-line conventions every command follows (found by a new user trying vrx from the README)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vrx_core import read_events
from vrx_core.events import Metric, RunEnd
from vrx_core.testing import write_log

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCENARIO = ROOT / "plugins" / "frame_triage" / "scenarios" / "sim_baseline.json"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_log(tmp_path / "run", [Metric("train/loss", 0.5, 1), Metric("val/acc", 0.9, 1)])


def test_debug_prints_the_traceback_and_keeps_the_exit_code(cli, tmp_path: Path) -> None:
    r = cli("--debug", "verify", str(tmp_path / "nope"))
    assert r.code == 66
    assert "Traceback" in r.err and r.err.rstrip().endswith("no such event log")


@pytest.mark.parametrize("command", [["verify"], ["events"], ["replay"], ["replay", "--check"]])
def test_commands_accept_the_run_directory_or_its_log(cli, run: Path, command: list[str]) -> None:
    if command == ["replay", "--check"]:
        assert cli("replay", str(run)).code == 0
    by_dir = cli(*command, str(run))
    by_log = cli(*command, str(run / "events.jsonl"))
    assert by_dir.code == by_log.code == 0, by_log.out + by_log.err
    assert not (run / "events.jsonl" / "events.jsonl").exists()


def test_ingest_accepts_the_log_path(cli, run: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"type":"metric","name":"x","value":1.0,"step":2}\n')
    fresh = tmp_path / "fresh" / "events.jsonl"
    assert cli("ingest", str(fresh), str(src)).code == 0
    assert (tmp_path / "fresh" / "events.jsonl").is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "-v", "RUN"],
        ["verify", "RUN", "-p", "no:manifest", "--debug"],
        ["events", "RUN", "-v", "--plugins-dir", "EXAMPLES"],
        ["triage", "validate", "-p", "no:manifest", "SCENARIO"],
        ["triage", "validate", "SCENARIO", "-v"],
        # and before it (docs/cli.md)
        ["-p", "no:manifest", "verify", "RUN"],
        ["--plugins-dir", "EXAMPLES", "-v", "events", "RUN"],
        ["-p", "no:manifest", "triage", "validate", "SCENARIO"],
    ],
)
def test_global_options_work_before_or_after_any_subcommand(cli, run: Path, argv: list[str]) -> None:
    subst = {"RUN": str(run), "EXAMPLES": str(EXAMPLES), "SCENARIO": str(SCENARIO)}
    r = cli(*[subst.get(a, a) for a in argv])
    assert r.code == 0, r.err


def test_plugins_dir_skips_tests_helpers_and_scripts(cli, run: Path, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    shutil.copytree(EXAMPLES, plugins)
    (plugins / "test_best.py").write_text("from vrx_core import hookimpl\nraise AssertionError('a test')\n")
    (plugins / "helper.py").write_text("VALUE = 1\n")
    r = cli("plugins", "--plugins-dir", str(plugins))
    assert r.code == 0 and not r.err
    assert "custom_metric_plugin" in r.out
    for name in ("record_training_loop", "test_best", "helper"):
        assert name not in r.out
    assert cli("replay", str(run), "--plugins-dir", str(plugins)).code == 0


def test_events_type_must_be_a_known_kind(cli, run: Path) -> None:
    r = cli("events", str(run), "--type", "metrc")
    assert r.code == 2
    assert "unknown event kind(s) metrc; known: " in r.err and "metric" in r.err and "triage.frame" in r.err


def test_events_filters_metrics_by_name_glob_and_prints_a_header(cli, run: Path) -> None:
    r = cli("events", str(run), "--name", "train/*")
    lines = r.out.splitlines()
    assert lines[0].split() == ["seq", "time", "(UTC)", "kind", "fields"]
    assert len(lines) == 2 and "name=train/loss" in lines[1]
    # The kind column fits the longest known kind.
    assert lines[1].index("name=") > len("triage.config_applied")


def test_ctrl_c_during_ingest_is_recorded_as_interrupted(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vrx_core.engine import ingest as ingest_mod

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest_mod, "ingest", interrupted)
    src = tmp_path / "in.jsonl"
    src.write_text("")
    assert cli("ingest", str(tmp_path / "run"), str(src)).code == 130
    end = [e for e in read_events(tmp_path / "run") if isinstance(e, RunEnd)]
    assert [e.status for e in end] == ["interrupted"]


def test_vrx_warnings_read_as_one_line_and_json_only_when_asked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from vrx_core.log import diagnostics

    monkeypatch.delenv("VRX_LOG_FORMAT", raising=False)
    diagnostics.configure()
    diagnostics.get_logger().warning("torn tail cut", run="runs/a", bytes=12, previous={"pid": 3})
    diagnostics.get_logger().info("not shown by default")
    expected = 'vrx: warning: torn tail cut (run=runs/a, bytes=12, previous={"pid":3})\n'
    assert capsys.readouterr().err == expected
    monkeypatch.setenv("VRX_LOG_FORMAT", "json")
    diagnostics.configure()
    diagnostics.get_logger().warning("torn tail cut", bytes=12)
    entry = json.loads(capsys.readouterr().err)
    assert entry["event"] == "torn tail cut" and entry["level"] == "warning" and entry["bytes"] == 12
    monkeypatch.delenv("VRX_LOG_FORMAT")
    diagnostics.configure()
