"""Safe handling of the paths a bundle manifest names.

Why: a manifest is input. A hostile or corrupted one can name ``../../etc/passwd``, an absolute
path, a Windows drive path, or a member that is really a symlink pointing out of the bundle; a
verifier that opens such names blindly reads (and reports hashes of) files outside the bundle.

``check_member_path`` is a pure syntax check; ``safe_open_member`` then resolves the path one
component at a time with ``openat`` (``dir_fd``) and ``O_NOFOLLOW``, so no symlink is followed on
any component, and only a regular file is ever returned. The bundle root itself is trusted and
may be a symlink.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import unicodedata
from typing import Final

MAX_COMPONENT_BYTES: Final = 255
MAX_PATH_BYTES: Final = 4096

_DRIVE = re.compile(r"[A-Za-z]:")
# Bidirectional controls make a path display differently from what it is ("Trojan Source").
_BIDI_CONTROLS: Final = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cs", "Zl", "Zp"})


class MemberError(Exception):
    """A manifest member that cannot be used; ``str()`` is ``manifest path '<rel>': <reason>``."""

    def __init__(self, rel: object, reason: str) -> None:
        self.rel = rel
        self.reason = reason
        super().__init__(f"manifest path {rel!r}: {reason}")


class MemberPathError(MemberError):
    """The path text itself is unacceptable (absolute, ``..``, control characters, ...)."""


class MemberNotFoundError(MemberError):
    """The path is well formed but nothing exists there."""


class MemberTypeError(MemberError):
    """Something exists there but it is a symlink, a non-directory component or not a regular file."""


def _bad_character(rel: str) -> str | None:
    for char in rel:
        if char == "\\":
            return "contains a backslash"
        category = unicodedata.category(char)
        if category in _FORBIDDEN_CATEGORIES or char in _BIDI_CONTROLS:
            return f"contains the control or separator character U+{ord(char):04X}"
    return None


def _bad_component(component: str) -> str | None:
    if component == "":
        return "has an empty component (leading, trailing or doubled '/')"
    if component in (".", ".."):
        return f"has a {component!r} component"
    if len(component.encode("utf-8")) > MAX_COMPONENT_BYTES:
        return f"has a component longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def member_path_problem(rel: object) -> str | None:
    """Why ``rel`` is not an acceptable bundle-relative path, or None if it is."""
    if not isinstance(rel, str):
        return f"must be a str, got {type(rel).__name__}"
    if rel == "":
        return "is empty"
    problem = _bad_character(rel)
    if problem is not None:
        return problem
    if rel.startswith("/"):
        return "is absolute"
    if _DRIVE.match(rel):
        return "starts with a drive letter"
    if not unicodedata.is_normalized("NFC", rel):
        return "is not NFC-normalized"
    if len(rel.encode("utf-8")) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    for component in rel.split("/"):
        problem = _bad_component(component)
        if problem is not None:
            return problem
    return None


def check_member_path(rel: str) -> None:
    """Raise MemberPathError unless ``rel`` is a plain relative ``/``-separated NFC path."""
    problem = member_path_problem(rel)
    if problem is not None:
        raise MemberPathError(rel, problem)


_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in the bundle must not hang; regular-file reads ignore it.
_FILE_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def _describe(rel: str, partial: str, dir_fd: int, name: str, error: OSError) -> MemberError | OSError:
    """Turn an openat failure into a clear MemberError (or keep it, e.g. for EACCES)."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return MemberNotFoundError(rel, f"{partial!r} does not exist")
    except OSError:
        return error
    if stat.S_ISLNK(info.st_mode):
        return MemberTypeError(rel, f"{partial!r} is a symlink")
    if not stat.S_ISDIR(info.st_mode):
        return MemberTypeError(rel, f"{partial!r} is not a directory")
    return error


def _open_root(root: int | str | os.PathLike[str]) -> tuple[int, bool]:
    """An fd for the root directory and whether we own it (callers' fds are never closed)."""
    if isinstance(root, int):
        return root, False
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), True


def _walk_directories(root_fd: int, rel: str, parts: list[str]) -> int:
    """Open each directory component below ``root_fd`` with O_NOFOLLOW; returns an owned fd."""
    current = os.dup(root_fd)
    for depth, name in enumerate(parts):
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=current)
        except OSError as exc:
            problem = _describe(rel, "/".join(parts[: depth + 1]), current, name, exc)
            os.close(current)
            raise problem from None
        os.close(current)
        current = child
    return current


def _open_regular(dir_fd: int, rel: str, name: str) -> int:
    """Open the final component, refusing symlinks and anything that is not a regular file."""
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise MemberNotFoundError(rel, "does not exist") from None
    if stat.S_ISLNK(before.st_mode):
        raise MemberTypeError(rel, "is a symlink")
    if not stat.S_ISREG(before.st_mode):
        raise MemberTypeError(rel, "is not a regular file")
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        raise MemberNotFoundError(rel, "disappeared while being opened") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MemberTypeError(rel, "was replaced by a symlink while being opened") from None
        raise
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise MemberTypeError(rel, "was replaced while being opened")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def safe_open_member(root: int | str | os.PathLike[str], rel: str) -> int:
    """Open ``root/rel`` read-only without following any symlink; returns a new fd (caller closes).

    ``root`` is a directory path or an open directory fd (left open). Raises MemberPathError for
    hostile syntax, MemberNotFoundError, MemberTypeError for symlinks or non-regular files, and
    plain OSError for anything else (permissions, I/O).
    """
    check_member_path(rel)
    *directories, name = rel.split("/")
    root_fd, owned = _open_root(root)
    try:
        dir_fd = _walk_directories(root_fd, rel, directories)
    finally:
        if owned:
            os.close(root_fd)
    try:
        return _open_regular(dir_fd, rel, name)
    finally:
        os.close(dir_fd)
