"""Run layouts: where a new run's directory goes, as the projects vrx's users come from lay them out.

- :class:`RvinciLayout`: ``<root>/<project>/<YYYY-MM-DD_HH-MM-SS>_<git_hash>/`` (rvinci's
  ``runs_and_artifacts.md``; default root ``runs``).
- :class:`MgrLayout`: ``<root>/<kind>/<topic>/<run_id>/`` with run_id ``YYYYMMDD_HHMMSS[_tag]``
  (model_guided_research's ``artifacts/`` layout; default root ``artifacts``).

Times are local, as both projects stamp them. The directory is created by ``mkdir`` (never
``exist_ok``), so a second run in the same second gets ``-1``, ``-2``, ... and never shares or
overwrites a directory. A layout only chooses the directory; the files it names are derived by
replay from the events the recorder writes (``layout``, ``environment``, ``config``).
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from vrx_core.errors import CannotCreate, UsageError
from vrx_core.events import RunLayout

#: ``meta.kind`` values of mgr.telemetry.v1 plus the layout's other top-level categories.
MGR_KINDS = frozenset(
    {"baseline", "bench", "perf", "certs", "cmaes", "profile", "profiles", "vis", "report", "reports"}
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_MAX_SUFFIX = 10_000


@dataclass(frozen=True, kw_only=True)
class RvinciLayout:
    """``runs/<project>/<YYYY-MM-DD_HH-MM-SS>_<git_hash>/`` (``nogit`` when there is no commit)."""

    project: str
    root: str | os.PathLike[str] = "runs"
    style: ClassVar[Literal["rvinci", "mgr"]] = "rvinci"
    #: Created with the run: where predictions, checkpoints and logs go (runs_and_artifacts.md).
    subdirs: ClassVar[tuple[str, ...]] = ("artifacts/predictions", "artifacts/checkpoints", "logs")

    def __post_init__(self) -> None:
        _check_segment("project", self.project)

    def parent(self) -> Path:
        return Path(self.root) / self.project

    def base_name(self, now: float, git_hash: str | None) -> str:
        return time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now)) + f"_{git_hash or 'nogit'}"

    def event(self, run_id: str) -> RunLayout:
        return RunLayout(style="rvinci", run_id=run_id, project=self.project)


@dataclass(frozen=True, kw_only=True)
class MgrLayout:
    """``artifacts/<kind>/<topic>/<YYYYMMDD_HHMMSS[_tag]>/``; ``topic`` may nest (``demos/tropical``)."""

    kind: str
    topic: str
    tag: str | None = None
    root: str | os.PathLike[str] = "artifacts"
    style: ClassVar[Literal["rvinci", "mgr"]] = "mgr"
    subdirs: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.kind not in MGR_KINDS:
            kinds = ", ".join(sorted(MGR_KINDS))
            raise UsageError(f"mgr layout kind must be one of {kinds}; got {self.kind!r}")
        for part in self.topic.split("/"):
            _check_segment("topic", part)
        if self.tag is not None:
            _check_segment("tag", self.tag)

    def parent(self) -> Path:
        return Path(self.root) / self.kind / self.topic

    def base_name(self, now: float, git_hash: str | None) -> str:
        stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(now))
        return f"{stamp}_{self.tag}" if self.tag else stamp

    def event(self, run_id: str) -> RunLayout:
        return RunLayout(style="mgr", run_id=run_id, kind=self.kind, topic=self.topic)


Layout = RvinciLayout | MgrLayout


def create_run_dir(layout: Layout, *, git_hash: str | None = None, now: float | None = None) -> Path:
    """Create and return a new, never reused run directory placed by ``layout``.

    ``git_hash`` is the short commit the rvinci name carries (:func:`vrx_core.capture.git.read_git`
    gives it; a plain name, ``nogit`` when None); ``now`` (Unix seconds, a float as
    :func:`time.time` returns; default: the current time) fixes the stamp. Bad arguments are a
    :class:`UsageError` and a root or directory that cannot be created a :class:`CannotCreate`,
    both before anything is created.
    """
    if git_hash is not None:
        _check_segment("git_hash", git_hash)
    if now is None:
        now = time.time()
    elif isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise UsageError(f"create_run_dir now= must be Unix seconds (a finite float), got {now!r}")
    parent = layout.parent()
    try:
        base = layout.base_name(now, git_hash)
    except (OverflowError, OSError, ValueError) as exc:
        raise UsageError(f"create_run_dir now= is not a time this machine can stamp: {exc}") from None
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotCreate(f"cannot create the layout's directory: {exc.strerror}", path=parent) from None
    for n in range(_MAX_SUFFIX):
        candidate = parent / (f"{base}-{n}" if n else base)
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise CannotCreate(f"cannot create the run directory: {exc.strerror}", path=candidate) from None
        try:
            for sub in layout.subdirs:
                (candidate / sub).mkdir(parents=True)
        except OSError as exc:
            raise CannotCreate(f"cannot create {sub}: {exc.strerror}", path=candidate) from None
        return candidate
    raise CannotCreate(f"no free run directory name for {base!r}", path=parent)


def _check_segment(what: str, value: str) -> None:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise UsageError(
            f"layout {what} must be a plain name (letters, digits, '.', '_', ':', '-'), got {value!r}"
        )


__all__ = ["MGR_KINDS", "Layout", "MgrLayout", "RvinciLayout", "create_run_dir"]
