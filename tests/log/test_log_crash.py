"""Process crashes: random SIGKILLs of a writer process, and deterministic torn lines.

RELIABILITY §4 rows 1-2 and §6.1: a killed writer loses nothing ``emit`` acknowledged, leaves at
most an unterminated tail, and a resumed writer cuts that tail (keeping a copy) and continues.
"""

from __future__ import annotations

import fcntl
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from _log_harness import (
    CHILD,
    HERE,
    assert_verdict,
    crash_event,
    read_all,
    sample_events,
    seqs,
    tag_of,
    write_log,
)

from vrx_core.events import Event, Metric, Resumed, registry
from vrx_core.log.framing import EventEncoder, frame
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

TRIALS = 200


class ForkServer:
    """Parent side of ``_log_child.py serve``: one interpreter, one forked writer per trial."""

    def __init__(self) -> None:
        ctl_r, self.ctl_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self.ack_r, ack_w = os.pipe()
        os.set_blocking(self.ack_r, False)
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), "serve", str(ctl_r), str(rep_w), str(ack_w)],
            pass_fds=(ctl_r, rep_w, ack_w),
            cwd=HERE,
        )
        for fd in (ctl_r, rep_w, ack_w):
            os.close(fd)
        self.rep_buf = b""

    def _report_line(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.rep_buf:
            left = deadline - time.monotonic()
            assert left > 0, "fork server did not answer"
            if select.select([self.rep_r], [], [], left)[0]:
                chunk = os.read(self.rep_r, 65536)
                assert chunk, f"fork server exited with {self.proc.wait()}"
                self.rep_buf += chunk
        line, _, self.rep_buf = self.rep_buf.partition(b"\n")
        return line.decode()

    def _drain_acks(self, buf: bytearray) -> None:
        while True:
            try:
                chunk = os.read(self.ack_r, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                return
            buf += chunk

    def trial(
        self, run_dir: Path, seed: int, big: bool, delay: float, *, kill_at: int = 0, fraction: float = 0.0
    ) -> tuple[int, list[tuple[int, int]]]:
        """Start a writer and SIGKILL it ``delay`` s after its recorder opened (or let it kill
        itself inside its ``kill_at``-th write); return its pid and its acks (seq, index)."""
        os.write(self.ctl_w, f"{run_dir} {seed} {int(big)} {kill_at} {fraction!r}\n".encode())
        head = self._report_line()
        assert head.startswith("PID "), head
        pid = int(head.split()[1])
        acks = bytearray()
        deadline = time.monotonic() + 20
        while b"\n" not in acks:  # wait until the recorder is open (the run_start ack)
            assert time.monotonic() < deadline, "writer never started"
            select.select([self.ack_r], [], [], 0.5)
            self._drain_acks(acks)
        if not kill_at:
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)
        done = self._report_line()
        assert done.startswith("DONE "), done  # an ERR line carries the writer's traceback
        status = int(done.split()[1])
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        self._drain_acks(acks)  # the writer is dead and reaped: every ack it wrote is in the pipe
        assert acks.endswith(b"\n")
        pairs = [tuple(map(int, ln.split())) for ln in acks.decode().splitlines()]
        return pid, [(s, i) for s, i in pairs]

    def close(self) -> None:
        os.close(self.ctl_w)
        self.proc.wait(timeout=10)
        os.close(self.rep_r)
        os.close(self.ack_r)


@pytest.fixture(scope="module")
def fork_server() -> Iterator[ForkServer]:
    server = ForkServer()
    try:
        yield server
    finally:
        server.close()


def check_crashed_run(run_dir: Path, acks: list[tuple[int, int]], seed: int, big: bool, pid: int) -> int:
    """Every invariant a killed run must satisfy; returns the size of the torn tail."""
    log = run_dir / LOG_NAME
    events, report = read_all(log)
    assert seqs(events) == list(range(len(events))), "committed seq must be dense from 0"
    by_seq = {e.seq: e for e in events}
    for seq, idx in acks:
        assert seq in by_seq, f"acknowledged seq {seq} lost"
        if idx >= 0:
            got = by_seq[seq]
            assert isinstance(got, Event)
            assert msgspec.structs.replace(got, seq=-1, t=0.0) == crash_event(seed, idx, big)
    assert not report.problems and report.residue is None
    assert not report.complete
    torn = report.torn_tail_bytes
    data = log.read_bytes()
    assert len(data) == report.valid_end + torn
    verdict = assert_verdict(run_dir, "INCOMPLETE")
    assert verdict.exit_code == 3

    with Recorder(run_dir, fsync_every_n=5) as rec:
        rec.emit(Metric(name="after_resume", value=1.0))
    events2, report2 = read_all(log, mode="strict")
    assert seqs(events2) == list(range(len(events2)))
    assert events2[: len(events)] == events
    resumed = events2[len(events)]
    assert isinstance(resumed, Resumed)
    assert resumed.truncated_bytes == torn
    assert resumed.stale_lock is not None and resumed.stale_lock["pid"] == pid
    torn_copy = run_dir / f"{LOG_NAME}.torn-{report.valid_end}"
    if torn:
        assert resumed.torn_file == torn_copy.name
        assert torn_copy.read_bytes() == data[report.valid_end :]
    else:
        assert resumed.torn_file is None
        assert not torn_copy.exists()
    assert report2.complete
    assert_verdict(run_dir, "OK")
    return torn


def test_log_random_sigkill_loses_nothing_acknowledged(fork_server: ForkServer, tmp_path: Path) -> None:
    """A writer SIGKILLed at a random moment, or in the middle of a random write call, keeps
    every acknowledged event; the log verifies as INCOMPLETE (never CORRUPT), and a resumed writer
    cuts any torn tail, keeps a copy, records ``resumed`` naming the dead lock holder, continues
    seq densely, and closes to OK."""
    rng = random.Random(20251125)
    torn_tails = mid_write = 0
    for trial in range(TRIALS):
        big = trial % 3 == 2
        run_dir = tmp_path / f"t{trial}"
        seed = rng.randrange(1 << 30)
        # Random kills rarely land inside a write (RELIABILITY §6.1): every fourth trial the
        # writer kills itself part-way through a random write instead.
        kill_at = rng.randrange(2, 40) if trial % 4 == 1 else 0
        fraction = rng.uniform(0.05, 1.0)
        delay = rng.uniform(0, 0.04 if big else 0.02)
        pid, acks = fork_server.trial(run_dir, seed, big, delay, kill_at=kill_at, fraction=fraction)
        assert acks[0] == (0, -1)
        torn = check_crashed_run(run_dir, acks, seed, big, pid)
        if kill_at:
            mid_write += 1
            assert torn > 0, "a kill inside write() must leave a torn tail"
        torn_tails += torn > 0
        shutil.rmtree(run_dir)
    assert torn_tails >= mid_write
    print(f"{TRIALS} SIGKILL trials, {torn_tails} with a torn tail")


def _next_line(log: Path, event: Event) -> bytes:
    """The framed line a resumed writer would append next (right seq and salt)."""
    _, report = read_all(log)
    _, body = EventEncoder(registry).encode(event)
    return frame(report.last_seq + 1, 1764071000.5, 1, body, report.salt)


@pytest.mark.parametrize("big", [False, True], ids=["small-line", "3k-line"])
def test_log_every_torn_length_of_a_further_line(tmp_path: Path, big: bool) -> None:
    """For every byte length k of one further framed line appended to a crashed log: the reader
    returns exactly the committed events (plus the new one only when k is the full line, ``\\n``
    included), reports k torn bytes, never raises in strict mode, and verify says INCOMPLETE."""
    base = tmp_path / "base"
    log = write_log(base, sample_events(8), close=False, fsync_every_n=3)
    data = log.read_bytes()
    committed, _ = read_all(log, mode="strict")
    extra = Metric(name="x" * (3000 if big else 4), value=-0.0, step=7)
    line = _next_line(log, extra)
    for k in range(len(line) + 1):
        log.write_bytes(data + line[:k])
        for mode in ("strict", "recover"):
            events, report = read_all(log, mode=mode)
            if k == len(line):
                assert events[:-1] == committed
                assert tag_of(events[-1]) == "metric" and events[-1].seq == len(committed)
                assert report.torn_tail_bytes == 0
            else:
                assert events == committed, k
                assert report.torn_tail_bytes == k
                assert report.valid_end == len(data)
            assert not report.problems
        assert_verdict(base, "INCOMPLETE")


def test_log_resume_after_every_torn_length(tmp_path: Path) -> None:
    """A writer resuming a log whose last line is torn at any byte cuts exactly the torn bytes,
    keeps them in ``events.jsonl.torn-<offset>``, records ``resumed`` with the byte count, continues
    seq densely, and the closed log verifies OK; resuming twice changes nothing more (idempotent)."""
    src = tmp_path / "src"
    log = write_log(src, sample_events(4), close=False, fsync_every_n=2)
    data = log.read_bytes()
    line = _next_line(log, Metric(name="next", value=float("inf"), step=1))
    for k in range(len(line) + 1):
        run = tmp_path / f"k{k}"
        run.mkdir()
        (run / LOG_NAME).write_bytes(data + line[:k])
        committed, _ = read_all(run / LOG_NAME)
        rec = Recorder(run, fsync_every_n=2)
        rec.close()
        events, report = read_all(run / LOG_NAME, mode="strict")
        assert report.complete
        assert seqs(events) == list(range(len(events)))
        assert events[: len(committed)] == committed
        resumed = events[len(committed)]
        assert isinstance(resumed, Resumed)
        torn = k if k < len(line) else 0
        assert resumed.truncated_bytes == torn
        copy = run / f"{LOG_NAME}.torn-{len(data)}"
        if torn:
            assert resumed.torn_file == copy.name
            assert copy.read_bytes() == line[:k]
        else:
            assert not copy.exists() and resumed.torn_file is None
        assert_verdict(run, "OK")
        # A second resume finds nothing to cut.
        before = (run / LOG_NAME).read_bytes()
        Recorder(run, resume="allow").close()  # the first resume ended the run
        events3, _ = read_all(run / LOG_NAME, mode="strict")
        assert (run / LOG_NAME).read_bytes().startswith(before)
        last_resumed = [e for e in events3 if isinstance(e, Resumed)][-1]
        assert last_resumed.truncated_bytes == 0
        assert last_resumed.previous_status == "ok"
        shutil.rmtree(run)


def test_log_crash_while_writing_run_start(tmp_path: Path) -> None:
    """A writer killed while writing its very first line (nothing acknowledged yet) leaves a log
    that reads as empty and INCOMPLETE; opening the run again keeps a copy of the fragment and
    starts the log afresh instead of refusing it."""
    probe = tmp_path / "probe"
    first = write_log(probe, ()).read_bytes().split(b"\n")[0] + b"\n"
    for k in [1, 2, len(first) // 2, len(first) - 18, len(first) - 1]:
        run = tmp_path / f"k{k}"
        run.mkdir()
        (run / LOG_NAME).write_bytes(first[:k])
        events, report = read_all(run / LOG_NAME)
        assert events == [] and report.torn_tail_bytes == k
        assert_verdict(run, "INCOMPLETE")
        with Recorder(run) as rec:
            rec.emit(Metric(name="m", value=1.0))
        events, report = read_all(run / LOG_NAME, mode="strict")
        assert report.complete and seqs(events) == list(range(len(events)))
        assert (run / f"{LOG_NAME}.torn-0").read_bytes() == first[:k]
        assert_verdict(run, "OK")


def test_log_fork_server_pipes_are_not_the_log(tmp_path: Path) -> None:
    """Sanity check of the harness itself (RELIABILITY §6.1 gotcha): acks travel on the pipe,
    never into the log file, and the pipe fds are not inherited by unrelated children."""
    server = ForkServer()
    try:
        pid, acks = server.trial(tmp_path / "r", 1, False, 0.005)
        assert acks and all(len(a) == 2 for a in acks)
        data = (tmp_path / "r" / LOG_NAME).read_bytes()
        assert all(line.startswith(b'{"seq":') for line in data.split(b"\n")[:-1])
        assert fcntl.fcntl(server.ack_r, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert pid != server.proc.pid
    finally:
        server.close()
