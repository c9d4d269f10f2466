"""Writing and verifying ``bundle_manifest.json`` (triage_bundle.md; ORIGINS §4.4); the file's
format is the ``bundles`` library's.

The manifest lists every regular file of the run directory that a reader needs: the log, every
file the other plugins derived in this replay, and any other file left in the directory (user
artifacts such as checkpoints). It leaves out itself, ``derived.json`` (written after it, and which
records the manifest's own hash), the writer's lock, torn-tail copies and temp files.

Symlinks, special files and hostile paths are refused, when writing and when verifying; a
verifier never follows a symlink (every member is opened component by component with O_NOFOLLOW).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import msgspec

from vrx_core.log.rundir import LOG, RunDir

from ..bundles.manifest import (
    MANIFEST,
    MANIFEST_HASH_ALGORITHM,
    MANIFEST_SCHEMA_VERSION,
    ManifestEntry,
    bundle_manifest_json,
)
from .fnv import Fnv1a64, fnv1a64_fd
from .paths import MemberError, MemberNotFoundError, member_path_problem, safe_open_member

_T = TypeVar("_T")
_R = TypeVar("_R")
#: Threads that hash members side by side (more buys nothing on the disks this runs on).
MAX_HASH_THREADS = 4


class ManifestError(Exception):
    """A file of the run directory cannot be listed (symlink, special file, hostile name)."""


def is_internal(rel: str) -> bool:
    """The manifest itself and the files the core keeps for itself (lock, provenance, torn-tail
    copies, temp files) are not listed; the log is."""
    return rel == MANIFEST or RunDir.is_core_file(rel)


def walk_files(root: Path) -> Iterator[str]:
    """Relative POSIX paths of the regular files under ``root``; refuse links and special files."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                rel = (base / name).relative_to(root).as_posix()
                raise ManifestError(f"{rel}: is a symlink to a directory; bundles hold regular files only")
        dirnames.sort()
        for name in sorted(filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            mode = path.lstat().st_mode
            if is_internal(rel):
                continue
            if stat.S_ISLNK(mode):
                raise ManifestError(f"{rel}: is a symlink; bundles hold regular files only")
            if not stat.S_ISREG(mode):
                raise ManifestError(f"{rel}: is not a regular file")
            yield rel


def hash_member(root: Path, rel: str) -> tuple[int, str]:
    """(size, fnv1a_64 hex) of a member, opened without following any symlink."""
    problem = member_path_problem(rel)
    if problem is not None:
        raise ManifestError(f"{rel!r}: {problem}")
    fd = safe_open_member(root, rel)
    try:
        return fnv1a64_fd(fd, name=rel)
    finally:
        os.close(fd)


def build_manifest(run_dir: Path, out_dir: Path, derived: list[str]) -> bytes:
    """The manifest of a run whose derived files were just written into ``out_dir``."""
    sources: dict[str, Path] = {rel: out_dir for rel in derived if not is_internal(rel)}
    for rel in walk_files(run_dir):
        sources.setdefault(rel, run_dir)
    members = sorted(sources.items())
    try:
        hashed = in_parallel(lambda member: hash_member(member[1], member[0]), members)
    except MemberError as exc:
        raise ManifestError(str(exc)) from None
    entries = [
        ManifestEntry(path=rel, size_bytes=size, hash=digest)
        for (rel, _), (size, digest) in zip(members, hashed, strict=True)
    ]
    return bundle_manifest_json(entries)


def in_parallel(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``[fn(item) for item in items]``, items spread over threads.

    FNV-1a is one serial multiply chain per file, so a run's files (the log, the big metrics
    files) hash side by side on several cores: the C loop releases the GIL. The first exception
    is raised, as the loop would raise it.
    """
    workers = min(len(items), os.cpu_count() or 1, MAX_HASH_THREADS)
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vrx-manifest") as pool:
        return list(pool.map(fn, items))


class _Entry(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    size_bytes: int
    hash: str


class _Manifest(msgspec.Struct, forbid_unknown_fields=True):
    schema_version: str
    hash_algorithm: str
    files: list[_Entry]


def verify_manifest(run_dir: Path) -> list[str]:
    """Every mismatch between ``bundle_manifest.json`` and the run directory (none without a manifest)."""
    path = run_dir / MANIFEST
    if not path.exists():
        return []
    where = f"{path}"
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=_Manifest)
    except OSError as exc:
        return [f"{where}: unreadable manifest: {exc.strerror}"]
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return [f"{where}: unreadable manifest: {exc}"]
    if (
        manifest.schema_version != MANIFEST_SCHEMA_VERSION
        or manifest.hash_algorithm != MANIFEST_HASH_ALGORITHM
    ):
        return [
            f"{where}: unsupported schema_version/hash_algorithm "
            f"{manifest.schema_version!r}/{manifest.hash_algorithm!r}"
        ]
    hostile = [
        f"{where}: entry {e.path!r}: {p}" for e in manifest.files if (p := member_path_problem(e.path))
    ]
    if hostile:
        return [*hostile, f"{where}: manifest rejected: it names paths outside the bundle"]
    problems: list[str] = []
    listed = {e.path for e in manifest.files}
    for found in in_parallel(lambda entry: _check_entry(run_dir, entry), manifest.files):
        problems += found
    try:
        present = set(walk_files(run_dir))
    except ManifestError as exc:
        problems.append(f"{run_dir}/{exc}")
        present = set()
    problems += [f"{run_dir}/{rel}: extra file not listed in {MANIFEST}" for rel in sorted(present - listed)]
    return problems


def _prefix_hash(fd: int, size: int) -> str:
    h = Fnv1a64()
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(1 << 20, size - offset), offset)
        if not chunk:
            break
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def _check_entry(run_dir: Path, entry: _Entry) -> list[str]:
    where = f"{run_dir}/{entry.path}"
    try:
        fd = safe_open_member(run_dir, entry.path)
    except MemberNotFoundError:
        return [f"{where}: missing (listed in {MANIFEST})"]
    except MemberError as exc:
        return [f"{where}: refused: {exc}"]
    try:
        size = os.fstat(fd).st_size
        if entry.path == LOG and size > entry.size_bytes and _prefix_hash(fd, entry.size_bytes) == entry.hash:
            # The log only grew (a live run, or events appended since): the manifest is stale, the
            # log is fine. Said as a note, which does not change the verdict.
            return [
                f"note: {MANIFEST} is stale: {LOG} grew by {size - entry.size_bytes} bytes since it was"
                " derived (run `vrx replay` to refresh it)"
            ]
        if size != entry.size_bytes:
            return [f"{where}: resized: manifest says {entry.size_bytes} bytes, found {size}"]
        _, digest = fnv1a64_fd(fd, name=entry.path)
    finally:
        os.close(fd)
    if digest != entry.hash:
        return [f"{where}: changed: fnv1a_64 {digest}, manifest says {entry.hash}"]
    return []
