"""Shared helpers for the event-log tests: building logs, splitting lines, reading, a fault seam.

Named ``_log_harness`` (not ``_harness``) so it cannot clash with a helper module of another test
folder: without ``__init__.py`` files every test folder shares one module namespace.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vrx_core.engine.verify import Verdict, verify_log
from vrx_core.errors import ExitCode
from vrx_core.events import AnyEvent, Event, Log, Metric, Params
from vrx_core.log.reader import LogReader, ReadReport
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import OsFS, Recorder

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_log_child.py"

#: Flags that mean "this open may change the file system".
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def sample_events(n: int, *, big_every: int = 0, big_size: int = 3000) -> list[Event]:
    """A deterministic mix of user events; every ``big_every``-th one carries a large message."""
    out: list[Event] = []
    for i in range(n):
        if big_every and i % big_every == big_every - 1:
            out.append(Log(msg="x" * big_size, fields={"i": i}))
        elif i % 7 == 3:
            out.append(Params(values={"lr": 0.001 * i, "name": f"run-{i}", "layers": [i, i + 1]}))
        elif i % 5 == 4:
            out.append(Log(level="warning", msg=f"step {i} é✓", fields={"i": i, "ok": True}))
        else:
            out.append(Metric(name="train/loss", value=1.0 / (i + 1), step=i))
    return out


def write_log(
    run_dir: Path,
    events: Iterable[Event] = (),
    *,
    close: bool = True,
    fsync_every_n: int = 1000,
    **kwargs: Any,
) -> Path:
    """Record ``events`` into ``run_dir``; with ``close=False`` the writer "crashes" (no run_end).

    A crash is simulated by dropping the file descriptor and the lock without writing anything
    more: what a SIGKILL leaves behind when every write had returned.
    """
    rec = Recorder(run_dir, fsync_every_n=fsync_every_n, **kwargs)
    for ev in events:
        rec.emit(ev)
    if close:
        rec.close()
    else:
        crash(rec)
    return run_dir / LOG_NAME


def crash(rec: Recorder) -> None:
    """Stop a recorder the way a kill would: no run_end, nothing more written, fd closed and the
    lock released (the lock *file* of a killed writer is exercised by the SIGKILL tests)."""
    rec._stop.set()
    if rec._ticker is not None:
        rec._ticker.join()
    rec._abandon()
    rec._closed = True


def line_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every committed line, ``end`` just past its ``\\n``."""
    spans = []
    start = 0
    while (nl := data.find(b"\n", start)) >= 0:
        spans.append((start, nl + 1))
        start = nl + 1
    return spans


def read_all(path: Path, mode: str = "recover", **kwargs: Any) -> tuple[list[AnyEvent], ReadReport]:
    reader = LogReader(path, mode=mode, **kwargs)  # type: ignore[arg-type]
    events = list(reader)
    return events, reader.report


def seqs(events: Iterable[AnyEvent]) -> list[int]:
    return [e.seq for e in events]


def tag_of(e: AnyEvent) -> str:
    """The ``type`` of an event as it appears in the log."""
    t = getattr(e, "type", None)
    if isinstance(t, str):  # UnknownEvent
        return t
    tag = type(e).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def assert_verdict(run_dir: Path, status: str) -> Verdict:
    verdict = verify_log(run_dir)
    expected = {"OK": ExitCode.OK, "INCOMPLETE": ExitCode.INCOMPLETE, "CORRUPT": ExitCode.DATAERR}[status]
    assert verdict.status == status, verdict.lines()
    assert verdict.exit_code == expected
    return verdict


class FaultFS(OsFS):
    """The writer's syscall seam with one injected fault at call number ``fail_at`` (1-based).

    Kinds (writes are counted for write faults, fsyncs for ``fsync_eio``):

    * ``short``: write #k writes half the bytes, write #k+1 fails with ENOSPC (a disk filling up);
    * ``short_ok``: write #k writes half the bytes, later writes succeed (the writer must loop);
    * ``short_notrunc``: as ``short``, and the writer's ftruncate back fails with EIO too;
    * ``enospc`` / ``eio``: write #k fails;
    * ``fsync_eio``: fsync #k fails with EIO.
    """

    def __init__(self, fail_at: int, kind: str) -> None:
        self.fail_at = fail_at
        self.kind = kind
        self.n = 0
        self.fired = False

    def write(self, fd: int, data: Any) -> int:  # type: ignore[override]
        if self.kind != "fsync_eio":
            self.n += 1
            if self.n == self.fail_at:
                self.fired = True
                if self.kind.startswith("short"):
                    return os.write(fd, bytes(data[: max(1, len(data) // 2)]))
                code = errno.ENOSPC if self.kind == "enospc" else errno.EIO
                raise OSError(code, os.strerror(code))
            if self.n == self.fail_at + 1 and self.kind in ("short", "short_notrunc"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:  # type: ignore[override]
        if self.kind == "fsync_eio":
            self.n += 1
            if self.n == self.fail_at:
                self.fired = True
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:  # type: ignore[override]
        if self.kind == "short_notrunc" and self.fired:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.ftruncate(fd, length)


class RecordingFS(OsFS):
    """Records the trace of writes and fsyncs as ("write", end_offset) / ("fsync", size)."""

    def __init__(self) -> None:
        self.trace: list[tuple[str, int]] = []

    def write(self, fd: int, data: Any) -> int:  # type: ignore[override]
        n = os.write(fd, data)
        self.trace.append(("write", os.fstat(fd).st_size))
        return n

    def fsync(self, fd: int) -> None:  # type: ignore[override]
        os.fsync(fd)
        self.trace.append(("fsync", os.fstat(fd).st_size))


def crash_event(seed: int, idx: int, big: bool) -> Event:
    """Event number ``idx`` of the crash child's stream; the parent rebuilds it to compare."""
    r = (seed * 1_000_003 + idx * 7919) % 1_000_000
    if big and idx % 3 != 0:
        return Log(msg="b" * (64_000 + r % 400_000), fields={"idx": idx})
    if r % 4 == 0:
        return Params(values={"idx": idx, "tag": f"é{r}"})
    return Metric(name="loss", value=r / 1000.0, step=idx)
