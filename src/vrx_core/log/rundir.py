"""The run directory: the one place that knows which files a run keeps and what they are called.

A run is a directory. The writer owns ``events.jsonl`` (the log) and ``writer.lock`` (the
single-writer lock and heartbeat). A multi-rank run has one log per rank instead,
``events.rank<R>.jsonl``, each with its own ``writer.rank<R>.lock``: several processes never write
one stream. A resume that cuts a torn tail keeps the cut bytes beside the log as
``<log>.torn-<offset>``; replay writes ``derived.json`` (provenance) next to the
derived files; atomic writes go through ``.vrx-tmp-*`` files. Every command resolves its RUN
argument here, so each accepts the run directory or the path of its ``events.jsonl``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

LOG: Final = "events.jsonl"
LOCK: Final = "writer.lock"
PROVENANCE: Final = "derived.json"
TORN_PREFIX: Final = f"{LOG}.torn-"
TMP_PREFIX: Final = ".vrx-tmp-"
_RANK_LOG = re.compile(r"^events\.rank(0|[1-9][0-9]{0,5})\.jsonl$")
_RANK_LOCK = re.compile(r"^writer\.rank(0|[1-9][0-9]{0,5})\.lock$")
_TORN = re.compile(r"^events(\.rank(0|[1-9][0-9]{0,5}))?\.jsonl\.torn-")


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
        if (p.name == LOG or _RANK_LOG.match(p.name)) and not p.is_dir():
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

    def rank_log(self, rank: int) -> Path:
        """The log of ``rank`` in a multi-rank run."""
        return self.root / f"events.rank{rank}.jsonl"

    def rank_lock(self, rank: int) -> Path:
        return self.root / f"writer.rank{rank}.lock"

    def log_for(self, rank: int | None) -> Path:
        return self.log if rank is None else self.rank_log(rank)

    def lock_for(self, rank: int | None) -> Path:
        return self.lock if rank is None else self.rank_lock(rank)

    def ranks(self) -> list[int]:
        """The ranks whose logs are in the directory, in order (empty for a single-process run)."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        return sorted(int(m.group(1)) for m in map(_RANK_LOG.match, names) if m is not None)

    def logs(self) -> list[tuple[int | None, Path]]:
        """``(rank, log)`` of every log of the run: ``[(None, events.jsonl)]`` for a
        single-process run (also when nothing is recorded yet), one per rank otherwise."""
        if self.log.exists():
            return [(None, self.log)]
        ranks = self.ranks()
        return [(r, self.rank_log(r)) for r in ranks] if ranks else [(None, self.log)]

    def torn_copy(self, offset: int, log: Path | None = None) -> Path:
        """Where a resume keeps the bytes it cut after the last valid line at ``offset``."""
        return self.root / f"{(log or self.log).name}.torn-{offset}"

    @staticmethod
    def is_log(name: str) -> bool:
        """True for ``events.jsonl`` and a rank's ``events.rank<R>.jsonl``."""
        return name == LOG or _RANK_LOG.match(name) is not None

    @staticmethod
    def is_core_file(relpath: str) -> bool:
        """True for the files the core keeps for itself rather than as run content: the locks,
        the provenance, torn-tail copies and temp files (the logs are content: they are the run)."""
        name = relpath.rsplit("/", 1)[-1]
        if relpath in (LOCK, PROVENANCE) or _RANK_LOCK.match(relpath):
            return True
        return _TORN.match(name) is not None or name.startswith(TMP_PREFIX)


__all__ = ["LOCK", "LOG", "PROVENANCE", "TMP_PREFIX", "TORN_PREFIX", "RunDir"]
