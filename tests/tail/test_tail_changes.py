"""A log that shrinks, is replaced or rewritten is reported (exit 65), never silently re-read;
a byte-identical replacement and a deletion followed by re-creation are followed transparently."""

from __future__ import annotations

import os
import time
from pathlib import Path

from _tail_harness import Proc, append, expected_lines, fake_lock, finished_log, tail

from vrx_core.log.rundir import LOG as LOG_NAME


def _start(tmp_path: Path, n: int = 60, shown: int = 20) -> tuple[Path, list[bytes], Proc]:
    lines = finished_log(tmp_path, n)
    run = tmp_path / "run"
    fake_lock(run)
    append(run / LOG_NAME, b"".join(lines[:shown]))
    t = tail(run, "--events", "--json")
    t.wait_lines(shown)
    return run, lines, t


def test_truncation_is_reported(tmp_path: Path) -> None:
    """Fault #10: the log is cut below what the tail read: exit 65 naming both sizes."""
    run, lines, t = _start(tmp_path)
    size = (run / LOG_NAME).stat().st_size
    os.truncate(run / LOG_NAME, size - len(lines[19]) - 5)
    assert t.wait() == 65
    assert f"shrank from {size} to {size - len(lines[19]) - 5} bytes" in t.stderr
    assert "truncated by another process?" in t.stderr


def test_cutting_an_uncommitted_tail_is_not_an_error(tmp_path: Path) -> None:
    """A resuming writer cuts the bytes after the last newline (never read as a line): the tail goes on."""
    run, lines, t = _start(tmp_path)
    log = run / LOG_NAME
    committed = log.stat().st_size
    append(log, b'{"seq":20,"t":1.0,"v":1,"type":"metric","name":"torn')
    time.sleep(0.2)
    os.truncate(log, committed)
    append(log, b"".join(lines[20:]))
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(tmp_path / "src")


def test_identical_replacement_is_followed(tmp_path: Path) -> None:
    """Fault #11a: os.replace with a copy whose first bytes are the ones read: followed on, each
    event once."""
    run, lines, t = _start(tmp_path)
    tmp = run / "events.jsonl.tmp"
    tmp.write_bytes(b"".join(lines[:40]))
    os.replace(tmp, run / LOG_NAME)
    t.wait_lines(40)
    append(run / LOG_NAME, b"".join(lines[40:]))
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(tmp_path / "src")


def test_replacement_by_another_run_is_reported(tmp_path: Path) -> None:
    """Fault #11b: replaced by a different run's log (longer than what was read): exit 65."""
    run, _, t = _start(tmp_path)
    other = finished_log(tmp_path, 60, name="other")
    tmp = run / "events.jsonl.tmp"
    tmp.write_bytes(b"".join(other))
    os.replace(tmp, run / LOG_NAME)
    assert t.wait() == 65
    assert "replaced by different content" in t.stderr


def test_replacement_by_a_shorter_file_is_reported(tmp_path: Path) -> None:
    """A replacement holding fewer bytes than were read (an older copy): exit 65."""
    run, lines, t = _start(tmp_path)
    tmp = run / "events.jsonl.tmp"
    tmp.write_bytes(b"".join(lines[:5]))
    os.replace(tmp, run / LOG_NAME)
    assert t.wait() == 65
    assert "replaced by a shorter file" in t.stderr


def test_in_place_rewrite_is_reported(tmp_path: Path) -> None:
    """The same inode overwritten with other content (`cp other events.jsonl`): exit 65."""
    run, _, t = _start(tmp_path)
    other = b"".join(finished_log(tmp_path, 80, name="other"))
    fd = os.open(run / LOG_NAME, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, other)
    finally:
        os.close(fd)
    assert t.wait() == 65
    err = t.stderr
    assert "rewritten in place" in err or "shrank" in err or "crc" in err


def test_deleted_then_recreated(tmp_path: Path) -> None:
    """Fault #11c: deleted, recreated a second later with the same bytes and more: followed on."""
    run, lines, t = _start(tmp_path)
    os.unlink(run / LOG_NAME)
    time.sleep(1.0)
    tmp = run / "events.jsonl.tmp"
    tmp.write_bytes(b"".join(lines[:30]))
    os.replace(tmp, run / LOG_NAME)
    t.wait_lines(30)
    append(run / LOG_NAME, b"".join(lines[30:]))
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(tmp_path / "src")
    assert "was deleted" in t.stderr


def test_damaged_committed_line_is_reported(tmp_path: Path) -> None:
    """A committed line with a flipped byte before the durable point (a sync line follows): exit 65
    with the line number; the lines before it were printed."""
    lines = finished_log(tmp_path, 60, sync_every=10)
    run = tmp_path / "run"
    fake_lock(run)
    append(run / LOG_NAME, b"".join(lines[:20]))
    t = tail(run, "--events", "--json")
    t.wait_lines(20)
    bad = bytearray(lines[25])
    bad[len(bad) // 2] ^= 0x01
    # Good lines and the damaged one arrive in one write: the good ones are still shown.
    append(run / LOG_NAME, b"".join(lines[20:25]) + bytes(bad) + b"".join(lines[26:]))
    assert t.wait() == 65
    assert ":26 (byte " in t.stderr
    assert t.seen == expected_lines(tmp_path / "src")[:25]
