"""What the runs page and a run page show, as JSON: the rows of ``vrx ls --json`` with run ids.

Pure functions over the file system (no web framework): :func:`list_runs` walks the roots like
``vrx ls`` (same rows, same plugin verdicts) and :func:`run_detail` adds what a run page needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vrx_core.cli.ls import inspect_all, sort_runs
from vrx_core.engine.runinfo import find_runs
from vrx_core.errors import VrxError
from vrx_core.events import Params
from vrx_core.log.rundir import LOG, RunDir

from .roots import Roots

Verdicts = Callable[[Path], dict[str, str]]


def list_runs(roots: Roots, *, verdicts: Verdicts | None = None, now: float | None = None) -> dict[str, Any]:
    """``{"roots": [{label, path}], "runs": [row + "id"]}``, newest start first."""
    now = time.time() if now is None else now
    ids: dict[Path, str] = {}
    for root in roots.roots:
        if not root.path.is_dir():
            continue
        for path in find_runs(root.path):
            ids.setdefault(path, roots.run_id(root, path))
    infos = sort_runs(inspect_all(list(ids), verdicts=verdicts, now=now), "start", now=now, reverse=True)
    rows = [{**info.to_json(now), "id": ids[info.path]} for info in infos if info.path in ids]
    return {"roots": [r.to_json() for r in roots.roots], "runs": rows}


def signature(listing: dict[str, Any]) -> Any:
    """What makes two listings differ for a reader: everything but a running run's duration, which
    the page counts on by itself."""
    return [{k: v for k, v in row.items() if k != "duration_s"} for row in listing["runs"]]


def merged_params(run_dir: Path) -> dict[str, Any]:
    """The run's ``params`` events merged in order (later values win), as far as the log reads."""
    from vrx_core.log.reader import read_events

    merged: dict[str, Any] = {}
    try:
        for ev in read_events(run_dir):
            if isinstance(ev, Params):
                merged.update(ev.values)
    except VrxError:
        pass  # a damaged log: the params read before the damage (the row's status says why)
    return merged


def run_detail(
    roots: Roots, run_id: str, *, verdicts: Verdicts | None = None, now: float | None = None
) -> dict[str, Any]:
    """The ``vrx ls`` row of one run plus ``id``, ``ranks`` ([] for a single process) and ``params``.

    Raises :class:`~.roots.UnknownRun` for an id that names no run under the roots.
    """
    from vrx_core.codec import json_safe

    from .roots import UnknownRun

    path = roots.resolve(run_id)
    now = time.time() if now is None else now
    infos = inspect_all([path], verdicts=verdicts, now=now)
    if not infos:
        raise UnknownRun(run_id)  # removed since it was resolved
    run = RunDir(path)
    ranks = [] if (path / LOG).exists() else run.ranks()
    return {
        **infos[0].to_json(now),
        "id": run_id,
        "ranks": ranks,
        "params": json_safe(merged_params(path)),
    }


__all__ = ["Verdicts", "list_runs", "merged_params", "run_detail", "signature"]
