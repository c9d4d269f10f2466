"""A line is shown only once its newline is written: a torn or unterminated final line never early."""

from __future__ import annotations

import random
import time
from pathlib import Path

from _tail_harness import append, expected_lines, fake_lock, finished_log, tail

from vrx_core.events import RunStart
from vrx_core.follow.follower import Follower, Notice
from vrx_core.log.rundir import LOG as LOG_NAME


def test_complete_json_without_newline_is_not_shown(tmp_path: Path) -> None:
    """A whole line with a valid CRC but no `\\n` is uncommitted: the tail (another process) does not
    print it until the `\\n` lands, then prints it once."""
    lines = finished_log(tmp_path, 40)
    run = tmp_path / "run"
    fake_lock(run)
    log = run / LOG_NAME
    append(log, b"".join(lines[:10]))
    t = tail(run, "--events", "--json")
    t.wait_lines(10)
    append(log, lines[10][:-1])  # everything but the newline
    assert t.no_new_line(0.5), "a line was shown before its newline was written"
    append(log, b"\n")
    assert len(t.wait_lines(11)) == 11
    append(log, b"".join(lines[11:]))
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(tmp_path / "src")


def test_lines_written_in_random_pieces(tmp_path: Path) -> None:
    """The log arrives in random byte pieces (lines split anywhere): every event appears exactly
    once, intact, and no CRC error is ever raised for a partial line."""
    lines = finished_log(tmp_path, 150)
    data = b"".join(lines)
    run = tmp_path / "run"
    fake_lock(run)
    t = tail(run, "--events", "--json")
    rng = random.Random(7)
    pos = 0
    while pos < len(data):
        n = rng.choice([1, 2, 7, 50, 300, 4000])
        append(run / LOG_NAME, data[pos : pos + n])
        pos += n
        if rng.random() < 0.05:
            time.sleep(0.01)
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(tmp_path / "src")


def test_follower_read_never_returns_an_unterminated_line(tmp_path: Path) -> None:
    """In-process check at every cut of one line: read() returns nothing for any proper prefix."""
    lines = finished_log(tmp_path, 5)
    run = tmp_path / "run"
    fake_lock(run)
    log = run / LOG_NAME
    append(log, lines[0])
    with Follower(run, poll=True, poll_interval=0.001) as f:
        first = [i for i in f.read(timeout=5) if isinstance(i, RunStart)]
        assert len(first) == 1
        line = lines[1]
        for k in range(len(line) - 1):
            append(log, line[k : k + 1])
            assert not [i for i in f.read(timeout=0) if not isinstance(i, Notice)], f"shown at cut {k + 1}"
        append(log, line[-1:])
        got = [i for i in f.read(timeout=5) if not isinstance(i, Notice)]
        assert [ev.seq for ev in got] == [1]


def test_long_line_in_pieces(tmp_path: Path) -> None:
    """A line near the 1 MiB limit, written in pieces around small lines: shown once, intact."""
    from vrx_core.events import Log, Metric
    from vrx_core.log.writer import Recorder

    src = tmp_path / "src"
    with Recorder(src) as rec:
        rec.emit(Metric(name="a", value=1.0))
        rec.emit(Log(msg="y" * 900_000))
        rec.emit(Metric(name="a", value=2.0))
    data = (src / LOG_NAME).read_bytes()
    run = tmp_path / "run"
    fake_lock(run)
    t = tail(run, "--events", "--json")
    for pos in range(0, len(data), 100_000):
        append(run / LOG_NAME, data[pos : pos + 100_000])
        time.sleep(0.02)
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(src)


def test_overlong_unterminated_line_is_reported_not_buffered(tmp_path: Path) -> None:
    """Bytes past the line limit without a newline (after the durable point) are reported as
    damage (a `residue` warning) instead of being buffered forever."""
    lines = finished_log(tmp_path, 10)
    run = tmp_path / "run"
    fake_lock(run)
    append(run / LOG_NAME, b"".join(lines[:-1]) + b"z" * 6000)
    with Follower(run, poll=True, max_line=5000) as f:
        notices: list[Notice] = []
        deadline = time.monotonic() + 20
        while not any(n.kind == "residue" for n in notices) and time.monotonic() < deadline:
            notices += [i for i in f.read(timeout=0.5) if isinstance(i, Notice)]
        residue = [n for n in notices if n.kind == "residue"]
        assert residue and "exceeds the 5000-byte limit" in residue[0].message
        assert f.offset == sum(len(x) for x in lines[:-1])
