"""The single-writer lock of a run: ``writer.lock`` in the run directory.

Two layers, as RELIABILITY.md §2.4 recommends:

* an ``flock`` on the lock file, which the kernel drops when the holder dies (on NFS it is
  emulated by whole-file fcntl locks, coherent across clients);
* the file's content, ``{run_id, host, pid, boot_id, since, epoch}``, which names the holder
  in the error a second writer gets, and which decides staleness where flock is unavailable
  (``ENOSYS`` on Lustre ``noflock``, ``ENOLCK`` on NFS without lockd).

A lock left behind by a dead process is recovered explicitly: the caller records the previous
holder in a ``resumed`` event. A lock held by a live process, or (where flock is unavailable) by a
holder that cannot be proven dead (another host, a record without a pid), needs ``takeover=True``.
:func:`holder_alive` is the one liveness rule, shared with ``vrx tail``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from vrx_core.errors import CannotCreate, LockHeld
from vrx_core.log import diagnostics
from vrx_core.log.rundir import LOCK


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(holder: dict[str, Any], *, host: str | None = None, boot: str | None = None) -> bool | None:
    """Whether the writer a ``writer.lock`` record names is alive: the one rule for the lock and the tail.

    * ``None`` (cannot tell from here): the record names another host, or no host, or no usable
      pid (a record without an integer pid > 0 names no process this host could look up);
    * ``False`` (dead): it names this host, and the host rebooted since (both boot ids known and
      different), or no process with that pid exists;
    * ``True``: it names this host (same boot, or a boot id unknown on either side) and the pid exists.

    :func:`acquire` (where flock is unavailable) recovers a lock only when this says ``False``; a
    tail presumes the writer dead after a short grace only when it says ``False``.
    ``host``/``boot`` default to this machine's (callers that ask often pass them cached).
    """
    if holder.get("host") != (socket.gethostname() if host is None else host):
        return None
    theirs, ours = holder.get("boot_id"), boot_id() if boot is None else boot
    if theirs and ours and theirs != ours:
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    return pid_alive(pid)


@dataclass
class WriterLock:
    """A held lock; ``previous`` is the stale holder's record when one was recovered."""

    path: Path
    fd: int
    previous: dict[str, Any] | None
    flock_ok: bool

    def heartbeat(self) -> None:
        """Touch the lock file: its mtime tells a tail on any host that the writer is alive."""
        with contextlib.suppress(OSError):
            os.utime(self.fd)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _describe(holder: dict[str, Any]) -> str:
    since = holder.get("since")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "?"
    )
    return f"host={holder.get('host', '?')}, pid={holder.get('pid', '?')}, since {when}"


def _read_holder(fd: int) -> dict[str, Any] | None:
    raw = os.pread(fd, 64 * 1024, 0)
    if not raw.strip():
        return None
    try:
        holder = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return {"unreadable": raw[:200].decode("utf-8", "replace")}
    return holder if isinstance(holder, dict) else {"unreadable": repr(holder)}


def acquire(
    run_dir: Path, identity: dict[str, Any], *, takeover: bool = False, path: Path | None = None
) -> WriterLock:
    """Take the run's writer lock (``path``: a rank's own lock) or raise :class:`LockHeld`."""
    path = run_dir / LOCK if path is None else path
    for _ in range(5):
        try:
            # O_NOFOLLOW: a symlinked lock file must never redirect our writes outside the run.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            why = "is a symlink; refusing to follow it" if exc.errno == errno.ELOOP else exc.strerror
            raise CannotCreate(f"cannot create lock file: {why}", path=path) from None
        flock_ok = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd) or {}
            os.close(fd)
            if takeover:
                raise LockHeld(
                    f"run is locked by a live writer ({_describe(holder)}); takeover refused while"
                    " it holds the kernel lock",
                    path=path,
                ) from None
            raise LockHeld(
                f"run is locked by another writer ({_describe(holder)}); stop it, or use --takeover"
                " (Recorder(takeover=True)) if that process is dead",
                path=path,
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP):
                os.close(fd)
                raise CannotCreate(f"cannot lock: {exc.strerror}", path=path) from None
            flock_ok = False
            diagnostics.get_logger().warning(
                "flock unavailable; relying on the lock file's content", path=str(path), errno=exc.errno
            )
        # The file may have been unlinked by the previous holder between our open and flock.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        previous = _read_holder(fd)
        # Without flock the content decides: recover only a holder proven dead (holder_alive).
        if previous is not None and not flock_ok and not takeover and holder_alive(previous) is not False:
            os.close(fd)
            raise LockHeld(
                f"run is locked by another writer ({_describe(previous)}); use --takeover"
                " (Recorder(takeover=True)) if that process is dead",
                path=path,
            )
        content = msgspec.json.encode({**identity, "since": time.time()}) + b"\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, content, 0)
        except OSError as exc:
            os.close(fd)
            raise CannotCreate(f"cannot write lock file: {exc.strerror}", path=path) from None
        return WriterLock(path=path, fd=fd, previous=previous, flock_ok=flock_ok)
    raise LockHeld("lock file keeps being replaced by another process", path=path)


def read_lock(run_dir: Path, path: Path | None = None) -> tuple[dict[str, Any] | None, float | None]:
    """The holder record and the lock file's mtime (the writer heartbeat), without locking."""
    path = run_dir / LOCK if path is None else path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None, None
    try:
        return _read_holder(fd), os.fstat(fd).st_mtime
    finally:
        os.close(fd)
