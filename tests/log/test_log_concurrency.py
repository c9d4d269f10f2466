"""One writer per run, recovery of stale locks, and many threads on one writer (RELIABILITY §4
row 7, §2.4)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from _log_harness import CHILD, HERE, assert_verdict, read_all, sample_events, seqs, write_log

from vrx_core.errors import ExitCode, LockHeld
from vrx_core.events import Metric, Resumed, RunStart
from vrx_core.log.lock import boot_id
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """A writer process holding ``tmp_path/run`` and emitting until its stdin closes."""
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "hold", str(run)],
        cwd=HERE,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    ready = proc.stdout.readline().split()
    assert ready[:1] == ["ready"], ready
    try:
        yield proc, int(ready[1]), run
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=20)
        proc.stdout.close()


def test_log_second_writer_in_another_process_fails_at_once(
    holder: tuple[subprocess.Popen[str], int, Path],
) -> None:
    """While a writer process holds a run, a second Recorder on it fails within a second with
    LockHeld (exit 75) naming the holder's host and pid; it writes nothing, and the first writer
    keeps going and finishes a log that verifies OK."""
    proc, pid, run = holder
    t0 = time.monotonic()
    with pytest.raises(LockHeld) as info:
        Recorder(run)
    assert time.monotonic() - t0 < 1.0
    err = info.value
    assert err.exit_code == ExitCode.TEMPFAIL == 75
    assert f"host={socket.gethostname()}" in str(err) and f"pid={pid}" in str(err)
    assert proc.poll() is None, "the first writer is unaffected"
    time.sleep(0.05)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=20) == 0
    events, report = read_all(run / LOG_NAME, mode="strict")
    assert report.complete and seqs(events) == list(range(len(events)))
    assert sum(isinstance(e, RunStart) for e in events) == 1
    assert not any(isinstance(e, Resumed) for e in events)
    assert sum(isinstance(e, Metric) for e in events) > 1
    assert_verdict(run, "OK")


def test_log_second_writer_process_exits_75(tmp_path: Path) -> None:
    """The other way round: while this process holds a run, a writer started in another process
    exits 75 with a message naming this host and pid."""
    with Recorder(tmp_path) as rec:
        rec.emit(Metric(name="m", value=1.0))
        out = subprocess.run(
            [sys.executable, str(CHILD), "hold", str(tmp_path)],
            cwd=HERE,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 75, out.stderr
        result = json.loads(out.stdout)
        assert result["error"] == "LockHeld"
        assert f"pid={os.getpid()}" in result["message"]
        assert f"host={socket.gethostname()}" in result["message"]
    assert_verdict(tmp_path, "OK")


def test_log_second_writer_in_the_same_process_fails(tmp_path: Path) -> None:
    """Two Recorders on one run in one process conflict too (the lock is per open file)."""
    with Recorder(tmp_path) as rec:
        with pytest.raises(LockHeld):
            Recorder(tmp_path)
        rec.emit(Metric(name="still", value=1.0))
    assert_verdict(tmp_path, "OK")


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


def _write_lock(run: Path, **fields: object) -> dict[str, object]:
    holder = {
        "run_id": "old",
        "host": socket.gethostname(),
        "pid": _dead_pid(),
        "boot_id": boot_id(),
        "since": time.time() - 60,
        **fields,
    }
    (run / "writer.lock").write_bytes(msgspec.json.encode(holder) + b"\n")
    return holder


def test_log_stale_lock_of_a_dead_process_is_recovered_and_recorded(tmp_path: Path) -> None:
    """A lock file naming a dead pid on this host (no flock held, as after a crash) does not block
    the next writer: it resumes the log and records the previous holder in the ``resumed``
    event's stale_lock."""
    write_log(tmp_path, sample_events(5), close=False)
    stale = _write_lock(tmp_path)
    with Recorder(tmp_path) as rec:
        rec.emit(Metric(name="after", value=1.0))
    events, _ = read_all(tmp_path / LOG_NAME, mode="strict")
    (resumed,) = [e for e in events if isinstance(e, Resumed)]
    assert resumed.stale_lock == stale
    assert resumed.writer.pid == os.getpid() and resumed.writer.epoch == 1
    assert_verdict(tmp_path, "OK")
    assert not (tmp_path / "writer.lock").exists()


@pytest.mark.usefixtures("no_flock")
def test_log_without_flock_the_lock_file_content_decides(tmp_path: Path) -> None:
    """Where flock is unavailable, the lock file's content decides: a dead holder on this host is
    recovered (and recorded), a live one or one on another host blocks with LockHeld, and
    ``takeover=True`` takes a lock from another host, recording the previous holder."""
    write_log(tmp_path, sample_events(3), close=False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, pid=sleeper.pid)
        with pytest.raises(LockHeld) as info:
            Recorder(tmp_path)
        assert f"pid={sleeper.pid}" in str(info.value)
    finally:
        sleeper.kill()
        sleeper.wait()
    _write_lock(tmp_path, host="some-other-host")
    with pytest.raises(LockHeld):
        Recorder(tmp_path)
    other = _write_lock(tmp_path, host="some-other-host")
    Recorder(tmp_path, takeover=True).close()
    dead = _write_lock(tmp_path)
    Recorder(tmp_path, resume="allow").close()  # the takeover above ended the run
    events, _ = read_all(tmp_path / LOG_NAME, mode="strict")
    assert [e.stale_lock for e in events if isinstance(e, Resumed)] == [other, dead]
    assert_verdict(tmp_path, "OK")


def test_log_eight_threads_keep_seq_dense_and_lose_nothing(tmp_path: Path) -> None:
    """Eight threads emitting at once through one Recorder get distinct seqs; the log is dense
    from 0, every event is present at the seq emit returned, each thread's events keep their
    order, and the closed log verifies OK."""
    n_threads, per_thread = 8, 300
    results: dict[int, list[int]] = {}
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    with Recorder(tmp_path, fsync_every_n=50) as rec:

        def work(tid: int) -> None:
            try:
                barrier.wait()
                results[tid] = [
                    rec.emit(Metric(name=f"t{tid}", value=float(i), step=i)) for i in range(per_thread)
                ]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    all_seqs = [s for got in results.values() for s in got]
    assert len(set(all_seqs)) == n_threads * per_thread
    events, report = read_all(tmp_path / LOG_NAME, mode="strict")
    assert report.complete and seqs(events) == list(range(len(events)))
    by_seq = {e.seq: e for e in events}
    for tid, got in results.items():
        assert got == sorted(got)
        for i, seq in enumerate(got):
            ev = by_seq[seq]
            assert isinstance(ev, Metric) and ev.name == f"t{tid}" and ev.step == i
    assert_verdict(tmp_path, "OK")
