"""Canonical JSON and atomic writes for derived files.

Derived files must come out byte for byte the same on every replay: canonical JSON has sorted keys,
2-space indent, msgspec's shortest round-trip float format, non-finite floats as ``null`` (JSON has
no literal for them) and a trailing newline. Writes are atomic (RELIABILITY.md §2.1): a temp file
in the same directory, fsync, ``os.replace``, fsync of the directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from vrx_core.log.rundir import TMP_PREFIX


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(final.parent)


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename in it is durable; EINVAL (unsupported) is ignored."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def sweep_temp_files(directory: Path) -> None:
    """Remove temp files a crashed atomic write left behind."""
    with contextlib.suppress(OSError):
        for p in directory.glob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                p.unlink()
