"""Long commands show a progress bar on a terminal and print nothing extra when piped."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrx_core.cli import progress
from vrx_core.engine.replay import replay
from vrx_core.events import Metric
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.testing import write_log


def test_replay_reports_progress_up_to_the_log_size(tmp_path: Path) -> None:
    run = write_log(tmp_path / "run", [Metric("x", float(i), i) for i in range(20_000)])
    seen: list[int] = []
    replay(run, PluginSet.load(Selection(only=set())), progress=seen.append)
    assert seen == sorted(seen) and len(seen) >= 2
    assert seen[-1] == (run / "events.jsonl").stat().st_size


def test_piped_output_gets_no_bar(cli, tmp_path: Path) -> None:
    run = write_log(tmp_path / "run", [Metric("x", 1.0, 1)])
    r = cli("replay", str(run))
    assert r.code == 0 and r.err == ""


def test_a_terminal_gets_a_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_interactive", lambda: True)
    with progress.progress_bar("replaying", 100) as update:
        assert update is not None
        update(50)
        update(100)
    with progress.progress_bar("nothing to do", 0) as update:
        assert update is None


def test_no_terminal_no_progress_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_interactive", lambda: False)
    with progress.progress_bar("replaying", 100) as update:
        assert update is None
