"""FNV-1a 64 (the labops ``bundle_manifest.json`` hash) at disk speed.

The compiled ``_fnv`` extension does the byte loop (~1 GB/s, the limit of FNV's serial
multiply chain); the pure-Python fallback (~4.5 MB/s) exists only so a source checkout without a
compiler still works. ``COMPILED`` tells which one is in use, so callers can warn or skip
benchmarks instead of this module logging anything.

Files are streamed in 1 MiB chunks into one reused buffer: memory stays bounded whatever the
artifact size, and the chunk size amortises the per-call overhead to nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from typing_extensions import Buffer

OFFSET_BASIS: Final = 0xCBF29CE484222325
PRIME: Final = 0x100000001B3
MASK64: Final = (1 << 64) - 1
CHUNK_SIZE: Final = 1 << 20


def fnv1a64_py(data: Buffer, h: int = OFFSET_BASIS, /) -> int:
    """Reference implementation: for each byte, ``h ^= b; h *= PRIME`` modulo 2**64."""
    if not 0 <= h <= MASK64:
        raise OverflowError("fnv1a64() h must be in range [0, 2**64)")
    for byte in memoryview(data).cast("B"):
        h = ((h ^ byte) * PRIME) & MASK64
    return h


_impl: Callable[..., int]
try:
    from ._fnv import fnv1a64 as _impl

    COMPILED: bool = True
except ImportError:  # no compiler at install time: slow but correct
    _impl = fnv1a64_py
    COMPILED = False


def fnv1a64(data: Buffer, h: int = OFFSET_BASIS, /) -> int:
    """Continue hash state ``h`` over ``data``; feed chunks in order, starting from the basis."""
    return _impl(data, h)


def format_hash(h: int) -> str:
    """16 lowercase hex digits, zero-padded: the manifest's ``hash`` field."""
    return f"{h:016x}"


def fnv1a64_hex(data: Buffer) -> str:
    """Hex digest of one in-memory buffer."""
    return format_hash(_impl(data, OFFSET_BASIS))


class Fnv1a64:
    """Incremental hasher with the hashlib shape, for data that arrives in pieces."""

    __slots__ = ("_h", "size")

    def __init__(self, data: Buffer = b"") -> None:
        self._h = OFFSET_BASIS
        self.size = 0
        self.update(data)

    def update(self, data: Buffer) -> None:
        view = memoryview(data)
        self._h = _impl(view, self._h)
        self.size += view.nbytes

    def intdigest(self) -> int:
        return self._h

    def hexdigest(self) -> str:
        return format_hash(self._h)


class NotRegularFileError(OSError):
    """The path or fd to hash is not a regular file (a directory, FIFO, device or socket)."""


def fnv1a64_fd(fd: int, *, name: str | None = None) -> tuple[int, str]:
    """``(size, hex)`` of the regular file open on ``fd``, hashed from offset 0; fd stays open.

    The size is the number of bytes actually hashed, so size and hash always describe the same
    content even if the file changes size meanwhile.
    """
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise NotRegularFileError(f"{name or f'fd {fd}'}: is not a regular file")
    os.lseek(fd, 0, os.SEEK_SET)
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # only a read-ahead hint; some filesystems refuse it
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    h = OFFSET_BASIS
    size = 0
    with io.FileIO(fd, "r", closefd=False) as stream:
        while True:
            count = stream.readinto(view)
            if not count:
                break
            h = _impl(view[:count], h)
            size += count
    return size, format_hash(h)


def fnv1a64_file(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``(size, hex)`` of a regular file; a symlink as the last component is refused (O_NOFOLLOW).

    O_NONBLOCK keeps a FIFO planted at ``path`` from blocking the open; it has no effect on the
    reads of a regular file.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    fd = os.open(path, flags)
    try:
        return fnv1a64_fd(fd, name=os.fspath(path))
    finally:
        os.close(fd)
