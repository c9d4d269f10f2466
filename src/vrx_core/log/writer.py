"""The append-only writer: :class:`Recorder`.

Guarantees (docs/log-format.md, "Durability"):

* ``emit`` returns only after the framed line reached the OS with one or more ``write`` calls
  (looping on short writes), so a SIGKILL loses nothing ``emit`` acknowledged and a tail sees only
  whole lines;
* fsync in groups: by default every 10 000 events or 2 s (whichever first), on run start, model
  checkpoints, run end and ``sync()``; each fsync is followed by a ``sync`` line naming the
  durable offset and the hash of everything before it;
* on a failed write the file is cut back to the last committed line and the recorder stops;
  a failed fsync is never retried (fsyncgate);
* one writer per run (:mod:`vrx_core.log.lock`); reopening a crashed run cuts its torn tail (keeping
  a copy), records a ``resumed`` event and continues the seq.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

from vrx_core._version import __version__
from vrx_core.capture.ranks import resolve_ranks
from vrx_core.errors import CannotCreate, CorruptLog, InvalidEvent, RecorderIOError, RunExists, VrxError
from vrx_core.events import Environment, Event, EventRegistry, Resumed, RunEnd, RunStart, WriterInfo
from vrx_core.events import registry as default_registry
from vrx_core.log import diagnostics
from vrx_core.log.atomic import atomic_write, fsync_dir
from vrx_core.log.framing import FORMAT_MAJOR, FORMAT_MINOR, MAX_DEPTH, MAX_LINE_BYTES, EventEncoder
from vrx_core.log.layout import Layout
from vrx_core.log.lock import WriterLock, acquire, boot_id
from vrx_core.log.reader import LogReader, RunningHash
from vrx_core.log.rundir import RunDir
from vrx_core.log.start import (
    ResumeMode,
    check_logs,
    check_resume,
    finish_run,
    plan_start,
    rank_fields,
    wants_summary,
)
from vrx_core.log.writepath import WritePath

Durability = Literal["group", "every", "os"]
RESUME_MODES: tuple[ResumeMode, ...] = ("auto", "allow", "never", "must")
DURABILITY_MODES: tuple[Durability, ...] = ("group", "every", "os")


class OsFS:
    """The syscalls the writer makes, in one seam so tests can inject faults (short writes, ENOSPC, EIO)."""

    write = staticmethod(os.write)
    fsync = staticmethod(os.fsync)
    ftruncate = staticmethod(os.ftruncate)
    open = staticmethod(os.open)
    close = staticmethod(os.close)


class Recorder(WritePath):
    """Record a run into ``<run_dir>/events.jsonl``.

    >>> with Recorder("runs/demo") as rec:
    ...     rec.emit(Metric(name="loss", step=1, value=0.25))
    Creating the recorder creates the run directory, takes the writer lock, and writes and fsyncs
    the ``run_start`` line, so a directory that cannot be written fails here, before the
    expensive work starts. ``Recorder.fresh(root, name)`` records into a new directory instead.

    Args:
        run_dir: the run directory (created if missing), or the path of its ``events.jsonl``.
        resume: what to do with a log already there: ``auto`` (default) resumes a crashed or
            still-open run and refuses an ended one (:class:`RunExists`); ``allow`` also reopens
            an ended run; ``never`` refuses any existing log; ``must`` requires one
            (:class:`NoSuchRun` otherwise). A resume cuts a torn tail and records ``resumed``.
        run_id: recorded in ``run_start``; defaults to the directory name.
        durability: ``group`` (default) fsyncs every ``fsync_every_n`` events or ``fsync_every_s``
            seconds; ``every`` fsyncs after each event (about 100x slower); ``os`` only at start,
            checkpoints, end and ``sync()``. Every mode hands each event to the OS before
            ``emit`` returns.
        takeover: take the lock even from a holder that looks alive (another host on shared
            storage whose process you know is dead). The previous holder is recorded.
        heartbeat_s: how often an idle writer touches ``writer.lock`` so a tail can tell "quiet"
            from "dead".
        registry: the event kinds this recorder accepts (default: the process-wide registry).
        layout: place a new run by a layout instead of ``run_dir``
            (:class:`~vrx_core.log.layout.RvinciLayout`, :class:`~vrx_core.log.layout.MgrLayout`).
        config: the run's configuration (OmegaConf object, mapping or YAML path), recorded as
            composed and resolved; an unresolvable one raises ``ConfigError`` before anything is created.
        environment: record the ``environment`` event (git, packages, host, torch); default: when
            a layout or config is given. An :class:`~vrx_core.events.Environment` is recorded as is.
        summary: print the plugins' end-of-run summaries at close (default: when stdout is a terminal).
        rank, world_size, local_rank: this process's place in a distributed job (default: torchrun's
            ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). With a world of more than one, the rank writes
            its own log ``events.rank<R>.jsonl`` (own lock, seq and durability); readers merge them.
        derive: derive the run's files by replay at close (default: when placed by a layout).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None = None,
        *,
        layout: Layout | None = None,
        config: Any = None,
        environment: bool | Environment | None = None,
        summary: bool | None = None,
        derive: bool | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        local_rank: int | None = None,
        run_id: str | None = None,
        name: str | None = None,
        durability: Durability = "group",
        fsync_every_n: int = 10_000,
        fsync_every_s: float = 2.0,
        heartbeat_s: float = 1.0,
        takeover: bool = False,
        resume: ResumeMode = "auto",
        max_line_bytes: int = MAX_LINE_BYTES,
        max_depth: int = MAX_DEPTH,
        registry: EventRegistry | None = None,
        fs: OsFS | None = None,
    ) -> None:
        if resume not in RESUME_MODES:
            raise ValueError(f"resume must be one of {RESUME_MODES}, got {resume!r}")
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be one of {DURABILITY_MODES}, got {durability!r}")
        if not 0 < max_line_bytes <= MAX_LINE_BYTES:
            # Readers (replay, verify, resume) reject longer lines: never write what cannot be read.
            raise ValueError(f"max_line_bytes must be in 1..{MAX_LINE_BYTES} (the reader's limit)")
        ranks = resolve_ranks(rank, world_size, local_rank)
        start = plan_start(run_dir, layout=layout, config=config, environment=environment, ranks=ranks)
        self._start = start
        #: This process's rank in a multi-rank run (its own log ``events.rank<R>.jsonl``), else None.
        self.rank = ranks.rank if ranks is not None else None
        run = RunDir.of(start.run_dir)
        self.run_dir = run.root
        self._summary = summary
        # Only a single process derives at close: a rank ending first would replay a live run.
        self._derive = layout is not None and ranks is None if derive is None else derive
        self.path = run.log_for(self.rank)
        self.durability: Durability = durability
        self.fsync_every_n = max(1, fsync_every_n)
        # Events after which emit fsyncs: 1 for "every", N for "group", never for "os".
        self._fsync_due_n = {"every": 1, "group": self.fsync_every_n, "os": 1 << 62}[durability]
        self.fsync_every_s = fsync_every_s
        self.heartbeat_s = heartbeat_s
        self.registry = registry or default_registry
        self._fs = fs or OsFS()
        self._write = self._fs.write  # bound once: emit's one syscall, through the same seam
        self._enc = EventEncoder(self.registry, max_line_bytes=max_line_bytes, max_depth=max_depth)
        self._mutex = threading.Lock()
        # emit's per-event calls, bound once (the lock, the pending-hash list's append).
        self._acquire = self._mutex.acquire
        self._release = self._mutex.release
        self._closed = False
        self._failed: VrxError | None = None
        self._fd = -1
        self._seq = 0
        self._salt = 0
        # The per-event path only appends the line to _unhashed and bumps _seq; everything else
        # is derived from those when needed. The running sha256 covers the log's first
        # _hashed_end bytes; the lines written after them wait in _unhashed and are hashed many at
        # a time (_hash_pending); _end() is the log's size. Lines since the last fsync are
        # _seq - _fsync_seq (emit fsyncs when _seq reaches _fsync_at), lines since the last sync
        # line _seq - _sync_seq. Emit looks at none of this until it writes seq _check_seq
        # (_rearm): the fsync count, or the next 64th event (the group-commit clock check).
        self._sha = RunningHash()
        self._hashed_end = 0
        self._unhashed: list[bytes] = []  # only ever cleared, never rebound: see _pend
        self._pend = self._unhashed.append
        self._fsync_seq = 0
        self._fsync_at = self._fsync_due_n
        self._sync_seq = 0
        self._check_seq = -1
        self._last_fsync = time.monotonic()
        # Event class -> its generated framer (EventEncoder.framer), or None: no fast path.
        self._framers: dict[type[Any], Callable[[Any, int, float, int], bytes | None] | None] = {}
        # What emit looks framers up in: _framers while open, empty once closed or failed, so
        # emit checks neither flag per event (the full path does, and raises).
        self._fast: dict[type[Any], Callable[[Any, int, float, int], bytes | None] | None] = self._framers
        self._inline = False  # set at the end of __init__: see _install_emit
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._run_id = ""

        self._mkdir()
        identity = self._identity(run_id or self.run_dir.resolve().name)
        lock_path = run.lock_for(self.rank)
        self._lock: WriterLock = acquire(self.run_dir, identity, takeover=takeover, path=lock_path)
        try:
            check_logs(run, self.rank)
            if self.path.is_symlink():
                raise CannotCreate("cannot open event log for writing: is a symlink", path=self.path)
            exists = self.path.exists() and self.path.stat().st_size > 0
            check_resume(resume, exists, self.run_dir)
            if not (exists and self._resume(reopen_ended=resume == "allow")):
                self._create(run_id or self.run_dir.resolve().name, name)
        except BaseException:
            self._abandon()
            raise
        self.run_id: str = self._run_id
        self._inline = type(self).emit is Recorder.emit  # a subclass's own emit stays in charge
        self._start_ticker()
        for event in start.events:
            self.emit(event)

    @classmethod
    def fresh(cls, root: str | os.PathLike[str], name: str, **options: Any) -> Recorder:
        """Record a new run in a new directory ``<root>/<name>-<YYYYMMDD-HHMMSS>[-n]`` (UTC).

        The directory is created here and never reused, so re-running a script starts a new run
        instead of appending to the last one. ``options`` are those of the constructor.
        """
        options.setdefault("name", name)
        return cls(RunDir.fresh(root, name).root, resume="never", **options)

    # -- public API ---------------------------------------------------------------------------

    def emit_at(self, event: Event, t: float) -> int:
        """Record ``event`` with ``t`` (Unix seconds), the time its source gave it, instead of now.

        For history converted from another tool (``vrx ingest --source-time``): the envelope's
        ``t`` is then the source's time, not the writer's. Otherwise exactly like :meth:`emit`.
        """
        if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t) or t < 0:
            raise InvalidEvent(
                f"t must be a finite, non-negative number of Unix seconds, got {t!r}", field="$.t"
            )
        with self._mutex:
            return self._emit_full(event, at=float(t))

    @property
    def closed(self) -> bool:
        return self._closed or self._failed is not None

    @property
    def seq(self) -> int:
        """The seq the next event will get."""
        return self._seq

    def emit(self, event: Event) -> int:
        """Append ``event`` and return its seq. Thread-safe; seq stays dense across threads.

        Raises :class:`InvalidEvent` (nothing written) for an event that does not fit its kind or
        the limits, :class:`RecorderIOError` if the write failed, :class:`RecorderClosed` after close.
        """
        # Once the recorder has seen a kind with a fast path, ``rec.emit`` is not this method but
        # the recorder's own generated function (_install_emit), which does the same.
        self._acquire()  # acquire/try/finally: the same as `with self._mutex`, and cheaper
        try:
            return self._emit_locked(event)
        finally:
            self._release()

    def sync(self) -> None:
        """fsync now and record the durable point."""
        with self._mutex:
            self._check_open()
            self._fsync_locked(force_line=True)

    def close(
        self,
        status: Literal["ok", "error", "interrupted"] = "ok",
        error: str | None = None,
        *,
        end: bool = True,
    ) -> None:
        """Write ``run_end``, fsync, release the lock. Idempotent.

        ``end=False`` makes everything durable and releases the lock without a ``run_end``: the run
        stays open (``vrx verify`` says INCOMPLETE) and a later writer resumes it.
        """
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()
        with self._mutex:
            if self._closed:
                return
            ended = False
            try:
                if self._failed is None:
                    # run_end is written before its own fsync, so it vouches for nothing: first make
                    # everything durable and say so in a sync line, which a reader can trust.
                    self._fsync_locked(force_line=True)
                    self._closed = True
                    if not end:
                        return
                    end_at = self._end()
                    run_end = RunEnd(
                        status=status,
                        count=self._seq,
                        bytes_before=end_at,
                        sha256=self._digest(),
                        error=error,
                    )
                    self._append_event(run_end, internal=True)
                    try:
                        self._fsync_locked(force_line=False)
                    except RecorderIOError:
                        # run_end may not be durable: take back its claim that the run ended cleanly.
                        with contextlib.suppress(OSError):
                            self._fs.ftruncate(self._fd, end_at)
                        raise
                    ended = True
            finally:
                self._closed = True
                self._fast = {}
                self._abandon()
        if ended:
            finish_run(self.run_dir, derive=self._derive, summary=wants_summary(self._summary))

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close("ok")
        elif isinstance(exc, KeyboardInterrupt):
            self.close("interrupted", "KeyboardInterrupt")
        else:
            self.close("error", f"{type(exc).__name__}: {exc}"[:2000])

    # -- creation and resume ------------------------------------------------------------------

    def _identity(self, run_id: str | None) -> dict[str, Any]:
        return {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(), "boot_id": boot_id()}

    def _writer(self, epoch: int) -> WriterInfo:
        return WriterInfo(
            host=socket.gethostname(), pid=os.getpid(), boot_id=boot_id(), version=__version__, epoch=epoch
        )

    def _mkdir(self) -> None:
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CannotCreate(f"cannot create run directory: {exc.strerror}", path=self.run_dir) from None

    def _open_log(self) -> None:
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
            self._fd = self._fs.open(self.path, flags, 0o644)
        except OSError as exc:
            why = "is a symlink; refusing to write through it" if exc.errno == errno.ELOOP else exc.strerror
            raise CannotCreate(f"cannot open event log for writing: {why}", path=self.path) from None

    def _create(self, run_id: str, name: str | None) -> None:
        self._run_id = run_id
        if self._lock.previous is not None:
            # No log to record it in yet: a lock left by a process that died before writing one.
            diagnostics.get_logger().warning(
                "recovered a stale writer lock of a run that has no log yet",
                run=str(self.run_dir),
                previous=self._lock.previous,
            )
        self._open_log()
        start = RunStart(
            run_id=run_id,
            format_major=FORMAT_MAJOR,
            format_minor=FORMAT_MINOR,
            writer=self._writer(0),
            argv=list(sys.argv),
            name=name,
            **rank_fields(self._start),
        )
        # Preflight: the first line is written and fsynced before the user's work starts.
        self._append_event(start, internal=True, first=True)
        self._fsync_locked(force_line=False)
        self._preflight_dir()

    def _preflight_dir(self) -> None:
        try:
            fsync_dir(self.run_dir)
        except OSError as exc:
            raise CannotCreate(f"cannot sync run directory: {exc.strerror}", path=self.run_dir) from None

    def _resume(self, *, reopen_ended: bool) -> bool:
        """Continue an existing log; False if it holds no committed line (then it was emptied)."""
        reader = LogReader(self.path, mode="recover", registry=self.registry)
        try:
            for _ in reader:
                pass
        except CorruptLog as exc:
            raise CorruptLog(
                f"refusing to append to a corrupt log ({exc.message}); run `vrx verify {self.run_dir}`",
                path=exc.path,
                line=exc.line,
                offset=exc.offset,
            ) from None
        report = reader.report
        if report.lines == 0:
            # Killed while writing the very first line: nothing was committed. Keep the fragment.
            self._cut_tail(0, self.path.stat().st_size)
            return False
        if report.run_start is None:
            raise CorruptLog("log has no readable run_start line; refusing to append", path=self.path, line=1)
        if report.complete and not reopen_ended:
            end = report.run_end
            raise RunExists(
                f"the run here ended (run_end at seq {report.last_seq}, status "
                f"{end.status if end else '?'}); appending would mix a new run into a finished one. "
                'Start a new run (Recorder.fresh("runs", "NAME") makes a fresh directory), or pass '
                'resume="allow" (vrx ingest --resume allow) to reopen it',
                path=self.run_dir,
            )
        self._run_id = report.run_start.run_id
        self._salt = report.salt
        self._sha = report.sha256
        self._seq = report.last_seq + 1
        self._fsync_seq = self._sync_seq = self._seq
        self._fsync_at = self._seq + self._fsync_due_n
        self._hashed_end = report.valid_end
        size = self.path.stat().st_size
        self._open_log()  # first: where the log cannot be written, fail before changing anything
        torn_file = self._cut_tail(report.valid_end, size) if size > report.valid_end else None
        previous = self._lock.previous
        resumed = Resumed(
            writer=self._writer(report.epochs + 1),
            truncated_bytes=size - report.valid_end,
            torn_file=torn_file,
            stale_lock=previous,
            previous_status=report.run_end.status if report.complete and report.run_end else "incomplete",
        )
        self._append_event(resumed, internal=True)
        self._fsync_locked(force_line=False)
        if previous is not None:
            diagnostics.get_logger().warning(
                "recovered a stale writer lock", run=str(self.run_dir), previous=previous
            )
        return True

    def _cut_tail(self, keep: int, size: int) -> str:
        """Copy the bytes after the last valid line beside the log, then cut them off."""
        name = RunDir(self.run_dir).torn_copy(keep, self.path).name
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                torn = os.pread(fd, size - keep, keep)
            finally:
                os.close(fd)
            atomic_write(self.run_dir / name, torn)
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                self._fs.ftruncate(fd, keep)
                self._fs.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.run_dir)
        except OSError as exc:
            raise RecorderIOError(f"cannot cut the torn tail: {exc.strerror}", path=self.path) from None
        diagnostics.get_logger().warning(
            "cut torn tail of crashed run", path=str(self.path), offset=keep, bytes=size - keep, copy=name
        )
        return name

    # -- background: group-commit timer and heartbeat -------------------------------------------

    def _start_ticker(self) -> None:
        self._ticker = threading.Thread(
            target=self._tick_loop, name=f"vrx-recorder:{self.run_dir.name}", daemon=True
        )
        self._ticker.start()

    def _tick_loop(self) -> None:
        interval = max(0.05, min(self.heartbeat_s, self.fsync_every_s))
        while not self._stop.wait(interval):
            with self._mutex:
                if self.closed:
                    return
                try:
                    if (
                        self.durability == "group"
                        and self._seq > self._fsync_seq
                        and time.monotonic() - self._last_fsync >= self.fsync_every_s
                    ):
                        self._fsync_locked(force_line=False)
                except VrxError:
                    return  # recorded in self._failed; the next emit raises it
                self._lock.heartbeat()

    def _abandon(self) -> None:
        self._stop.set()
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                self._fs.close(self._fd)
            self._fd = -1
        self._lock.release()

