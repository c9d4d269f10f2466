"""``bundle_manifest.json`` exactly as labops writes it (triage_bundle.md; ORIGINS §4.4).

Pure: returns bytes and never touches the filesystem. The manifest plugin hashes the files and
writes and verifies the manifest with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .labops_json import json_escape, utf8_key

MANIFEST = "bundle_manifest.json"
MANIFEST_SCHEMA_VERSION = "1.0"
MANIFEST_HASH_ALGORITHM = "fnv1a_64"
_HEX16 = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One bundle file: bundle-relative ``/`` path, size and 16-digit lowercase FNV-1a 64 hex."""

    path: str
    size_bytes: int
    hash: str


def bundle_manifest_json(entries: Iterable[ManifestEntry]) -> bytes:
    """bundle_manifest.json exactly as labops writes it; entries sorted bytewise by path.

    Paths are not re-checked here (the manifest plugin checks member paths); duplicates,
    negative sizes and malformed hashes are refused because they cannot come from a real bundle.
    """
    ordered = sorted(entries, key=lambda entry: utf8_key(entry.path))
    _check_entries(ordered)
    rows = ",".join(
        f'\n    {{"path":"{json_escape(e.path)}","size_bytes":{e.size_bytes},"hash":"{e.hash}"}}'
        for e in ordered
    )
    text = (
        "{\n"
        f'  "schema_version":"{MANIFEST_SCHEMA_VERSION}",\n'
        f'  "hash_algorithm":"{MANIFEST_HASH_ALGORITHM}",\n'
        f'  "files":[{rows}\n'
        "  ]\n"
        "}\n"
    )
    return text.encode()


def _check_entries(ordered: Sequence[ManifestEntry]) -> None:
    previous: str | None = None
    for entry in ordered:
        if entry.path == previous:
            raise ValueError(f"duplicate manifest path {entry.path!r}")
        if type(entry.size_bytes) is not int or entry.size_bytes < 0:
            raise ValueError(f"manifest entry {entry.path!r}: size_bytes must be a non-negative int")
        if not _HEX16.fullmatch(entry.hash):
            raise ValueError(f"manifest entry {entry.path!r}: hash must be 16 lowercase hex digits")
        previous = entry.path
