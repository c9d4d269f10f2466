"""Readers decode every kind an installed plugin registers, by default; UnknownEvent only otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vrx_core import LogReader, read_events
from vrx_core.events import UnknownEvent, core_registry
from vrx_core.hooks import manager

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "triage_sim_baseline"


@pytest.fixture
def triage_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(manager, "_INSTALLED", {})
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(GOLDEN / "events.jsonl", run / "events.jsonl")
    return run


def test_read_events_decodes_an_installed_plugins_kinds(triage_run: Path) -> None:
    events = list(read_events(triage_run))
    frames = [e for e in events if type(e).__name__ == "TriageFrame"]
    assert frames, "triage frames come back typed"
    assert not [e for e in events if isinstance(e, UnknownEvent)]
    assert not [e for e in LogReader(triage_run) if isinstance(e, UnknownEvent)]


def test_an_explicit_registry_is_honoured(triage_run: Path) -> None:
    events = list(read_events(triage_run, registry=core_registry()))
    assert {e.type for e in events if isinstance(e, UnknownEvent)} >= {"triage.frame"}


def test_load_plugins_env_is_honoured(triage_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "manifest")
    unknown = {e.type for e in read_events(triage_run) if isinstance(e, UnknownEvent)}
    assert "triage.frame" in unknown


def test_follow_decodes_installed_kinds(triage_run: Path) -> None:
    from vrx_core import follow

    tags = {
        type(item).__name__
        for item in follow(triage_run, timeout=5)
    }
    assert "TriageFrame" in tags and "UnknownEvent" not in tags


def test_a_broken_plugin_does_not_break_reading(tmp_path: Path) -> None:
    """A plugin that fails to load is reported on stderr; the read still works (subprocess: fresh cache)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    # It mentions hookimpl, so it is taken for a plugin file (helpers beside plugins are not).
    (plugins / "broken.py").write_text("from vrx_core import hookimpl\nraise RuntimeError('boom')\n")
    shutil.copytree(GOLDEN, tmp_path / "run")
    code = "from vrx_core import read_events; import sys; print(sum(1 for _ in read_events(sys.argv[1])))"
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env={"VRX_PLUGINS_DIR": str(plugins), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 0
    assert "plugin broken skipped" in r.stderr
