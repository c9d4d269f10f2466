"""Write and fsync failures (RELIABILITY §4 rows 8 and 20, §6.2: the SQLite I/O-error loop).

For every syscall position k at which a fault can be injected, the workload either completes or
stops with a RecorderIOError (exit 74); the committed prefix stays valid, with no torn committed
line, every acknowledged event is kept, later emits raise RecorderClosed, and a new writer resumes.
"""

from __future__ import annotations

import errno
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _log_harness import CHILD, HERE, FaultFS, assert_verdict, read_all, sample_events, seqs

from vrx_core.errors import ExitCode, RecorderClosed, RecorderIOError, VrxError
from vrx_core.events import Event, Metric
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

EVENTS: list[Event] = sample_events(16, big_every=5, big_size=5000)


def run_workload(run: Path, fs: FaultFS) -> tuple[list[tuple[int, Event]], VrxError | None, Recorder | None]:
    """Create, emit EVENTS, sync and close; return the acknowledged (seq, event) pairs and the error."""
    acked: list[tuple[int, Event]] = []
    rec: Recorder | None = None
    try:
        rec = Recorder(run, fs=fs, fsync_every_n=3)
        for ev in EVENTS:
            acked.append((rec.emit(ev), ev))
        rec.sync()
        rec.close()
    except VrxError as exc:
        return acked, exc, rec
    return acked, None, rec


@pytest.mark.parametrize("kind", ["short", "short_notrunc", "enospc", "eio", "fsync_eio"])
def test_log_io_error_loop_keeps_the_committed_prefix_valid(tmp_path: Path, kind: str) -> None:
    """For k = 1, 2, ... until the workload completes, fail syscall k (a short write then
    ENOSPC, a short write whose cut-back also fails, ENOSPC, EIO, or fsync EIO): the error is a
    RecorderIOError (exit 74) naming the errno; the recorder then refuses emits and syncs with
    RecorderClosed and close() writes nothing; the log reads in strict mode with no torn committed
    line, holds every acknowledged event, verifies INCOMPLETE, and a new writer resumes it to OK."""
    for k in itertools.count(1):
        run = tmp_path / f"k{k}"
        fs = FaultFS(k, kind)
        acked, err, rec = run_workload(run, fs)
        if not fs.fired:
            assert err is None
            assert_verdict(run, "OK")
            break
        assert isinstance(err, RecorderIOError), (k, err)
        assert err.exit_code == ExitCode.IOERR == 74
        assert ("EIO" if kind in ("eio", "fsync_eio") else "ENOSPC") in str(err)
        assert str(run / LOG_NAME) in str(err)
        log = run / LOG_NAME
        if rec is not None:
            before = log.read_bytes()
            with pytest.raises(RecorderClosed) as closed:
                rec.emit(Metric(name="after", value=1.0))
            assert closed.value.exit_code == ExitCode.SOFTWARE
            with pytest.raises(RecorderClosed):
                rec.sync()
            rec.close()
            assert log.read_bytes() == before, "close after a failure must not write"
        assert not (run / "writer.lock").exists(), "the lock is released after a failure"
        events, report = read_all(log, mode="strict")
        assert seqs(events) == list(range(len(events)))
        if kind == "short_notrunc":
            # The cut-back failed too: the partial line stays, uncommitted, and the error says so.
            assert report.torn_tail_bytes > 0
            assert "could not cut the partial line back" in str(err)
        else:
            assert report.torn_tail_bytes == 0, "a failed write must be cut back to the last line"
        by_seq = {e.seq: e for e in events}
        for seq, ev in acked:
            assert type(by_seq[seq]) is type(ev)
        assert not report.complete
        assert_verdict(run, "INCOMPLETE")
        with Recorder(run) as again:
            again.emit(Metric(name="resumed", value=float(k)))
        resumed, report2 = read_all(log, mode="strict")
        assert report2.complete and resumed[: len(events)] == events
        assert_verdict(run, "OK")
    assert k > 10, "the loop must have injected faults at many points"


def test_log_short_writes_are_completed_not_torn(tmp_path: Path) -> None:
    """A write that returns fewer bytes than asked (then succeeds) is continued: for any k the
    workload completes and the log is byte-for-byte well formed and verifies OK."""
    for k in range(1, 40):
        run = tmp_path / f"k{k}"
        fs = FaultFS(k, "short_ok")
        acked, err, _ = run_workload(run, fs)
        assert err is None
        _, report = read_all(run / LOG_NAME, mode="strict")
        assert report.complete and len(acked) == len(EVENTS)
        assert_verdict(run, "OK")


def test_log_rlimit_fsize_gives_a_clear_io_error(tmp_path: Path) -> None:
    """Under RLIMIT_FSIZE (SIGXFSZ ignored, as a disk-full stand-in needing no root) the recorder
    gets a short write then EFBIG: it raises RecorderIOError (exit 74) naming EFBIG, refuses later
    emits, and leaves a log no larger than the limit that verifies INCOMPLETE, not CORRUPT, with
    every acknowledged event in it."""
    limit = 12_000
    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, str(CHILD), "fsize", str(run), str(limit)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] == "RecorderIOError" and result["exit_code"] == 74
    assert errno.errorcode[errno.EFBIG] in result["message"]
    assert result["after"] == "RecorderClosed"
    log = run / LOG_NAME
    assert log.stat().st_size <= limit
    events, report = read_all(log, mode="strict")
    assert report.torn_tail_bytes == 0
    assert [e.step for e in events if isinstance(e, Metric)] == list(range(result["acked"]))
    assert result["acked"] > 10
    assert_verdict(run, "INCOMPLETE")
