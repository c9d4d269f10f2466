"""The writer never follows a symlinked lock file or log out of the run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrx_core.errors import CannotCreate
from vrx_core.events import Metric
from vrx_core.log.writer import Recorder
from vrx_core.testing import write_log


def test_log_symlinked_lock_is_refused_and_target_untouched(tmp_path: Path) -> None:
    """A writer.lock symlink is refused (73) and the file it points to keeps its bytes."""
    run = write_log(tmp_path / "run", [Metric("a", 1.0, 1)])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / "writer.lock").symlink_to(victim)
    with pytest.raises(CannotCreate, match="symlink"):
        Recorder(run)
    assert victim.read_text() == "precious\n"


def test_log_symlinked_event_log_is_refused(tmp_path: Path) -> None:
    """An events.jsonl symlink (into another run) is never appended to."""
    other = write_log(tmp_path / "other", [Metric("a", 1.0, 1)])
    before = (other / "events.jsonl").read_bytes()
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").symlink_to(other / "events.jsonl")
    with pytest.raises(CannotCreate, match="symlink"):
        Recorder(run)
    assert (other / "events.jsonl").read_bytes() == before
