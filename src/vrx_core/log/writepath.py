"""The recorder's write path: what :meth:`Recorder.emit <vrx_core.log.writer.Recorder.emit>` does
for each event, and the fsyncs and ``sync`` lines of its durability policy.

:class:`WritePath` is a part of :class:`~vrx_core.log.writer.Recorder` (its base class), kept in
its own module: the per-event path, which is most of the writer's cost, in one place.

* a plain event of a flat kind takes the fast path: checked, encoded and framed by one generated
  function (:meth:`EventEncoder.framer <vrx_core.log.framing.EventEncoder.framer>`), written with
  one ``write``, appended to the lines waiting to be hashed; a recorder's own generated ``emit``
  (:meth:`WritePath._install_emit`) inlines all of that for the kinds it has seen;
* anything else takes the full path (:meth:`WritePath._append_event`);
* nothing else runs per event: the fsync count, the group-commit clock (every 64th event) and the
  hash batches are looked at only when the seq reaches ``_check_seq``.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from vrx_core.errors import RecorderClosed, RecorderIOError, VrxError
from vrx_core.events import Checkpoint, Event, Sync
from vrx_core.log.framing import EventEncoder, frame
from vrx_core.log.reader import RunningHash

Framer = Callable[[Any, int, float, int], bytes | None]


def _free_space(path: Path) -> str:
    try:
        return f"{shutil.disk_usage(path).free} bytes free"
    except OSError:
        return "free space unknown"


class WritePath:
    """The per-event path of :class:`~vrx_core.log.writer.Recorder`, whose ``__init__`` sets every
    attribute below; all of it runs with the recorder's lock held."""

    path: Path
    run_dir: Path
    durability: str
    fsync_every_n: int
    fsync_every_s: float
    _fs: Any
    _write: Callable[[int, bytes], int]
    _enc: EventEncoder
    _acquire: Callable[[], bool]
    _release: Callable[[], None]
    _fd: int
    _closed: bool
    _failed: VrxError | None
    _seq: int
    _salt: int
    _sha: RunningHash
    _hashed_end: int
    _unhashed: list[bytes]
    _pend: Callable[[bytes], None]
    _fsync_due_n: int
    _fsync_seq: int
    _fsync_at: int
    _sync_seq: int
    _check_seq: int
    _last_fsync: float
    _framers: dict[type[Any], Framer | None]
    _fast: dict[type[Any], Framer | None]
    _inline: bool

    def _emit_locked(self, event: Event) -> int:
        framer = self._fast.get(type(event))
        seq = self._seq
        line = None if framer is None else framer(event, seq, time.time(), self._salt)
        if line is None:
            return self._emit_full(event)
        # A plain event of a flat kind, checked and framed (size limit included) by one generated
        # call; the rest of _append_event inlined: this is the per-event cost of recording.
        try:
            written = self._write(self._fd, line)
        except OSError as exc:
            self._fail_write(exc, 0)
        if written != len(line):
            self._write_rest(line, written)
        self._pend(line)
        self._seq = seq + 1
        if seq >= self._check_seq:
            self._housekeep(seq)
        return seq

    def _install_emit(self) -> None:
        """Give this recorder an ``emit`` of its own, generated for the kinds it has seen that have
        a fast path: :meth:`emit` and :meth:`_emit_locked` in one function, the framer's check,
        encode and framing inlined per kind (EventEncoder.framer_source), the recorder's constants
        (fd, salt, bound methods) as globals. Anything else, and anything once the recorder is
        closed or failed, goes through :meth:`_emit_locked`. Rebuilt when a new kind shows up;
        a function taken earlier (``e = rec.emit``) stays correct, only less inlined.
        """
        env: dict[str, Any] = {
            "rec": self,
            "FRAMERS": self._framers,
            "acquire": self._acquire,
            "release": self._release,
            "emit_locked": self._emit_locked,
            "write": self._write,
            "FD": self._fd,
            "salt": self._salt,
            "fail_write": self._fail_write,
            "write_rest": self._write_rest,
            "pend": self._pend,
            "housekeep": self._housekeep,
            "time": time,
        }
        branches: list[str] = []
        for i, cls in enumerate(c for c, f in self._framers.items() if f is not None):
            source = self._enc.framer_source(cls, "emit_locked(ev)", f"k{i}_")
            if source is None:
                continue
            lines, kind_env = source
            env.update(kind_env)
            env[f"K{i}"] = cls
            branches += [
                f"            {'elif' if branches else 'if'} cls is K{i}:",
                "                seq = rec._seq",
                "                t = time.time()",
                *(" " * 12 + line for line in lines),
            ]
        if not branches:
            return
        code = [
            "def emit(ev):",
            "    acquire()",
            "    try:",
            "        if rec._fast is FRAMERS:",
            "            cls = type(ev)",
            *branches,
            "            else:",
            "                return emit_locked(ev)",
            "            try:",
            "                written = write(FD, line)",
            "            except OSError as exc:",
            "                fail_write(exc, 0)",
            "            if written != len(line):",
            "                write_rest(line, written)",
            "            pend(line)",
            "            rec._seq = seq + 1",
            "            if seq >= rec._check_seq:",
            "                housekeep(seq)",
            "            return seq",
            "        return emit_locked(ev)",
            "    finally:",
            "        release()",
        ]
        exec(compile("\n".join(code), f"<vrx emit {self.run_dir.name}>", "exec"), env)
        emit = env["emit"]
        emit.__doc__ = getattr(type(self), "emit", None).__doc__
        emit.__qualname__ = "Recorder.emit"
        self.__dict__["emit"] = emit

    def _emit_full(self, event: Event, at: float | None = None) -> int:
        """emit by the full path: any kind, every check with its precise error, the size limit.

        ``at`` is a source time to record instead of now (``Recorder.emit_at``)."""
        self._check_open()
        seq = self._append_event(event, at=at)
        if event.__class__ is Checkpoint:
            self._fsync_locked(force_line=True)
        elif seq >= self._check_seq:
            self._housekeep(seq)
        return seq

    def _housekeep(self, seq: int) -> None:
        """After event ``seq`` when seq reached _check_seq: fsync when due, else rearm."""
        if self._seq >= self._fsync_at or (
            # The clock is read every 64th event; the background ticker covers idle periods.
            seq & 63 == 0
            and self.durability == "group"
            and time.monotonic() - self._last_fsync >= self.fsync_every_s
        ):
            self._fsync_locked(force_line=False)  # rearms
        else:
            self._rearm()

    def _rearm(self) -> None:
        """Hash a full batch of pending lines; set _check_seq to the seq of the event that
        reaches the fsync count or of the next one that is a multiple of 64, whichever is first."""
        if len(self._unhashed) >= 1024:
            self._hash_pending()
        self._check_seq = min(self._fsync_at - 1, ((self._seq - 1) | 63) + 1)

    def _check_open(self) -> None:
        if self._failed is not None:
            raise RecorderClosed(f"recorder stopped after an earlier error: {self._failed}", path=self.path)
        if self._closed:
            raise RecorderClosed("recorder is closed", path=self.path)

    def _append_event(
        self, event: Event, *, internal: bool = False, first: bool = False, at: float | None = None
    ) -> int:
        """Write one event by the full path (emit has an inlined fast twin for plain events)."""
        info, body = self._enc.encode(event, internal=internal)
        cls = event.__class__
        if cls not in self._framers:
            # Only after a successful encode: the class is a valid kind. None if it has no fast
            # path, and for Checkpoint, which emit fsyncs after (_emit_full).
            framer = self._framers[cls] = None if cls is Checkpoint else self._enc.framer(cls)
            if framer is not None and self._inline:
                self._install_emit()
        seq = self._seq
        line = frame(seq, time.time() if at is None else at, info.version, body, self._salt)
        if len(line) > self._enc.max_line_bytes:
            self._enc.check_size(info, event, line[:-1])
        self._write_line(line)
        if first:
            self._salt = int(line[-11:-3], 16)
        self._unhashed.append(line)
        self._seq = seq + 1
        return seq

    def _hash_pending(self) -> None:
        """Feed the written lines not yet hashed to the running sha256 (one C call for many)."""
        if self._unhashed:
            data = b"".join(self._unhashed)
            self._sha.update(data)
            self._hashed_end += len(data)
            self._unhashed.clear()

    def _end(self) -> int:
        """The log's size: where the next line starts."""
        self._hash_pending()
        return self._hashed_end

    def _digest(self) -> str:
        """sha256 of every byte of the log written so far."""
        self._hash_pending()
        return self._sha.hexdigest()

    def _write_line(self, line: bytes) -> None:
        try:
            written = self._fs.write(self._fd, line)
        except OSError as exc:
            self._fail_write(exc, 0)
        if written != len(line):
            self._write_rest(line, written)

    def _write_rest(self, line: bytes, written: int) -> None:
        """After a short write: loop until the whole line is out, or cut it back and stop."""
        try:
            view = memoryview(line)
            while written < len(line):
                n = self._fs.write(self._fd, view[written:])
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0")
                written += n
        except OSError as exc:
            self._fail_write(exc, written)

    def _fail_write(self, exc: OSError, written: int) -> NoReturn:
        note = ""
        if written:
            try:
                self._fs.ftruncate(self._fd, self._end())
            except OSError as trunc_exc:
                note = (
                    f"; could not cut the partial line back ({trunc_exc.strerror}),"
                    " a reader will see it as a torn tail"
                )
        err = RecorderIOError(
            f"write failed: [{errno.errorcode.get(exc.errno or 0, exc.errno)}] {exc.strerror}"
            f" ({_free_space(self.run_dir)}){note}; recorder stopped,"
            f" events up to seq {self._seq - 1} are kept",
            path=self.path,
        )
        self._failed = err
        self._fast = {}
        raise err from None

    def _fsync_locked(self, *, force_line: bool) -> None:
        """fsync; then, if enough happened since the last one, append a ``sync`` line."""
        if self._failed is not None:
            return
        try:
            self._fs.fsync(self._fd)
        except OSError as exc:
            # Never retry: after a failed fsync the kernel may have dropped the dirty pages.
            err = RecorderIOError(
                f"fsync failed: [{errno.errorcode.get(exc.errno or 0, exc.errno)}] {exc.strerror};"
                " durability of recent events is unknown, recorder stopped",
                path=self.path,
            )
            self._failed = err
            self._fast = {}
            raise err from None
        self._fsync_seq = self._seq
        self._fsync_at = self._seq + self._fsync_due_n
        self._last_fsync = time.monotonic()
        since_sync_line = self._seq - self._sync_seq
        due = since_sync_line >= self.fsync_every_n or force_line or self.durability != "every"
        if self._seq > 1 and since_sync_line > 0 and due and not self._closed:
            marker = Sync(count=self._seq, durable_upto=self._end(), sha256=self._digest())
            self._append_event(marker, internal=True)
            # The sync line itself is not fsynced yet: one line pending (_seq - _fsync_seq == 1).
            self._sync_seq = self._seq
        self._rearm()
