"""Change watching: how a follower learns that the log grew, the log was replaced, or the lock moved.

* on a local file system, **inotify** (through ``inotify_simple``): a watch on the log (``IN_MODIFY``)
  and on the run directory (creation, replacement, the heartbeat's ``IN_ATTRIB`` on ``writer.lock``);
  delivery takes well under a millisecond;
* where inotify is unavailable (not Linux, no instances or watches left) or ``poll=True``: an
  ``fstat`` of the open log every ``poll_interval`` (default 10 ms);
* on a network file system (NFS, Lustre, CIFS, ... per ``/proc/mounts``), where inotify does not see
  other hosts' writes: the path is reopened every 0.5 s (backing off to 2 s while idle), which makes
  the client revalidate its caches (close-to-open consistency).

:class:`ChangeWatcher` only says *when* to look; reading is :mod:`vrx_core.follow.cursor`'s job.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import select
import time
from pathlib import Path
from typing import Any, Final

from vrx_core.log import diagnostics
from vrx_core.log.rundir import LOCK, LOG, RunDir

_RANK_LOCK: Final = re.compile(r"^writer\.rank[0-9]+\.lock$")

#: Polling interval on a local file system when inotify is not used.
LOCAL_POLL_S: Final = 0.01
#: Polling interval on a network file system, backing off to NETWORK_POLL_MAX_S while idle.
NETWORK_POLL_S: Final = 0.5
NETWORK_POLL_MAX_S: Final = 2.0
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


class ChangeWatcher:
    """Decides how a follower waits for changes in ``run_dir``, and waits.

    After :meth:`wait`, ``identity_dirty`` says the log's path changed (created, replaced, deleted,
    or the inotify queue overflowed) and ``lock_dirty`` that ``writer.lock`` changed (a heartbeat);
    the follower clears them when it has looked.

    Args:
        poll: None picks inotify on a local file system and polling otherwise; True forces
            polling; False forces inotify (falling back to polling where unavailable).
        poll_interval: seconds between polls (default 0.01 local, 0.5 network).
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        poll: bool | None = None,
        poll_interval: float | None = None,
        multi_rank: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.path = run_dir / LOG
        #: A multi-rank run: the directory watch also reports writes to the rank logs (no file
        #: watch), and any rank's log or lock marks ``identity_dirty`` or ``lock_dirty``.
        self.multi_rank = multi_rank
        self.network = is_network_fs(run_dir)
        self.fs = fs_type(run_dir) or "?"
        self._ino: Any = None
        self._poller: Any = None
        self._flags: Any = None
        self._dir_wd: int | None = None
        self._file_wd: int | None = None
        if poll is None:
            poll = self.network
        if not poll:
            self._start_inotify()
        self.base_interval = poll_interval or (NETWORK_POLL_S if self.network else LOCAL_POLL_S)
        #: The current polling interval (backs off while idle on a network file system).
        self.interval = self.base_interval
        self.identity_dirty = False
        self.lock_dirty = False

    @property
    def mode(self) -> str:
        """How changes are noticed: ``inotify``, ``poll`` or ``poll (network fs <type>)``."""
        if self._ino is not None:
            return "inotify"
        if self.network:
            return f"poll (network fs {self.fs})"
        return "poll"

    @property
    def armed(self) -> bool:
        """Whether inotify watches the run directory (so waits need no timed poll)."""
        return self._ino is not None and self._dir_wd is not None

    def check_every(self, check_s: float) -> float:
        """Seconds between lock and identity checks: each poll on a network file system."""
        return self.interval if self.network else check_s

    def activity(self) -> None:
        """The log changed: poll at the base interval again."""
        self.interval = self.base_interval

    def idle(self) -> None:
        """Nothing changed: back off on a network file system (up to NETWORK_POLL_MAX_S)."""
        if self.network:
            self.interval = min(NETWORK_POLL_MAX_S, self.interval * 1.25)

    def timeout(self, until_check: float) -> float:
        """How long to wait when the next scheduled check is ``until_check`` seconds away."""
        return until_check if self.armed else min(self.interval, until_check)

    # -- inotify -------------------------------------------------------------------------------------

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

    def arm(self, watch_file: bool) -> None:
        """Add the watches that are missing: the run directory once it exists, and the log while
        ``watch_file`` (it is open and not deleted)."""
        if self._ino is None:
            return
        f = self._flags
        try:
            if self._dir_wd is None and self.run_dir.is_dir():
                self._dir_wd = self._ino.add_watch(
                    self.run_dir,
                    f.CREATE | f.MOVED_TO | f.MOVED_FROM | f.DELETE | f.ATTRIB | f.DELETE_SELF | f.MOVE_SELF
                    | (f.MODIFY if self.multi_rank else 0),
                )
            if self._file_wd is None and watch_file and not self.multi_rank:
                self._file_wd = self._ino.add_watch(
                    self.path, f.MODIFY | f.ATTRIB | f.DELETE_SELF | f.MOVE_SELF
                )
        except FileNotFoundError:
            return  # raced with a deletion; the next step re-arms
        except OSError as exc:  # ENOSPC: fs.inotify.max_user_watches reached
            self._stop_inotify(str(exc))

    def forget_file(self) -> None:
        """The log at the path is another file now: watch it anew at the next :meth:`arm`."""
        self._file_wd = None

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; with inotify, return as soon as something in the run dir changed."""
        if not self.armed:
            if seconds > 0:
                time.sleep(seconds)
            return
        if not self._poller.poll(math.ceil(seconds * 1000)):
            return
        f = self._flags
        for ev in self._ino.read(timeout=0):
            if ev.mask & f.Q_OVERFLOW:
                self.identity_dirty = self.lock_dirty = True
            if ev.mask & f.IGNORED:
                if ev.wd == self._dir_wd:
                    self._dir_wd = None
                if ev.wd == self._file_wd:
                    self._file_wd = None
            if ev.wd == self._dir_wd:
                if self.multi_rank:
                    self._rank_event(ev)
                elif ev.name == LOG:
                    self.identity_dirty = True
                elif ev.name == LOCK:
                    self.lock_dirty = True
                elif ev.mask & (f.DELETE_SELF | f.MOVE_SELF):
                    self.identity_dirty = True

    def _rank_event(self, ev: Any) -> None:
        """A multi-rank run's directory event: a rank log written (the wake is enough), created,
        moved or deleted (identity), or a lock touched (heartbeat)."""
        f = self._flags
        if RunDir.is_log(ev.name):
            if ev.mask & ~f.MODIFY:
                self.identity_dirty = True
        elif ev.name == LOCK or _RANK_LOCK.match(ev.name):
            self.lock_dirty = True
        elif ev.mask & (f.DELETE_SELF | f.MOVE_SELF):
            self.identity_dirty = True

    def close(self) -> None:
        if self._ino is not None:
            with contextlib.suppress(OSError):
                self._ino.close()
            self._ino = None


__all__ = [
    "LOCAL_POLL_S",
    "NETWORK_FS",
    "NETWORK_POLL_MAX_S",
    "NETWORK_POLL_S",
    "ChangeWatcher",
    "fs_type",
    "is_network_fs",
]
