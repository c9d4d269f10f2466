"""The roots ``vrx serve`` shows and the run ids inside them: pure path logic, no web framework.

Each ROOT gets a label, its directory's basename (``-2``, ``-3`` for duplicates, in argument order).
A run's id is ``<label>/<path relative to the root>`` (posix), or ``<label>`` when the root itself is
a run. :meth:`Roots.resolve` is the only way from an id (untrusted: it comes from a URL) to a path,
and it refuses anything that does not name a run under a root: ``..``, ``.``, empty or absolute
segments, NUL, and any path whose realpath leaves the root's realpath (a symlink out of the root).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vrx_core.log.rundir import LOG, RunDir


class UnknownRun(LookupError):
    """The id names no run under the roots (or tries to leave them): 404, whatever the reason."""


@dataclass(frozen=True)
class Root:
    """A directory given on the command line: its ``label``, the path as given (absolute) and its
    realpath, the bound every resolved run must stay under."""

    label: str
    path: Path
    real: str

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "path": os.fspath(self.path)}


def make_roots(paths: Sequence[str | os.PathLike[str]]) -> list[Root]:
    """One :class:`Root` per path, labelled by basename; a repeated basename gets ``-2``, ``-3``..."""
    roots: list[Root] = []
    taken: set[str] = set()
    for given in paths:
        path = Path(os.path.abspath(given))
        base = path.name or "root"  # "/" has no basename
        label, n = base, 1
        while label in taken:
            n += 1
            label = f"{base}-{n}"
        taken.add(label)
        roots.append(Root(label, path, os.path.realpath(path)))
    return roots


def is_run(path: str | os.PathLike[str]) -> bool:
    """A directory holding ``events.jsonl`` or a rank's ``events.rank<R>.jsonl``."""
    p = Path(path)
    return p.is_dir() and ((p / LOG).is_file() or bool(RunDir(p).ranks()))


def bad_segment(segment: str) -> bool:
    """A path segment no run id can hold: empty, ``.``, ``..``, or with ``/``, ``\\0`` or ``\\\\``."""
    return segment in ("", ".", "..") or any(c in segment for c in "/\0\\")


def within(real: str, root_real: str) -> bool:
    """``real`` is ``root_real`` or below it (both realpaths)."""
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


class Roots:
    """The roots, and the two-way map between run ids and run directories."""

    def __init__(self, roots: Sequence[Root]) -> None:
        self.roots = list(roots)
        self._by_label = {r.label: r for r in self.roots}

    @classmethod
    def of(cls, paths: Sequence[str | os.PathLike[str]]) -> Roots:
        return cls(make_roots(paths))

    def run_id(self, root: Root, run_dir: Path) -> str:
        """The id of ``run_dir``, a run found under ``root`` (by walking it, not resolving links)."""
        rel = os.path.relpath(run_dir, root.path)
        if rel == ".":
            return root.label
        return f"{root.label}/{Path(rel).as_posix()}"

    def resolve(self, run_id: str) -> Path:
        """The real run directory ``run_id`` names; :class:`UnknownRun` for anything else."""
        label, _, rest = run_id.partition("/")
        root = self._by_label.get(label)
        if root is None or bad_segment(label):
            raise UnknownRun(run_id)
        parts = rest.split("/") if rest else []
        if any(bad_segment(p) for p in parts):
            raise UnknownRun(run_id)
        real = os.path.realpath(os.path.join(root.real, *parts))
        if not within(real, root.real) or not is_run(real):
            raise UnknownRun(run_id)
        return Path(real)


__all__ = ["Root", "Roots", "UnknownRun", "bad_segment", "is_run", "make_roots", "within"]
