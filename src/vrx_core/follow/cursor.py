"""The checked incremental cursor over a live log: read what is new, check it, never read a line twice.

Every line goes through the reader's :class:`~vrx_core.log.reader.LineChecker` (framing, salted CRC,
dense seq, hash chain), so a follower sees exactly what a replay of the same bytes would, and a line
is only taken once its ``\\n`` is written. The log is never rotated, so a log that shrinks below what
was read, or is rewritten in place, is an error (:class:`LogChanged`, exit 65), never silently
re-read; a replacement at the path is accepted only if its bytes up to the read offset hash to the
ones read (:meth:`LogCursor.verify_prefix`).

A cursor's :class:`Position` can be saved (``to_json``) and restored on a new cursor
(:meth:`LogCursor.restore`). Python cannot serialise a sha256 state, so a restore rehashes the
prefix once (the same pass that checks a replaced file) and compares it with the saved digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final, Literal

from vrx_core.errors import CorruptLog, NoSuchRun
from vrx_core.events import AnyEvent, EventRegistry
from vrx_core.follow.stream import LogChanged, Notice, TailItem
from vrx_core.log.framing import MAX_LINE_BYTES
from vrx_core.log.reader import (
    LineChecker,
    LineProblem,
    Problem,
    ReadReport,
    RunningHash,
    is_residue,
)

#: A damaged line after the durable point is re-read for this long before it is reported.
SETTLE_S: Final = 1.0
_CHUNK: Final = 1 << 20
_READ_SIZE: Final = 1 << 16  # first read after a wake; grows x4 while reads come back full
_TAIL_CHECK: Final = 64  # bytes before the read offset compared on each read (in-place rewrite)

#: (event, shown): ``shown`` is False for history skipped by ``from_start=False``.
Batch = list[tuple[AnyEvent, bool]]


@dataclass(frozen=True)
class Position:
    """Where a checked read of a log stands: enough to resume checking without trusting the prefix.

    ``sha256`` is the hash of the ``offset`` bytes read; a restore rehashes them and compares.
    """

    offset: int  #: bytes read and checked (always at a line boundary)
    next_seq: int  #: the seq the next line must carry
    line_no: int  #: lines read
    salt: int  #: the run's CRC salt (the first line's CRC)
    durable_upto: int  #: largest durable offset vouched for by a sync line so far
    sha256: str  #: hex sha256 of the first ``offset`` bytes
    complete: bool  #: the last line read is a run end

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Position:
        return cls(**{k: obj[k] for k in cls.__dataclass_fields__})


class LogCursor:
    """An open log, its checker, and what was read of it.

    :meth:`drain` appends checked events to a batch; the caller feeds them onwards. ``ended`` turns
    True once a run end was read with nothing after it (a resumed run continues past a run end).
    """

    def __init__(
        self, path: Path, registry: EventRegistry, *, from_start: bool = True, max_line: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.from_start = from_start
        self.max_line = max_line
        self.report = ReadReport(path=path, mode="recover")
        self.checker = LineChecker(registry, self.report, max_line=max_line)
        self.fd = -1
        self.ident: tuple[int, int] | None = None
        #: Size of the log when opened: lines ending before it are history.
        self.start_size = 0
        #: Bytes after the last ``\\n`` at the last read (a line still being written, or torn).
        self.partial = 0
        #: True once a run end was read and nothing follows it.
        self.ended = False
        #: Seq of the first event that was not yet in the log when it was opened (None: none yet).
        self.first_new_seq: int | None = None
        #: The last :meth:`drain`: whether it may have more to read; whether the size changed;
        #: whether the log grew since an earlier look (a sign of the writer's life); whether there
        #: was nothing to look at (unchanged size, nothing pending).
        self.more = False
        self.changed = False
        self.grew = False
        self.idle = False
        #: A damaged line after the durable point, re-read until it heals or is proven damaged.
        self.residue: Problem | None = None
        self.retry_at = 0.0
        self._residue_since = 0.0
        self._retry_step = 0.05
        self._residue_warned = False
        self._seen_size = -1
        self._max_size = 0
        self._tail = b""
        self._read_size = _READ_SIZE
        self._max_read = max(_CHUNK, max_line + 1)

    @property
    def offset(self) -> int:
        """Bytes of the log read and checked so far (always at a line boundary)."""
        return self.checker.offset

    @property
    def position(self) -> Position:
        r = self.report
        return Position(
            offset=self.checker.offset,
            next_seq=self.checker.expect_seq,
            line_no=self.checker.line_no,
            salt=r.salt,
            durable_upto=r.durable_upto,
            sha256=r.sha256.hexdigest(),
            complete=r.complete,
        )

    # -- the file ------------------------------------------------------------------------------------

    def open(self, *, all_new: bool) -> bool:
        """Open the log at the path; False if it does not exist (yet). ``all_new``: the log appeared
        while waiting, so none of it is history."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except NotADirectoryError:
            raise NoSuchRun("not a run directory", path=self.path.parent) from None
        except OSError as exc:
            raise NoSuchRun(f"cannot open event log: {exc.strerror}", path=self.path) from None
        st = os.fstat(fd)
        self.fd = fd
        self.ident = (st.st_dev, st.st_ino)
        self.start_size = 0 if all_new else st.st_size
        return True

    def at_path(self) -> Literal["same", "other", "missing", "unknown"]:
        """What the path names now: the open file, another one, nothing, or unknown (stat failed)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "missing"
        except OSError:
            return "unknown"
        return "same" if (st.st_dev, st.st_ino) == self.ident else "other"

    def revalidate(self) -> bool:
        """Network file systems: reopen the path so the client fetches fresh attributes (close-to-open
        consistency). True when the path may name another file now."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return True
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return (st.st_dev, st.st_ino) != self.ident

    def switch_to_path(self) -> bool:
        """Follow the file now at the path if its bytes up to the offset are the ones read.

        False if the path is gone again. Raises :class:`LogChanged` for other content.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            self.verify_prefix(fd)
        except BaseException:
            os.close(fd)
            raise
        st = os.fstat(fd)
        os.close(self.fd)
        self.fd = fd
        self.ident = (st.st_dev, st.st_ino)
        self._seen_size = -1
        return True

    def verify_prefix(self, fd: int) -> None:
        """Raise :class:`LogChanged` unless ``fd``'s first ``offset`` bytes hash to the ones read."""
        off = self.offset
        size = os.fstat(fd).st_size
        if size < off:
            raise LogChanged(
                f"{self.path.name} was replaced by a shorter file ({size} bytes; {off} bytes had been read)",
                path=self.path,
            )
        h = hashlib.sha256()
        if _chunks(fd, off, h.update) != off or h.hexdigest() != self.report.sha256.hexdigest():
            raise LogChanged(
                f"{self.path.name} was replaced by different content (its first {off} bytes differ from those"
                " already read)",
                path=self.path,
            )

    def restore(self, pos: Position) -> None:
        """Continue checking from ``pos`` (saved by another cursor over the same log).

        Call after :meth:`open`, before any :meth:`drain`. The prefix is rehashed once (a sha256
        state cannot be saved) and the first line checked again; :class:`LogChanged` if either
        differs from what ``pos`` says. Events before ``pos`` are neither checked again nor
        returned; ``report.lines`` counts them, ``report.unknown`` does not.
        """
        if self.fd < 0 or self.offset:
            raise ValueError("restore() needs a freshly opened cursor")
        if pos.offset == 0:
            return
        running = RunningHash()
        first: list[bytes] = []

        def each(chunk: bytes) -> None:
            running.update(chunk)
            if not first:
                first.append(chunk.split(b"\n", 1)[0])

        if _chunks(self.fd, pos.offset, each) != pos.offset or running.hexdigest() != pos.sha256:
            raise LogChanged(
                f"{self.path.name}: its first {pos.offset} bytes differ from the saved position's",
                path=self.path,
            )
        try:
            self.checker.check(first[0])  # the run start: its salt and format
        except LineProblem as lp:
            raise CorruptLog(f"{lp.kind}: {lp.message}", path=self.path, line=1, offset=0) from None
        r = self.report
        if r.salt != pos.salt:
            raise LogChanged(f"{self.path.name}: not the run the saved position is from", path=self.path)
        c = self.checker
        c.offset, c.expect_seq, c.line_no = pos.offset, pos.next_seq, pos.line_no
        r.sha256 = running
        r.lines, r.last_seq, r.valid_end = pos.line_no, pos.next_seq - 1, pos.offset
        r.durable_upto, r.complete = pos.durable_upto, pos.complete
        k = min(_TAIL_CHECK, pos.offset)
        self._tail = os.pread(self.fd, k, pos.offset - k)
        self.start_size = max(self.start_size, pos.offset)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    # -- reading -------------------------------------------------------------------------------------

    def _shrank(self, size: int) -> LogChanged:
        return LogChanged(
            f"{self.path.name} shrank from {self._max_size} to {size} bytes, below the {self.offset} bytes"
            " already read (truncated by another process?)",
            path=self.path,
            offset=self.offset,
        )

    def drain(self, batch: Batch, out: list[TailItem], now: float) -> bool:
        """Read and check the committed lines after the offset into ``batch``; return True if more
        may follow. A ``residue`` notice goes to ``out``. Lines accepted before an error stay in
        ``batch``."""
        self.changed = self.grew = self.idle = False
        self.more = more = self._drain(batch, out, now)
        return more

    def _drain(self, batch: Batch, out: list[TailItem], now: float) -> bool:
        size = os.fstat(self.fd).st_size
        off = self.checker.offset
        if size < off:
            raise self._shrank(size)
        if size != self._seen_size:
            self.changed = True
            self.grew = size > self._seen_size >= 0
            self._seen_size = size
            self._max_size = max(self._max_size, size)
            self._retry_step = 0.05
        elif not self.more and (self.residue is None or now < self.retry_at):
            self.idle = True
            return False
        k = min(_TAIL_CHECK, off)
        want = self._read_size
        data = os.pread(self.fd, want + k, off - k)
        if data[:k] != self._tail:
            now_size = os.fstat(self.fd).st_size
            if now_size < off:
                raise self._shrank(now_size)
            raise LogChanged(
                f"{self.path.name} was rewritten in place: the bytes before offset {off} changed"
                " since they were read",
                path=self.path,
                offset=off - k,
            )
        body = data[k:]
        full = len(body) == want
        # Small reads while following (a 1 MiB buffer costs 8 us a wake); bigger while catching up.
        self._read_size = min(self._max_read, want * 4) if full else _READ_SIZE
        nl = body.rfind(b"\n")
        if nl < 0:
            self.partial = len(body)
            if len(body) > self.max_line:
                lp = LineProblem("too_long", f"unterminated line exceeds the {self.max_line}-byte limit")
                self._bad_line(lp, off, out, now)
                return False
            self.residue = None
            return full  # a long line goes on past the buffer: read again, with a bigger one
        pos = off
        stopped = False
        checker = self.checker
        for line in body[:nl].split(b"\n"):
            try:
                event = checker.check(line)
            except LineProblem as lp:
                self._bad_line(lp, pos, out, now)
                stopped = True
                break
            checker.accept(line, event)
            pos += len(line) + 1
            # Lines that ended before the start offset are history (shown only with from_start).
            new = pos > self.start_size
            if new and self.first_new_seq is None:
                self.first_new_seq = event.seq
            batch.append((event, new or self.from_start))
        if not stopped:
            self.residue = None
        idx = checker.offset - off + k
        self._tail = data[max(0, idx - _TAIL_CHECK) : idx]
        self.partial = len(body) - (nl + 1)
        if not stopped and self.partial > self.max_line:
            over = LineProblem("too_long", f"unterminated line exceeds the {self.max_line}-byte limit")
            self._bad_line(over, checker.offset, out, now)
            stopped = True
        more = full and not stopped
        if not more and not stopped and self.report.complete and self.partial == 0:
            self.ended = True  # a run end with nothing after it (a resumed run continues past one)
        return more

    def _bad_line(self, lp: LineProblem, pos: int, out: list[TailItem], now: float) -> None:
        problem = Problem(lp.kind, self.checker.line_no + 1, pos, lp.message)
        if not is_residue(self.fd, problem, self.report):
            raise CorruptLog(f"{lp.kind}: {lp.message}", path=self.path, line=problem.line, offset=pos)
        # After the durable point: a write in flight (NFS can expose pages out of order) or the
        # residue of a crash, which a resuming writer cuts off. Re-read until it settles.
        if self.residue is None or self.residue.offset != pos:
            self.residue = problem
            self._residue_since = now
            self._residue_warned = False
            self._retry_step = 0.05
        self.retry_at = now + self._retry_step
        self._retry_step = min(1.0, self._retry_step * 2)
        if not self._residue_warned and now - self._residue_since >= SETTLE_S:
            self._residue_warned = True
            out.append(
                Notice(
                    "residue",
                    f"damaged line {problem.line} (byte {pos}) after the last durable point: {lp.message};"
                    " crash residue or a write in flight, waiting",
                    self.report.last_seq,
                    "warning",
                )
            )

    def unread_note(self) -> str:
        """What was left unread at the end: a damaged line, or uncommitted bytes (for error messages)."""
        if self.residue is not None:
            r = self.residue
            return f"; stopped at damaged line {r.line} (byte {r.offset}), crash residue"
        if self.partial:
            return f"; {self.partial} uncommitted byte(s) after the last line"
        return ""


def _chunks(fd: int, size: int, each: Callable[[bytes], object]) -> int:
    """Pass the first ``size`` bytes of ``fd`` to ``each`` in chunks; return how many there were."""
    pos = 0
    while pos < size:
        chunk = os.pread(fd, min(_CHUNK, size - pos), pos)
        if not chunk:
            break
        each(chunk)
        pos += len(chunk)
    return pos


__all__ = ["SETTLE_S", "Batch", "LogCursor", "Position"]
