"""The cursor's position is saved and restored: a later follower goes on checking (hash chain
included) without re-reading the prefix as events; a changed prefix is caught."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from _tail_harness import append, expected_lines, fake_lock, finished_log, json_lines

from vrx_core.cli.render import event_json_line
from vrx_core.follow.cursor import Position
from vrx_core.follow.follower import Follower, LogChanged, Notice
from vrx_core.follow.stream import event_json, item_json
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import LOG as LOG_NAME


def test_resume_from_a_saved_position(tmp_path: Path) -> None:
    lines = finished_log(tmp_path, 120, sync_every=25)
    run = tmp_path / "run"
    fake_lock(run)
    append(run / LOG_NAME, b"".join(lines[:70]))
    with Follower(run) as f:
        first = [i for i in f.catch_up(timeout=5) if not isinstance(i, Notice)]
        saved = msgspec.json.encode(f.position.to_json())
    assert len(first) == 70
    append(run / LOG_NAME, b"".join(lines[70:]))
    pos = Position.from_json(msgspec.json.decode(saved))
    assert pos.offset == sum(map(len, lines[:70])) and pos.next_seq == 70
    with Follower(run, resume=pos) as f:
        rest = []
        while not f.ended:
            rest += [i for i in f.read(timeout=5) if not isinstance(i, Notice)]
        assert f.report.complete  # the run end's hash over all bytes checked out
    got = [event_json_line(ev) for ev in [*first, *rest]]
    assert got == expected_lines(tmp_path / "src")


def test_resume_over_a_changed_prefix_is_refused(tmp_path: Path) -> None:
    lines = finished_log(tmp_path, 40)
    run = tmp_path / "run"
    fake_lock(run)
    append(run / LOG_NAME, b"".join(lines[:20]))
    with Follower(run) as f:
        f.catch_up(timeout=5)
        pos = f.position
    data = bytearray((run / LOG_NAME).read_bytes())
    data[len(lines[0]) + 30] ^= 0x01
    (run / LOG_NAME).write_bytes(bytes(data))
    with Follower(run, resume=pos) as f, pytest.raises(LogChanged, match="differ from the saved position"):
        f.read(timeout=5)
    os.truncate(run / LOG_NAME, 10)
    with Follower(run, resume=pos) as f, pytest.raises(LogChanged):
        f.read(timeout=5)


def test_stream_json_matches_vrx_events(tmp_path: Path) -> None:
    """The stream protocol's JSON of an event is what `vrx events --json` prints."""
    finished_log(tmp_path, 120)
    for ev in LogReader(tmp_path / "src"):
        printed = msgspec.json.decode(event_json_line(ev))  # the line `vrx events --json` prints
        assert event_json(ev) == printed
        assert item_json(ev) == {"kind": "event", "event": printed}
    assert json_lines([msgspec.json.encode(item_json(Notice("nan", "m", 3, "warning"))).decode()]) == [
        {"kind": "notice", "notice": "nan", "level": "warning", "seq": 3, "message": "m"}
    ]


def test_vrx_core_follow_is_the_function_even_after_a_submodule_import(tmp_path: Path) -> None:
    """Importing vrx_core.follow.* binds the package as vrx_core.follow; it still works as follow()."""
    finished_log(tmp_path, 10)
    code = (
        "import sys, vrx_core.follow.stream, vrx_core\n"
        "from vrx_core import follow\n"
        "run = sys.argv[1]\n"
        "print(sum(1 for _ in follow(run, timeout=10)), sum(1 for _ in vrx_core.follow(run, timeout=10)))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "src")], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    n = len(expected_lines(tmp_path / "src"))
    assert r.stdout.split() == [str(n), str(n)]
