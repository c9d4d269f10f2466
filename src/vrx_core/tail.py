"""Follow a live run: ``vrx tail`` and :func:`follow`.

A tail catches up on the log so far, then follows it. Every line goes through the reader's
:class:`~vrx_core.reader.LineChecker` (framing, salted CRC, dense seq, hash chain), so a tail shows
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

import argparse
import contextlib
import hashlib
import math
import os
import re
import select
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, overload

import msgspec

from vrx_core import diagnostics
from vrx_core.derive import ReplayContext
from vrx_core.errors import CorruptLog, ExitCode, NoSuchRun, VrxError
from vrx_core.events import AnyEvent, EventRegistry, Log, Metric, Resumed, RunEnd, RunStart, UnknownEvent
from vrx_core.events import registry as default_registry
from vrx_core.framing import MAX_LINE_BYTES, nonfinite_marker
from vrx_core.lock import LOCK_NAME, boot_id, pid_alive, read_lock
from vrx_core.reader import LOG_NAME, LineChecker, LineProblem, Problem, ReadReport, is_residue
from vrx_core.render import event_dict, event_json_line, event_row, event_tag
from vrx_core.replay import Replayer

if TYPE_CHECKING:
    from vrx_core.plugins import PluginSet

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
            "plugins": _json_safe(self.plugins),
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


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return nonfinite_marker(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _encode(value: Any) -> bytes:
    try:
        return msgspec.json.encode(_json_safe(value))
    except (TypeError, msgspec.EncodeError, UnicodeEncodeError, OverflowError):
        return repr(value).encode()


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
        plugins: a loaded :class:`~vrx_core.plugins.PluginSet`; its derivers are fed every event.
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
            text = ev.msg + (" " + _encode(ev.fields).decode() if ev.fields else "")
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
            out.append(Notice("oom", f"{ev.type}: {_encode(ev.data).decode()[:200]}", ev.seq, "warning"))

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
            encoded = _encode(snap)
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
        sig = None if holder is None and mtime is None else (mtime, _encode(holder))
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


# -- what the CLI shows ------------------------------------------------------------------------


@dataclass
class MetricState:
    value: float
    step: int | None
    seq: int
    t: float
    count: int = 1


@dataclass
class TailState:
    """The view's state, folded from a follower's items (all events, history included)."""

    follower: Follower
    run_start: RunStart | None = None
    writer: Any = None
    run_end: RunEnd | None = None
    events: int = 0
    last_seq: int = -1
    metrics: dict[str, MetricState] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: deque[Notice] = field(default_factory=lambda: deque(maxlen=6))
    warn_counts: Counter[str] = field(default_factory=Counter)
    plugin_failures: int = 0
    stalled: bool = False
    times: deque[float] = field(default_factory=deque)

    def update(self, item: TailItem) -> None:
        if isinstance(item, Snapshot):
            self.snapshots = item.plugins
        elif isinstance(item, Notice):
            if item.kind == "stall":
                self.stalled = True
            elif item.kind == "active":
                self.stalled = False
            elif item.kind == "plugin_failed":
                self.plugin_failures += 1
            if item.level == "warning":
                self.warnings.append(item)
                self.warn_counts[item.kind] += 1
        else:
            self._event(item)

    def _event(self, ev: AnyEvent) -> None:
        self.events += 1
        self.last_seq = ev.seq
        self.times.append(ev.t)
        if len(self.times) > 100_000:
            self.times.popleft()
        if isinstance(ev, Metric):
            m = self.metrics.get(ev.name)
            if m is None:
                self.metrics[ev.name] = MetricState(ev.value, ev.step, ev.seq, ev.t)
            else:
                m.value, m.step, m.seq, m.t, m.count = ev.value, ev.step, ev.seq, ev.t, m.count + 1
        elif isinstance(ev, RunStart):
            self.run_start, self.writer = ev, ev.writer
        elif isinstance(ev, Resumed):
            self.writer, self.run_end = ev.writer, None
        elif isinstance(ev, RunEnd):
            self.run_end = ev

    def now_t(self) -> float:
        return self.run_end.t if self.run_end is not None else time.time()

    def elapsed(self) -> float | None:
        return None if self.run_start is None else max(0.0, self.now_t() - self.run_start.t)

    def rate(self, window: float = 10.0) -> float:
        """Events per second over the last ``window`` seconds of the writer's clock."""
        ref = self.now_t()
        while self.times and self.times[0] < ref - window:
            self.times.popleft()
        span = min(window, self.elapsed() or window)
        return len(self.times) / span if span > 0 else 0.0

    def status(self) -> str:
        f = self.follower
        if not f.exists:
            return "waiting for the run to start"
        if self.run_end is not None:
            return f"ended ({self.run_end.status})"
        if not f.caught_up:
            return "catching up"
        age = f.event_age()
        if self.stalled:
            return f"stalled: no event for {age:.0f} s (heartbeat alive)"
        return f"running; last event {_ago(age)} ago"

    def to_json(self) -> dict[str, Any]:
        f = self.follower
        rs = self.run_start
        out: dict[str, Any] = _json_safe(
            {
                "kind": "state",
                "run_dir": str(f.run_dir),
                "run_id": rs.run_id if rs else None,
                "name": rs.name if rs else None,
                "writer": msgspec.to_builtins(self.writer) if self.writer is not None else None,
                "status": self.status(),
                "ended": self.run_end is not None,
                "run_end": msgspec.to_builtins(self.run_end) if self.run_end is not None else None,
                "events": self.events,
                "last_seq": self.last_seq,
                "elapsed_s": self.elapsed(),
                "rate": self.rate(),
                "metrics": {
                    n: {"value": m.value, "step": m.step, "seq": m.seq, "count": m.count}
                    for n, m in sorted(self.metrics.items())
                },
                "plugins": self.snapshots,
                "warnings": dict(sorted(self.warn_counts.items())),
                "mode": f.mode,
                "torn_bytes": f.torn_bytes,
            }
        )
        return out

    def summary_lines(self) -> list[str]:
        rs = self.run_start
        lines = []
        if rs is None:
            lines.append(f"run {self.follower.run_dir}: {self.status()}")
            return lines
        name = f' "{rs.name}"' if rs.name else ""
        w = self.writer
        lines.append(f"run {rs.run_id}{name}  writer {w.host} pid {w.pid}  dir {self.follower.run_dir}")
        lines.append(
            f"status: {self.status()}; elapsed {_hms(self.elapsed())}; events {self.events}"
            f" (seq 0..{self.last_seq}); {self.rate():.1f} events/s"
        )
        for name_, m in sorted(self.metrics.items()):
            step = f" (step {m.step})" if m.step is not None else ""
            lines.append(f"metric {name_} = {_num(m.value)}{step}")
        for plugin, snap in sorted(self.snapshots.items()):
            if snap:
                lines.append(f"plugin {plugin}: {_encode(snap).decode()}")
        for kind, n in sorted(self.warn_counts.items()):
            last = next((w.message for w in reversed(self.warnings) if w.kind == kind), "")
            lines.append(f"warning {kind} x{n}: {last}")
        return lines


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _num(x: float) -> str:
    return nonfinite_marker(x) if not math.isfinite(x) else f"{x:.6g}"


def render_view(state: TailState, *, max_metrics: int = 30) -> Any:
    """The Rich renderable of the live view (identity, progress, metrics, plugins, warnings)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    f = state.follower
    rs = state.run_start
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold cyan", no_wrap=True)
    head.add_column()
    ident = "-" if rs is None else rs.run_id + (f'  "{rs.name}"' if rs.name else "")
    head.add_row("run", ident)
    head.add_row("dir", str(f.run_dir))
    if state.writer is not None:
        w = state.writer
        head.add_row("writer", f"{w.host} pid {w.pid}" + (f" (epoch {w.epoch})" if w.epoch else ""))
    ended = state.run_end is not None
    style = (
        "green"
        if ended and state.run_end and state.run_end.status == "ok"
        else ("yellow" if state.stalled or not f.exists else ("red" if ended else ""))
    )
    head.add_row("status", Text(state.status(), style=style))
    head.add_row(
        "progress",
        f"elapsed {_hms(state.elapsed())}   events {state.events} (seq {state.last_seq})"
        f"   {state.rate():.1f} events/s",
    )
    beat = f.heartbeat_age()
    head.add_row("watch", f"{f.mode}; heartbeat {_ago(beat)} ago" if beat is not None else f.mode)
    parts: list[Any] = [head]

    if state.metrics:
        table = Table(title="metrics", title_justify="left", expand=False, pad_edge=False)
        table.add_column("name")
        table.add_column("value", justify="right")
        table.add_column("step", justify="right")
        table.add_column("n", justify="right")
        names = sorted(state.metrics)
        if len(names) > max_metrics:
            recent = sorted(names, key=lambda n: state.metrics[n].seq)[-max_metrics:]
            names = sorted(recent)
        for name in names:
            m = state.metrics[name]
            value = Text(_num(m.value), style="bold red" if not math.isfinite(m.value) else "")
            table.add_row(name, value, "-" if m.step is None else str(m.step), str(m.count))
        if len(state.metrics) > len(names):
            table.caption = f"+{len(state.metrics) - len(names)} more metrics"
        parts.append(table)

    shown = {name: snap for name, snap in sorted(state.snapshots.items()) if snap}
    if shown:
        plugs = Table.grid(padding=(0, 2))
        plugs.add_column(style="bold magenta", no_wrap=True)
        plugs.add_column(overflow="fold")
        for name, snap in shown.items():
            text = _encode(snap).decode()
            plugs.add_row(name, text if len(text) <= 600 else text[:597] + "...")
        parts.append(Text("plugins", style="italic"))
        parts.append(plugs)

    if state.warnings:
        latest: dict[str, Notice] = {}
        for w in state.warnings:  # one line per kind: its count and latest message, newest last
            latest.pop(w.kind, None)
            latest[w.kind] = w
        warn = Text()
        for kind, w in latest.items():
            n = state.warn_counts[kind]
            warn.append(f"! {kind}", style="bold yellow")
            warn.append(f" x{n}" if n > 1 else "")
            warn.append(f": {w.message}\n")
        warn.rstrip()
        parts.append(warn)
    return Panel(Group(*parts), title="vrx tail", border_style="blue")


# -- CLI outputs -------------------------------------------------------------------------------


class _Output:
    """How ``vrx tail`` prints: one of events, JSON lines, plain lines or the live view."""

    tick_s = 1.0

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        self.state = state
        self.types: set[str] = set(args.types)
        self.from_start: bool = args.from_start
        self.once_only: bool = args.once and not args.events
        self.out = sys.stdout

    def wanted(self, ev: AnyEvent) -> bool:
        if not self.from_start:
            first = self.state.follower.first_new_seq
            if first is None or ev.seq < first:
                return False
        return not self.types or event_tag(ev) in self.types

    def handle(self, items: Sequence[TailItem]) -> None:
        for item in items:
            self.state.update(item)
            if self.streams:
                self.item(item)
        if items:
            self.out.flush()

    @property
    def streams(self) -> bool:
        """Whether items are printed as they come (``--once`` prints only the state, but --events)."""
        return not self.once_only

    def item(self, item: TailItem) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Called at least every ``tick_s`` seconds."""

    def once(self) -> None:
        """Print the state (``--once``)."""

    def finish(self, reason: str, code: int, message: str | None) -> None:
        """The tail is over: ``reason`` is ended, dead, timeout, log_changed, corrupt, ..."""

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.out.flush()

    def __enter__(self) -> _Output:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _stderr_notice(item: Notice) -> None:
    if item.level == "warning" or item.kind in ("waiting", "found", "replaced"):
        print(
            f"vrx: {'warning: ' if item.level == 'warning' else ''}{item.message}",
            file=sys.stderr,
            flush=True,
        )


class _EventsOutput(_Output):
    """``--events``: each event as a table row (or a JSON line with ``--json``), nothing else."""

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        super().__init__(state, args)
        self.json: bool = args.json

    def item(self, item: TailItem) -> None:
        if isinstance(item, Notice):
            _stderr_notice(item)
        elif not isinstance(item, Snapshot) and self.wanted(item):
            self.out.write(event_json_line(item) if self.json else event_row(item))


class _JsonOutput(_Output):
    """``--json``: one object per update: event, snapshot, notice, and a final end (or state)."""

    def item(self, item: TailItem) -> None:
        if isinstance(item, Snapshot | Notice):
            self._write(item.to_json())
        elif self.wanted(item):
            self._write({"kind": "event", "event": event_dict(item)})

    def _write(self, obj: dict[str, Any]) -> None:
        self.out.write(msgspec.json.encode(obj).decode() + "\n")

    def once(self) -> None:
        self._write(self.state.to_json())

    def finish(self, reason: str, code: int, message: str | None) -> None:
        self._write(
            {
                "kind": "end",
                "reason": reason,
                "exit": code,
                "last_seq": self.state.last_seq,
                "message": message,
            }
        )
        self.out.flush()


class _PlainOutput(_Output):
    """Not a terminal: event rows, warnings and plugin snapshots (at most every 5 s) as lines."""

    snapshot_every_s = 5.0

    def __init__(self, state: TailState, args: argparse.Namespace) -> None:
        super().__init__(state, args)
        self._snap_at: dict[str, float] = {}
        self._pending: set[str] = set()

    def item(self, item: TailItem) -> None:
        if isinstance(item, Notice):
            mark = "!" if item.level == "warning" else "--"
            self.out.write(f"{mark} {item.kind}: {item.message}\n")
        elif isinstance(item, Snapshot):
            self._pending.update(item.changed)
            self.tick()
        elif self.wanted(item):
            self.out.write(event_row(item))

    def tick(self) -> None:
        now = time.monotonic()
        for name in sorted(self._pending):
            if now - self._snap_at.get(name, -math.inf) >= self.snapshot_every_s:
                self._snap_at[name] = now
                self._pending.discard(name)
                snap = self.state.snapshots.get(name, {})
                self.out.write(f"   [{name}] {_encode(snap).decode()}\n")
        self.out.flush()

    def once(self) -> None:
        self.out.write("\n".join(self.state.summary_lines()) + "\n")

    def finish(self, reason: str, code: int, message: str | None) -> None:
        if self.state.follower.exists:
            self.out.write("-- " + "\n   ".join(self.state.summary_lines()) + "\n")
            self.out.flush()


class _LiveOutput(_Output):
    """A terminal: the Rich live view, refreshed on new events (at most 10 times a second)."""

    tick_s = 0.25

    def __init__(self, state: TailState, args: argparse.Namespace, console: Any) -> None:
        super().__init__(state, args)
        self.console = console
        self.live: Any = None
        self._shown = 0.0

    def item(self, item: TailItem) -> None:
        self.state.update(item)

    def handle(self, items: Sequence[TailItem]) -> None:
        for item in items:
            self.state.update(item)
        if items and not self.once_only and time.monotonic() - self._shown >= 0.1:
            self.tick()

    def tick(self) -> None:
        if self.once_only:
            return
        self._shown = time.monotonic()
        if self.live is None:
            from rich.live import Live

            self.live = Live(
                render_view(self.state), console=self.console, auto_refresh=False, redirect_stderr=False
            )
            self.live.start(refresh=True)
        else:
            self.live.update(render_view(self.state), refresh=True)

    def once(self) -> None:
        self.console.print(render_view(self.state))

    def finish(self, reason: str, code: int, message: str | None) -> None:
        if self.live is not None:
            self.live.update(render_view(self.state), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        super().close()


def _make_output(args: argparse.Namespace, state: TailState) -> _Output:
    if args.events:
        return _EventsOutput(state, args)
    if args.json:
        return _JsonOutput(state, args)
    if not args.plain:
        from rich.console import Console

        console = Console()
        if console.is_terminal and not console.is_dumb_terminal:
            return _LiveOutput(state, args, console)
    return _PlainOutput(state, args)


# -- the command -------------------------------------------------------------------------------

_DESCRIPTION = f"""\
Follow RUN_DIR/events.jsonl: catch up on the log so far, then show each event as it lands
(within a millisecond on a local disk, 0.5 to 2 s plus the writer's flush delay on NFS).
On a terminal: a live view of the run (identity, elapsed time, events/s, latest metric
values, each plugin's snapshot, warnings for NaN/Inf metrics, errors, OOM and stalls).
Otherwise: plain lines. --json: one JSON object per update. --events: only the raw events.
Waits for a run that has not started yet. Every line is checked (CRC, seq, hash chain) and
shown only once its newline is written.

The writer touches writer.lock every second while alive (heartbeat). The writer is presumed
dead after --dead-after seconds (default {DEAD_AFTER_S:g}) with no event and no heartbeat, or
after {QUICK_DEAD_S:g} s when the lock names a process on this host that is gone or no lock exists.

exit codes:
  0    the run end event arrived (or --once printed the state)
  3    the writer is presumed dead: no run end, no event and no heartbeat (see above)
  65   the log is corrupt, shrank below what was read, or was replaced by different content
  66   no run: with --once or --timeout, the log did not exist (or did not appear in time)
  70   the run ended, but a plugin failed while deriving (the others were still shown)
  78   the log was written by a newer major format
  124  --timeout expired while the run was still going (GNU timeout's code)
  130  interrupted (Ctrl-C)
"""


def add_tail_command(sub: Any) -> None:
    """Add ``vrx tail`` to the CLI's subparsers (``build_parser(extra=[add_tail_command])``)."""
    from vrx_core.plugins import common_options

    p = sub.add_parser(
        "tail",
        parents=[common_options()],
        help="follow a live run: live view, JSON updates or raw events as they land",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run_dir", metavar="RUN_DIR", help="run directory (or its events.jsonl); may not exist yet"
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line for every update: {kind: event|snapshot|notice|end|state, ...}",
    )
    out.add_argument(
        "--events",
        action="store_true",
        help="print only the raw events as they come (as `vrx events`; JSON lines with --json)",
    )
    out.add_argument(
        "--type",
        "-t",
        dest="types",
        action="append",
        default=[],
        metavar="T",
        help="only print events of kind T (repeatable); the view still uses every event",
    )
    out.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--from-start",
        dest="from_start",
        action="store_true",
        default=True,
        help="print the events already in the log, then new ones (default)",
    )
    start.add_argument(
        "--from-end",
        dest="from_start",
        action="store_false",
        help="print only events written after the tail started (the view and plugins still fold the history)",
    )
    p.add_argument(
        "--once", action="store_true", help="read the log so far, print the current state and exit 0"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds: exit 124 if the run is still going, 66 if it never appeared",
    )
    w = p.add_argument_group("watching")
    w.add_argument(
        "--poll",
        action="store_true",
        help="poll instead of inotify (automatic on NFS, Lustre, CIFS and where inotify is unavailable)",
    )
    w.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        metavar="S",
        help=f"seconds between polls (default {LOCAL_POLL_S:g} local, {NETWORK_POLL_S:g} to"
        f" {NETWORK_POLL_MAX_S:g} on network file systems)",
    )
    w.add_argument(
        "--dead-after",
        type=float,
        default=DEAD_AFTER_S,
        metavar="S",
        help=f"presume the writer dead after S seconds without event or heartbeat (default {DEAD_AFTER_S:g})",
    )
    w.add_argument(
        "--stall-after",
        type=float,
        default=STALL_AFTER_S,
        metavar="S",
        help=f"warn after S seconds without event while the heartbeat is alive (default {STALL_AFTER_S:g})",
    )
    p.set_defaults(handler=cmd_tail)


def _reason(exc: VrxError) -> str:
    from vrx_core.errors import NewerFormat

    if isinstance(exc, WriterDead):
        return "dead"
    if isinstance(exc, LogChanged):
        return "log_changed"
    if isinstance(exc, CorruptLog):
        return "corrupt"
    if isinstance(exc, NoSuchRun):
        return "no_run"
    if isinstance(exc, NewerFormat):
        return "newer_format"
    return "error"


def cmd_tail(args: argparse.Namespace) -> int:
    """``vrx tail``: see :data:`_DESCRIPTION` for the behaviour and the exit codes."""
    plugins: PluginSet | None = getattr(args, "plugins", None)
    follower = Follower(
        args.run_dir,
        from_start=True,  # the view folds everything; the outputs filter what they print
        registry=plugins.registry if plugins is not None else None,
        plugins=None if args.events else plugins,
        snapshots=not args.events,
        poll=True if args.poll else None,
        poll_interval=args.poll_interval,
        dead_after_s=args.dead_after,
        stall_after_s=args.stall_after,
    )
    state = TailState(follower)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    with follower, _make_output(args, state) as out:
        try:
            if args.once:
                out.handle(follower.catch_up(timeout=args.timeout))
                out.once()
                return int(ExitCode.OK)
            while not follower.ended:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    err = follower.timeout_error(args.timeout)
                    if not isinstance(err, TailTimeout):
                        raise err
                    out.finish("timeout", int(ExitCode.TIMEOUT), str(err))
                    out.close()
                    print(f"vrx: {err}", file=sys.stderr)
                    return int(ExitCode.TIMEOUT)
                wait = out.tick_s if deadline is None else min(out.tick_s, deadline - now)
                out.handle(follower.read(timeout=wait))
                out.tick()
        except VrxError as exc:
            out.finish(_reason(exc), int(exc.exit_code), str(exc))
            raise
        code = ExitCode.SOFTWARE if state.plugin_failures else ExitCode.OK
        out.finish("ended", int(code), None)
        return int(code)


__all__ = [
    "DEAD_AFTER_S",
    "STALL_AFTER_S",
    "Follower",
    "LogChanged",
    "Notice",
    "Snapshot",
    "TailItem",
    "TailState",
    "TailTimeout",
    "WriterDead",
    "add_tail_command",
    "cmd_tail",
    "follow",
    "fs_type",
    "is_network_fs",
    "render_view",
]
