"""The run end stops the tail; a dead writer is detected (exit 3); a quiet live one is not; timeouts."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from _tail_harness import append, fake_lock, finished_log, json_lines, tail, writer

from vrx_core.follow.follower import WriterDead, follow
from vrx_core.log.rundir import LOG as LOG_NAME


def test_killed_writer_is_presumed_dead(tmp_path: Path) -> None:
    """SIGKILL leaves the lock naming a vanished pid and no run end: exit 3, saying so; every
    event written before the kill was printed."""
    run = tmp_path / "run"
    w = writer(run, "--n", "30", "--then", "kill")
    t = tail(run, "--events", "--json", "--dead-after", "2")
    assert w.wait() == -signal.SIGKILL
    assert t.wait() == 3
    assert "writer presumed dead" in t.stderr
    assert "is gone" in t.stderr
    assert json_lines(t.seen)[-1]["seq"] >= 30
    assert all(e["type"] != "run_end" for e in json_lines(t.seen))


def test_stopped_writer_without_heartbeat_is_presumed_dead(tmp_path: Path) -> None:
    """A writer whose process exists but neither writes nor heartbeats (SIGSTOP) is presumed dead
    after --dead-after seconds."""
    run = tmp_path / "run"
    w = writer(run, "--n", "10", "--then", "hang")
    w.wait_for("idle")
    w.signal(signal.SIGSTOP)
    t = tail(run, "--json", "--dead-after", "1.5")
    assert t.wait() == 3
    assert "no event and no heartbeat for" in t.stderr
    end = json_lines(t.seen)[-1]
    assert end["kind"] == "end" and end["reason"] == "dead" and end["exit"] == 3


def test_quiet_writer_with_heartbeat_is_alive(tmp_path: Path) -> None:
    """No events but a live heartbeat: never presumed dead; a stall warning instead; --timeout
    then ends the tail with 124."""
    run = tmp_path / "run"
    w = writer(run, "--n", "10", "--then", "hang", "--heartbeat", "0.2")
    w.wait_for("idle")
    t = tail(run, "--json", "--dead-after", "1.5", "--stall-after", "0.5", "--timeout", "3")
    assert t.wait() == 124, t.stderr
    objs = json_lines(t.seen)
    assert "stall" in {o.get("notice") for o in objs}
    assert objs[-1]["reason"] == "timeout" and objs[-1]["exit"] == 124
    assert "still going" in t.stderr


def test_log_without_lock_or_run_end_is_dead(tmp_path: Path) -> None:
    """No writer holds the run (writer.lock missing) and no run end: exit 3 after the short grace."""
    lines = finished_log(tmp_path, 20)
    run = tmp_path / "run"
    run.mkdir()
    append(run / LOG_NAME, b"".join(lines[:-1]))
    t = tail(run, "--events", "--dead-after", "1")
    assert t.wait() == 3
    assert "writer.lock is missing" in t.stderr


def test_run_end_stops_the_tail_even_with_the_lock_left(tmp_path: Path) -> None:
    """The run end event ends the tail (exit 0) whatever the lock says."""
    lines = finished_log(tmp_path, 20)
    run = tmp_path / "run"
    fake_lock(run)
    append(run / LOG_NAME, b"".join(lines))
    t = tail(run, "--events")
    assert t.wait() == 0, t.stderr


def test_follow_raises_writer_dead(tmp_path: Path) -> None:
    """The API raises WriterDead (exit code 3) after yielding every event."""
    lines = finished_log(tmp_path, 20)
    run = tmp_path / "run"
    fake_lock(run, host="another-host")
    append(run / LOG_NAME, b"".join(lines[:-1]))
    seen = []
    start = time.monotonic()
    with pytest.raises(WriterDead) as info:
        seen.extend(follow(run, dead_after_s=0.6, timeout=30))
    assert len(seen) == len(lines) - 1
    assert info.value.exit_code == 3
    assert "host=another-host" in str(info.value)
    assert time.monotonic() - start < 20


def test_timeout_before_the_run_appears(tmp_path: Path) -> None:
    """--timeout expiring while waiting for a run that never started: exit 66."""
    t = tail(tmp_path / "never", "--timeout", "0.5")
    assert t.wait() == 66
    assert "no event log appeared within 0.5 s" in t.stderr


def test_once_prints_the_state_of_a_live_run(tmp_path: Path) -> None:
    """--once reads the log so far and prints the state as one JSON object; exit 0."""
    run = tmp_path / "run"
    w = writer(run, "--n", "50", "--then", "hang")
    w.wait_for("idle")
    t = tail(run, "--once", "--json")
    assert t.wait() == 0, t.stderr
    (state,) = json_lines(t.seen)
    assert state["kind"] == "state" and state["ended"] is False
    assert state["events"] == state["last_seq"] + 1 >= 51
    assert state["metrics"]["train/loss"]["value"] == "NaN"  # the latest loss was the NaN at step 49
    assert state["warnings"] == {"nan": 1}


def test_once_without_a_run(tmp_path: Path) -> None:
    """--once on a run that does not exist: exit 66 at once."""
    t = tail(tmp_path / "missing", "--once")
    assert t.wait() == 66
