"""Follow a live run: ``vrx tail`` and :func:`follow`.

A tail catches up on the log so far, then follows it. Every line goes through the reader's
:class:`~vrx_core.log.reader.LineChecker` (framing, salted CRC, dense seq, hash chain), so a tail shows
exactly what a replay of the same bytes would, and a line is only read once its ``\\n`` is written.

How it learns that the log grew:

* on a local file system, **inotify** (through ``inotify_simple``): a watch on the log (``IN_MODIFY``)
  and on the run directory (creation, replacement, the heartbeat's ``IN_ATTRIB`` on ``writer.lock``);
  delivery takes well under a millisecond;
* where inotify is unavailable (not Linux, no instances or watches left) or ``poll=True``: an
  ``fstat`` of the open log every ``poll_interval`` (default 10 ms);
* on a network file system (NFS, Lustre, CIFS, ... per ``/proc/mounts``), where inotify does not see
  other hosts' writes: the path is reopened every 0.5 s (backing off to 2 s while idle), which makes
  the client revalidate its caches (close-to-open consistency).

Liveness: the writer touches ``writer.lock`` every ``heartbeat_s`` (1 s) while alive. The writer is
presumed dead when neither the log nor the lock changed for ``dead_after_s`` (30 s); after 3 s
already when the lock names a process on this host that no longer exists, or when no lock exists
(no writer holds the run) and the log has no run end.

The log is never rotated, so a log that shrinks below what was read, or is replaced by a file whose
bytes up to the read offset differ (sha256), is an error (exit 65), never silently re-read. A
byte-identical replacement (``rsync``, copy-back) is followed transparently.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from vrx_core.codec import json_safe, nonfinite_marker, stream_json
from vrx_core.engine.replay import Replayer
from vrx_core.errors import CorruptLog, ExitCode, NoSuchRun, VrxError
from vrx_core.events import AnyEvent, EventRegistry, Log, Metric, RunEnd, UnknownEvent
from vrx_core.events import registry as default_registry
from vrx_core.hooks.api import ReplayContext
from vrx_core.log import diagnostics
from vrx_core.log.framing import MAX_LINE_BYTES
from vrx_core.log.lock import LOCK_NAME, boot_id, pid_alive, read_lock
from vrx_core.log.reader import LOG_NAME, LineChecker, LineProblem, Problem, ReadReport, is_residue

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

#: No log growth and no heartbeat for this long: the writer is presumed dead (exit 3).
DEAD_AFTER_S: Final = 30.0
#: The shorter grace when the lock names a vanished process on this host, or no lock exists.
QUICK_DEAD_S: Final = 3.0
#: No event for this long while the heartbeat is alive: a "stall" warning.
STALL_AFTER_S: Final = 60.0
#: Polling interval on a local file system when inotify is not used.
LOCAL_POLL_S: Final = 0.01
#: Polling interval on a network file system, backing off to NETWORK_POLL_MAX_S while idle.
NETWORK_POLL_S: Final = 0.5
NETWORK_POLL_MAX_S: Final = 2.0
#: How often the lock (heartbeat) and the log's identity are checked.
CHECK_S: Final = 0.5
#: How often a missing run directory is looked for.
WAIT_DIR_S: Final = 0.1
#: A damaged line after the durable point is re-read for this long before it is reported.
SETTLE_S: Final = 1.0
#: ``vrx tail --timeout`` expired while the run was still going (GNU ``timeout``'s code).
#: File systems where inotify does not see other hosts' writes: the tail polls.
NETWORK_FS: Final = frozenset(
    {
        "nfs",
        "nfs4",
        "lustre",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.sshfs",
        "sshfs",
        "9p",
        "gpfs",
        "beegfs",
        "afs",
        "ocfs2",
        "gfs2",
        "fuse.cephfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.juicefs",
        "panfs",
        "wekafs",
        "davfs",
        "fuse.rclone",
    }
)

_CHUNK: Final = 1 << 20
_READ_SIZE: Final = 1 << 16  # first read after a wake; grows x4 while reads come back full
_TAIL_CHECK: Final = 64  # bytes before the read offset compared on each read (in-place rewrite)
_OOM_RE: Final = re.compile(r"\bOOM\b|out of memory|OutOfMemory", re.IGNORECASE)
_OOM_TAG_RE: Final = re.compile(r"(^|[._])oom($|[._])")
_ERROR_LEVELS: Final = frozenset({"error", "critical", "fatal", "exception"})

NoticeKind = Literal[
    "waiting",
    "found",
    "caught_up",
    "nan",
    "error",
    "oom",
    "stall",
    "active",
    "deleted",
    "replaced",
    "residue",
    "plugin_failed",
]


# -- what the follower yields ------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every deriver's current snapshot after the events up to ``seq`` were folded in.

    Yielded after a batch of events when at least one plugin's snapshot changed; ``changed``
    names those plugins. ``plugins`` holds all of them.
    """

    seq: int
    plugins: dict[str, dict[str, Any]]
    changed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "snapshot",
            "seq": self.seq,
            "plugins": json_safe(self.plugins),
            "changed": list(self.changed),
        }


@dataclass(frozen=True)
class Notice:
    """Something a watcher should know that is not an event.

    ``kind`` is one of: ``waiting`` (the log does not exist yet), ``found`` (it appeared),
    ``caught_up`` (the log so far has been read), ``nan`` (a metric became NaN or infinite),
    ``error`` (a log event at error level, or a run that ended with an error), ``oom`` (an
    out-of-memory report), ``stall`` (no event for ``stall_after_s`` while the heartbeat is alive),
    ``active`` (events again after a stall), ``deleted`` (the log was unlinked; the open file is
    still followed), ``replaced`` (replaced by a byte-identical copy; followed on), ``residue``
    (a damaged line after the durable point: waiting for the writer to repair or pass it),
    ``plugin_failed`` (a deriver raised; the tail goes on without it).
    """

    kind: NoticeKind
    message: str
    seq: int | None = None
    level: Literal["info", "warning"] = "info"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "notice",
            "notice": self.kind,
            "level": self.level,
            "seq": self.seq,
            "message": self.message,
        }


TailItem = AnyEvent | Snapshot | Notice


class WriterDead(VrxError):
    """No event and no heartbeat for the documented time, and no run end: exit 3."""

    exit_code = ExitCode.INCOMPLETE


class LogChanged(CorruptLog):
    """The log shrank below what was read, or was replaced or rewritten with different bytes: exit 65."""


class TailTimeout(VrxError):
    """``timeout`` expired while the run was still going (``vrx tail`` exits 124).

    ``exit_code`` says 3 (no run end yet) for callers that map errors generically.
    """

    exit_code = ExitCode.TIMEOUT


# -- file system helpers -----------------------------------------------------------------------


def _unescape_mount(field_: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def fs_type(path: str | os.PathLike[str], mounts: str | None = None) -> str | None:
    """The file system type (``/proc/mounts``) holding ``path`` or its nearest existing ancestor."""
    p = Path(os.path.abspath(path))
    rest: list[str] = []
    while not p.exists() and p.parent != p:
        rest.append(p.name)
        p = p.parent
    target = os.path.join(os.path.realpath(p), *reversed(rest))  # symlinks resolved where they exist
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return None
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = _unescape_mount(parts[1])
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and (best is None or len(mnt) >= best[0]):
            best = (len(mnt), parts[2])
    return None if best is None else best[1]


def is_network_fs(path: str | os.PathLike[str], mounts: str | None = None) -> bool:
    kind = fs_type(path, mounts)
    return kind is not None and (kind in NETWORK_FS or kind.startswith("nfs"))


def _inotify_module() -> Any:
    try:
        import inotify_simple
    except ImportError:
        return None
    return inotify_simple


# -- the follower ------------------------------------------------------------------------------


class Follower:
    """Reads a live log incrementally; :meth:`read` returns what arrived, waiting up to ``timeout``.

    :func:`follow` wraps it in an iterator; ``vrx tail`` drives it directly to refresh its view
    between events. Errors surface from :meth:`read`: :class:`WriterDead` (exit 3),
    :class:`LogChanged` or :class:`~vrx_core.errors.CorruptLog` (65),
    :class:`~vrx_core.errors.NewerFormat` (78). Events read before an error are returned first.

    Args:
        run_dir: the run directory (or its ``events.jsonl``); it may not exist yet.
        from_start: yield the events already in the log (default); with False only later ones.
            Earlier events are read and checked either way, and fed to the plugins.
        registry: event kinds to decode (default: the plugins' registry, else the process-wide one).
        plugins: a loaded :class:`~vrx_core.hooks.manager.PluginSet`; its derivers are fed every event.
        snapshots: yield a :class:`Snapshot` after each batch that changed a plugin's snapshot.
        poll: None picks inotify on a local file system and polling otherwise; True forces
            polling; False forces inotify (falling back to polling where unavailable).
        poll_interval: seconds between polls (default 0.01 local, 0.5 network).
        dead_after_s: no log growth and no heartbeat for this long: :class:`WriterDead`.
        stall_after_s: no event for this long while the heartbeat is alive: a ``stall`` notice.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        from_start: bool = True,
        registry: EventRegistry | None = None,
        plugins: PluginSet | None = None,
        snapshots: bool = False,
        poll: bool | None = None,
        poll_interval: float | None = None,
        dead_after_s: float = DEAD_AFTER_S,
        stall_after_s: float = STALL_AFTER_S,
        check_s: float = CHECK_S,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        p = Path(run_dir)
        if p.name == LOG_NAME and not p.is_dir():
            p = p.parent
        self.run_dir = p
        self.path = p / LOG_NAME
        self.from_start = from_start
        self.registry = registry or (plugins.registry if plugins is not None else default_registry)
        self.report = ReadReport(path=self.path, mode="recover")
        self.checker = LineChecker(self.registry, self.report, max_line=max_line)
        self.max_line = max_line
        self.dead_after_s = dead_after_s
        self.stall_after_s = stall_after_s
        self.check_s = check_s
        self.want_snapshots = snapshots
        derivers = (
            plugins.derivers(ReplayContext(run_dir=p, out_dir=None, registry=self.registry))
            if plugins is not None
            else []
        )
        self.replayer = Replayer(derivers)
        self._snap_bytes: dict[str, bytes] = {}
        self._failures_seen = 0

        self.network = is_network_fs(p)
        self.fs = fs_type(p) or "?"
        self._ino: Any = None
        self._poller: Any = None
        self._dir_wd: int | None = None
        self._file_wd: int | None = None
        if poll is None:
            poll = self.network
        if not poll:
            self._start_inotify()
        self._base_interval = poll_interval or (NETWORK_POLL_S if self.network else LOCAL_POLL_S)
        self._interval = self._base_interval

        self._fd = -1
        self._ident: tuple[int, int] | None = None
        self._start_size = 0
        self._seen_size = -1
        self._max_size = 0
        self._tail = b""
        self._read_size = _READ_SIZE
        self._max_read = max(_CHUNK, max_line + 1)
        self._partial = 0
        self._more = False
        self._deleted = False
        self._identity_dirty = False
        self._lock_dirty = False
        self._residue: Problem | None = None
        self._residue_since = 0.0
        self._retry_at = 0.0
        self._retry_step = 0.05
        self._residue_warned = False
        self._pending_error: VrxError | None = None
        self._waited = False
        self._opened_once = False

        now = time.monotonic()
        self.started = now
        self._next_check = now
        self._last_alive = now
        self._last_beat = -math.inf
        self._last_event = now
        self._lock_sig: tuple[Any, ...] | None = None
        self._stalled = False
        self._nonfinite: set[str] = set()
        self._host = socket.gethostname()
        self._boot = boot_id()
        #: True once the log has been read to its end at least once.
        self.caught_up = False
        #: True once a run end was read and nothing follows it.
        self.ended = False
        #: Holder of ``writer.lock`` at the last check (host, pid, ...), or None.
        self.holder: dict[str, Any] | None = None
        #: Seq of the first event that was not yet in the log when it was opened (None: none yet).
        self.first_new_seq: int | None = None

    # -- public ------------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """How changes are noticed: ``inotify``, ``poll`` or ``poll (network fs <type>)``."""
        if self._ino is not None:
            return "inotify"
        if self.network:
            return f"poll (network fs {self.fs})"
        return "poll"

    @property
    def offset(self) -> int:
        """Bytes of the log read and checked so far (always at a line boundary)."""
        return self.checker.offset

    @property
    def exists(self) -> bool:
        """Whether the log was found (it may not exist yet)."""
        return self._opened_once

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last ``\\n`` at the last read: a line still being written (or torn)."""
        return self._partial

    def heartbeat_age(self) -> float | None:
        """Seconds since the writer's lock was last seen to change, or None if never."""
        if self._last_beat == -math.inf:
            return None
        return time.monotonic() - self._last_beat

    def event_age(self) -> float:
        """Seconds since the last event arrived (or since the tail started)."""
        return time.monotonic() - self._last_event

    def read(self, timeout: float | None = None) -> list[TailItem]:
        """Return what arrived, waiting up to ``timeout`` seconds (None: until something does).

        Returns an empty list when the timeout expires, and at once after the run end.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.ended:
                return []
            out = self._step()
            if out or self.ended:
                return out
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return out
            if self._more:
                continue
            wait = self._next_wake(now)
            if deadline is not None:
                wait = min(wait, deadline - now)
            self._wait(max(0.0, wait))

    def catch_up(self, timeout: float | None = None) -> list[TailItem]:
        """Read the log up to its current end and return everything (``--once``).

        Raises :class:`NoSuchRun` if the log does not exist (after waiting up to ``timeout``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        items: list[TailItem] = []
        while not (self.caught_up or self.ended):
            items += self._step()
            if self.caught_up or self.ended:
                break
            if not self._opened_once:
                now = time.monotonic()
                if deadline is None or now >= deadline:
                    raise self.timeout_error(timeout)
                self._wait(min(self._next_wake(now), deadline - now))
        return items

    def timeout_error(self, timeout: float | None) -> VrxError:
        """The error for an expired ``timeout``: no run (66) or still running (124 in the CLI)."""
        if not self._opened_once:
            within = "" if not timeout else f" within {timeout:g} s"
            return NoSuchRun(f"no event log appeared{within}", path=self.path)
        return TailTimeout(
            f"timed out after {timeout:g} s; the run is still going (last seq {self.report.last_seq})",
            path=self.path,
        )

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        if self._ino is not None:
            with contextlib.suppress(OSError):
                self._ino.close()
            self._ino = None

    def __enter__(self) -> Follower:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- notification ------------------------------------------------------------------------------

    def _start_inotify(self) -> None:
        mod = _inotify_module()
        if mod is None:
            return
        try:
            self._ino = mod.INotify(nonblocking=True)
        except OSError as exc:  # EMFILE: fs.inotify.max_user_instances reached
            diagnostics.get_logger().info("inotify unavailable, polling", error=str(exc))
            self._ino = None
            return
        self._poller = select.poll()
        self._poller.register(self._ino.fileno(), select.POLLIN)
        self._flags = mod.flags

    def _stop_inotify(self, why: str) -> None:
        diagnostics.get_logger().info("inotify watch failed, polling", error=why)
        with contextlib.suppress(OSError):
            self._ino.close()
        self._ino = None
        self._dir_wd = self._file_wd = None

    def _arm(self) -> None:
        if self._ino is None:
            return
        f = self._flags
        try:
            if self._dir_wd is None and self.run_dir.is_dir():
                self._dir_wd = self._ino.add_watch(
                    self.run_dir,
                    f.CREATE | f.MOVED_TO | f.MOVED_FROM | f.DELETE | f.ATTRIB | f.DELETE_SELF | f.MOVE_SELF,
                )
            if self._file_wd is None and self._fd >= 0 and not self._deleted:
                self._file_wd = self._ino.add_watch(
                    self.path, f.MODIFY | f.ATTRIB | f.DELETE_SELF | f.MOVE_SELF
                )
        except FileNotFoundError:
            return  # raced with a deletion; the next step re-arms
        except OSError as exc:  # ENOSPC: fs.inotify.max_user_watches reached
            self._stop_inotify(str(exc))

    def _next_wake(self, now: float) -> float:
        if self._fd < 0 and not self.run_dir.is_dir():
            wake = WAIT_DIR_S
        elif self._ino is not None and (self._dir_wd is not None):
            wake = self._next_check - now
        else:
            wake = min(self._interval, self._next_check - now)
        if self._residue is not None:
            wake = min(wake, self._retry_at - now)
        return max(0.0, wake)

    def _wait(self, seconds: float) -> None:
        if self._ino is None or self._dir_wd is None:
            if seconds > 0:
                time.sleep(seconds)
            return
        if not self._poller.poll(math.ceil(seconds * 1000)):
            return
        f = self._flags
        for ev in self._ino.read(timeout=0):
            if ev.mask & f.Q_OVERFLOW:
                self._identity_dirty = self._lock_dirty = True
            if ev.mask & f.IGNORED:
                if ev.wd == self._dir_wd:
                    self._dir_wd = None
                if ev.wd == self._file_wd:
                    self._file_wd = None
            if ev.wd == self._dir_wd:
                if ev.name == LOG_NAME:
                    self._identity_dirty = True
                elif ev.name == LOCK_NAME:
                    self._lock_dirty = True
                elif ev.mask & (f.DELETE_SELF | f.MOVE_SELF):
                    self._identity_dirty = True

    # -- one step ------------------------------------------------------------------------------------

    def _step(self) -> list[TailItem]:
        """Look once: open, check identity, read what is new, check the writer. Never waits."""
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        out: list[TailItem] = []
        try:
            self._step_into(out)
        except VrxError as exc:
            if any(not isinstance(i, Notice) for i in out):
                self._pending_error = exc  # hand over what was read first
                return out
            raise
        return out

    def _step_into(self, out: list[TailItem]) -> None:
        now = time.monotonic()
        if self._fd < 0 and not self._open(out, now):
            self._arm()
            return
        self._arm()
        if self.network:
            self._revalidate()
        if self._identity_dirty or now >= self._next_check:
            self._identity_dirty = False
            self._check_identity(out)
        batch: list[tuple[AnyEvent, bool]] = []
        try:
            self._more = self._drain(out, batch, now)
        finally:
            self._finish_batch(out, batch)  # lines accepted before an error are still shown
        if not self._more and not self.caught_up:
            self.caught_up = True
            out.append(
                Notice(
                    "caught_up", f"read {self.report.lines} line(s) so far; following", self.report.last_seq
                )
            )
        if self.ended:
            return
        if self._lock_dirty or now >= self._next_check:
            self._lock_dirty = False
            self._next_check = now + (self._interval if self.network else self.check_s)
            self._check_writer(out, now)  # growth just now counts as liveness: no false verdict

    def _open(self, out: list[TailItem], now: float) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not self._waited:
                self._waited = True
                where = "run directory" if not self.run_dir.is_dir() else "event log"
                out.append(Notice("waiting", f"waiting for the {where} to appear: {self.path}"))
            return False
        except NotADirectoryError:
            raise NoSuchRun("not a run directory", path=self.run_dir) from None
        except OSError as exc:
            raise NoSuchRun(f"cannot open event log: {exc.strerror}", path=self.path) from None
        st = os.fstat(fd)
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self._opened_once = True
        self._start_size = 0 if self._waited else st.st_size
        self._last_alive = self._last_event = now
        if self._waited:
            out.append(Notice("found", f"event log appeared: {self.path}"))
        return True

    def _revalidate(self) -> None:
        """Network file systems: reopening the path makes the client fetch fresh attributes (CTO)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._identity_dirty = True
            return
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if (st.st_dev, st.st_ino) != self._ident:
            self._identity_dirty = True

    # -- reading -------------------------------------------------------------------------------------

    def _shrank(self, size: int) -> LogChanged:
        return LogChanged(
            f"{LOG_NAME} shrank from {self._max_size} to {size} bytes, below the {self.offset} bytes"
            " already read (truncated by another process?)",
            path=self.path,
            offset=self.offset,
        )

    def _drain(self, out: list[TailItem], batch: list[tuple[AnyEvent, bool]], now: float) -> bool:
        """Read and check the committed lines after the offset; return True if more may follow."""
        size = os.fstat(self._fd).st_size
        off = self.checker.offset
        if size < off:
            raise self._shrank(size)
        grew = size != self._seen_size
        if grew:
            if size > self._seen_size and self._seen_size >= 0:
                self._last_alive = now
            self._seen_size = size
            self._max_size = max(self._max_size, size)
            self._interval = self._base_interval
            self._retry_step = 0.05
        elif not self._more and (self._residue is None or now < self._retry_at):
            if self.network:
                self._interval = min(NETWORK_POLL_MAX_S, self._interval * 1.25)
            return False
        k = min(_TAIL_CHECK, off)
        want = self._read_size
        data = os.pread(self._fd, want + k, off - k)
        if data[:k] != self._tail:
            now_size = os.fstat(self._fd).st_size
            if now_size < off:
                raise self._shrank(now_size)
            raise LogChanged(
                f"{LOG_NAME} was rewritten in place: the bytes before offset {off} changed"
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
            self._partial = len(body)
            if len(body) > self.max_line:
                lp = LineProblem("too_long", f"unterminated line exceeds the {self.max_line}-byte limit")
                self._bad_line(lp, off, out, now)
                return False
            if self._residue is not None:
                self._residue = None
            return full  # a long line goes on past the buffer: read again, with a bigger one
        pos = off
        stopped = False
        for line in body[:nl].split(b"\n"):
            try:
                event = self.checker.check(line)
            except LineProblem as lp:
                self._bad_line(lp, pos, out, now)
                stopped = True
                break
            self.checker.accept(line, event)
            pos += len(line) + 1
            # Lines that ended before the start offset are history (shown only with from_start).
            new = pos > self._start_size
            if new and self.first_new_seq is None:
                self.first_new_seq = event.seq
            batch.append((event, new or self.from_start))
        if not stopped:
            self._residue = None
        idx = self.checker.offset - off + k
        self._tail = data[max(0, idx - _TAIL_CHECK) : idx]
        self._partial = len(body) - (nl + 1)
        if not stopped and self._partial > self.max_line:
            over = LineProblem("too_long", f"unterminated line exceeds the {self.max_line}-byte limit")
            self._bad_line(over, self.checker.offset, out, now)
            stopped = True
        more = full and not stopped
        if not more and not stopped and self.report.complete and self._partial == 0:
            self.ended = True  # a run end with nothing after it (a resumed run continues past one)
        return more

    def _bad_line(self, lp: LineProblem, pos: int, out: list[TailItem], now: float) -> None:
        problem = Problem(lp.kind, self.checker.line_no + 1, pos, lp.message)
        if not is_residue(self._fd, problem, self.report):
            raise CorruptLog(f"{lp.kind}: {lp.message}", path=self.path, line=problem.line, offset=pos)
        # After the durable point: a write in flight (NFS can expose pages out of order) or the
        # residue of a crash, which a resuming writer cuts off. Re-read until it settles.
        if self._residue is None or self._residue.offset != pos:
            self._residue = problem
            self._residue_since = now
            self._residue_warned = False
            self._retry_step = 0.05
        self._retry_at = now + self._retry_step
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

    def _finish_batch(self, out: list[TailItem], batch: list[tuple[AnyEvent, bool]]) -> None:
        """Feed the plugins, emit the events (those marked shown) with their warnings, then a snapshot."""
        if not batch:
            return
        self.replayer.feed([ev for ev, _ in batch])
        self._last_event = time.monotonic()
        if self._stalled:
            self._stalled = False
            out.append(Notice("active", "events are arriving again", batch[0][0].seq))
        for ev, shown in batch:
            if shown:
                out.append(ev)
            self._warn_for(ev, out)
        self._collect_failures(out)
        if self.want_snapshots and self.replayer.derivers:
            self._snapshot(out)

    def _warn_for(self, ev: AnyEvent, out: list[TailItem]) -> None:
        if isinstance(ev, Metric):
            if not math.isfinite(ev.value):
                if ev.name not in self._nonfinite:
                    self._nonfinite.add(ev.name)
                    at = f" at step {ev.step}" if ev.step is not None else ""
                    out.append(
                        Notice(
                            "nan", f"metric {ev.name} is {nonfinite_marker(ev.value)}{at}", ev.seq, "warning"
                        )
                    )
            elif ev.name in self._nonfinite:
                self._nonfinite.discard(ev.name)
        elif isinstance(ev, Log):
            text = ev.msg + (" " + stream_json(ev.fields).decode() if ev.fields else "")
            if _OOM_RE.search(text):
                out.append(Notice("oom", f"out of memory: {ev.msg[:200]}", ev.seq, "warning"))
            elif ev.level.lower() in _ERROR_LEVELS:
                out.append(Notice("error", f"{ev.level}: {ev.msg[:200]}", ev.seq, "warning"))
        elif isinstance(ev, RunEnd):
            if ev.status == "error":
                out.append(
                    Notice("error", f"run ended with an error: {(ev.error or '?')[:200]}", ev.seq, "warning")
                )
            elif ev.status == "interrupted":
                out.append(Notice("error", "run was interrupted", ev.seq, "warning"))
        elif isinstance(ev, UnknownEvent) and _OOM_TAG_RE.search(ev.type):
            out.append(Notice("oom", f"{ev.type}: {stream_json(ev.data).decode()[:200]}", ev.seq, "warning"))

    def _collect_failures(self, out: list[TailItem]) -> None:
        failures = self.replayer.failures
        while self._failures_seen < len(failures):
            f = failures[self._failures_seen]
            self._failures_seen += 1
            out.append(Notice("plugin_failed", f.render() + "; following without it", f.seq, "warning"))

    def _snapshot(self, out: list[TailItem]) -> None:
        snaps = self.replayer.snapshots()
        self._collect_failures(out)
        changed: list[str] = []
        for name, snap in snaps.items():
            encoded = stream_json(snap)
            if self._snap_bytes.get(name) != encoded:
                self._snap_bytes[name] = encoded
                changed.append(name)
        if changed:
            out.append(Snapshot(self.report.last_seq, snaps, tuple(changed)))

    # -- identity and liveness -------------------------------------------------------------------------

    def _check_identity(self, out: list[TailItem]) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if not self._deleted:
                self._deleted = True
                out.append(
                    Notice(
                        "deleted",
                        f"{self.path} was deleted; following the open file and waiting for it to reappear",
                        self.report.last_seq,
                        "warning",
                    )
                )
            return
        except OSError:
            return
        if (st.st_dev, st.st_ino) == self._ident:
            self._deleted = False
            return
        # Replaced: read the old file to its end, then accept the new one only if its bytes up to
        # our offset are the ones we read.
        batch: list[tuple[AnyEvent, bool]] = []
        now = time.monotonic()
        try:
            while self._drain(out, batch, now):
                pass
        finally:
            self._finish_batch(out, batch)
        if self.ended:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return  # gone again; the next check looks once more
        try:
            self._verify_prefix(fd)
        except BaseException:
            os.close(fd)
            raise
        st = os.fstat(fd)
        os.close(self._fd)
        self._fd = fd
        self._ident = (st.st_dev, st.st_ino)
        self._seen_size = -1
        self._deleted = False
        self._file_wd = None
        self._arm()
        out.append(
            Notice(
                "replaced",
                f"{self.path} was replaced by a file with the same first {self.offset} bytes; following it",
                self.report.last_seq,
            )
        )

    def _verify_prefix(self, fd: int) -> None:
        off = self.offset
        size = os.fstat(fd).st_size
        if size < off:
            raise LogChanged(
                f"{LOG_NAME} was replaced by a shorter file ({size} bytes; {off} bytes had been read)",
                path=self.path,
            )
        h = hashlib.sha256()
        pos = 0
        while pos < off:
            chunk = os.pread(fd, min(_CHUNK, off - pos), pos)
            if not chunk:
                break
            h.update(chunk)
            pos += len(chunk)
        if pos != off or h.hexdigest() != self.report.sha256.hexdigest():
            raise LogChanged(
                f"{LOG_NAME} was replaced by different content (its first {off} bytes differ from those"
                " already read)",
                path=self.path,
            )

    def _holder_gone(self, holder: dict[str, Any]) -> bool:
        """The lock names a process on this host (same boot) that no longer exists."""
        if holder.get("host") != self._host:
            return False
        if holder.get("boot_id") and self._boot and holder.get("boot_id") != self._boot:
            return True
        pid = holder.get("pid")
        return isinstance(pid, int) and not pid_alive(pid)

    def _check_writer(self, out: list[TailItem], now: float) -> None:
        holder, mtime = read_lock(self.run_dir)
        self.holder = holder
        sig = None if holder is None and mtime is None else (mtime, stream_json(holder))
        if sig != self._lock_sig:
            self._lock_sig = sig
            if sig is not None:
                self._last_alive = self._last_beat = now
        quiet = now - self._last_alive
        if holder is None and mtime is None:
            limit, why = (
                min(self.dead_after_s, QUICK_DEAD_S),
                "no writer holds the run (writer.lock is missing)",
            )
        elif holder is not None and self._holder_gone(holder):
            limit = min(self.dead_after_s, QUICK_DEAD_S)
            why = f"the writer process (pid {holder.get('pid')} on this host) is gone"
        else:
            limit = self.dead_after_s
            who = f" (host={holder.get('host', '?')}, pid={holder.get('pid', '?')})" if holder else ""
            why = f"no event and no heartbeat for {quiet:.1f} s{who}"
        if quiet >= limit:
            extra = ""
            if self._residue is not None:
                r = self._residue
                extra = f"; stopped at damaged line {r.line} (byte {r.offset}), crash residue"
            elif self._partial:
                extra = f"; {self._partial} uncommitted byte(s) after the last line"
            raise WriterDead(
                f"writer presumed dead: {why}; last seq {self.report.last_seq}, no run end{extra}",
                path=self.path,
            )
        if (
            not self._stalled
            and self.caught_up
            and now - self._last_event >= self.stall_after_s
            and self._last_beat > self._last_event
        ):
            self._stalled = True
            out.append(
                Notice(
                    "stall",
                    f"no event for {now - self._last_event:.0f} s while the writer's heartbeat is alive",
                    self.report.last_seq,
                    "warning",
                )
            )


# -- the iterator API --------------------------------------------------------------------------


@overload
def follow(
    run_dir: str | os.PathLike[str],
    *,
    from_start: bool = ...,
    registry: EventRegistry | None = ...,
    plugins: PluginSet | None = ...,
    snapshots: Literal[False] = ...,
    notices: Literal[False] = ...,
    timeout: float | None = ...,
    poll: bool | None = ...,
    poll_interval: float | None = ...,
    dead_after_s: float = ...,
    stall_after_s: float = ...,
) -> Iterator[AnyEvent]: ...


@overload
def follow(
    run_dir: str | os.PathLike[str],
    *,
    from_start: bool = ...,
    registry: EventRegistry | None = ...,
    plugins: PluginSet | None = ...,
    snapshots: bool = ...,
    notices: bool = ...,
    timeout: float | None = ...,
    poll: bool | None = ...,
    poll_interval: float | None = ...,
    dead_after_s: float = ...,
    stall_after_s: float = ...,
) -> Iterator[TailItem]: ...


def follow(
    run_dir: str | os.PathLike[str],
    *,
    from_start: bool = True,
    registry: EventRegistry | None = None,
    plugins: PluginSet | None = None,
    snapshots: bool = False,
    notices: bool = False,
    timeout: float | None = None,
    poll: bool | None = None,
    poll_interval: float | None = None,
    dead_after_s: float = DEAD_AFTER_S,
    stall_after_s: float = STALL_AFTER_S,
) -> Iterator[TailItem]:
    """Yield a run's events as they land: the log so far, then each new event within milliseconds.

    >>> for event in follow("runs/demo"):
    ...     print(event)

    The iterator ends after the run end event. It waits for a run that has not started yet.
    With ``snapshots=True`` (and ``plugins``) it also yields a :class:`Snapshot` after each batch
    of events that changed a plugin's derived values; with ``notices=True`` it yields
    :class:`Notice` objects (waiting, caught up, NaN, OOM, stall, ...).

    Raises:
        WriterDead: no event and no heartbeat for ``dead_after_s`` (see the module docstring).
        LogChanged: the log shrank, or was replaced or rewritten with different bytes.
        CorruptLog: a committed line is damaged before the durable point.
        NoSuchRun: ``timeout`` expired before the log appeared.
        TailTimeout: ``timeout`` (seconds, for the whole iteration) expired on a live run.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    with Follower(
        run_dir,
        from_start=from_start,
        registry=registry,
        plugins=plugins,
        snapshots=snapshots,
        poll=poll,
        poll_interval=poll_interval,
        dead_after_s=dead_after_s,
        stall_after_s=stall_after_s,
    ) as f:
        while not f.ended:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise f.timeout_error(timeout)
            for item in f.read(remaining):
                if notices or not isinstance(item, Notice):
                    yield item


__all__ = [
    "DEAD_AFTER_S",
    "STALL_AFTER_S",
    "Follower",
    "LogChanged",
    "Notice",
    "Snapshot",
    "TailItem",
    "TailTimeout",
    "WriterDead",
    "follow",
    "fs_type",
    "is_network_fs",
]
