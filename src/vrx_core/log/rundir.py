"""The run directory: the one place that knows which files a run keeps and what they are called.

A run is a directory. The writer owns ``events.jsonl`` (the log) and ``writer.lock`` (the
single-writer lock and heartbeat); a resume that cuts a torn tail keeps the cut bytes beside the
log as ``events.jsonl.torn-<offset>``; replay writes ``derived.json`` (provenance) next to the
derived files; atomic writes go through ``.vrx-tmp-*`` files. Every command resolves its RUN
argument here, so each accepts the run directory or the path of its ``events.jsonl``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LOG: Final = "events.jsonl"
LOCK: Final = "writer.lock"
PROVENANCE: Final = "derived.json"
TORN_PREFIX: Final = f"{LOG}.torn-"
TMP_PREFIX: Final = ".vrx-tmp-"


@dataclass(frozen=True)
class RunDir:
    """A run directory and the paths of the files the core keeps in it."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # RunDir("runs/a") works too

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> RunDir:
        """The run that ``path`` names: a run directory, or the ``events.jsonl`` inside one.

        A path that does not exist yet is taken as a directory (a run about to be created).
        """
        p = Path(path)
        if p.name == LOG and not p.is_dir():
            return cls(p.parent)
        return cls(p)

    @classmethod
    def fresh(cls, root: str | os.PathLike[str], name: str, *, now: float | None = None) -> RunDir:
        """Create a new, never reused run directory ``<root>/<name>-<YYYYMMDD-HHMMSS>[-n]`` (UTC).

        Two runs started in the same second get ``-1``, ``-2``, ...: the directory is created
        here (``mkdir`` fails on an existing one), so concurrent callers never share a run.
        """
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"run name must be a plain name, got {name!r}")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        parent = Path(root)
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(10_000):
            candidate = parent / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return cls(candidate)
        raise FileExistsError(f"no free run directory name for {name!r} under {parent}")

    @staticmethod
    def log_path(path: str | os.PathLike[str]) -> Path:
        """The log that ``path`` names: a run directory's ``events.jsonl``, or ``path`` itself
        when it is a file (a log kept under another name, such as a copy)."""
        p = Path(path)
        return p / LOG if p.is_dir() else p

    @property
    def log(self) -> Path:
        return self.root / LOG

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    @property
    def provenance(self) -> Path:
        return self.root / PROVENANCE

    def torn_copy(self, offset: int) -> Path:
        """Where a resume keeps the bytes it cut after the last valid line at ``offset``."""
        return self.root / f"{TORN_PREFIX}{offset}"

    @staticmethod
    def is_core_file(relpath: str) -> bool:
        """True for the files the core keeps for itself rather than as run content: the lock,
        the provenance, torn-tail copies and temp files (the log is content: it is the run)."""
        name = relpath.rsplit("/", 1)[-1]
        return relpath in (LOCK, PROVENANCE) or name.startswith((TORN_PREFIX, TMP_PREFIX))


__all__ = ["LOCK", "LOG", "PROVENANCE", "TMP_PREFIX", "TORN_PREFIX", "RunDir"]
