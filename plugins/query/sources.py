"""Which runs ``vrx query`` sees, and where each run's metrics come from.

Runs are found and inspected as ``vrx ls`` finds and inspects them (head, tail, lock and
derived.json: cheap). A run's metrics come from its ``metrics.parquet`` only when that file is
verified: the last replay (``derived.json``) read the whole log as it is now (the project's
"current" rule: logs only grow, so an equal size means the same log), the query plugin took part
without failing, and the file's sha256 is the one that replay recorded. Otherwise (never replayed
with the plugin, the log grew since, a live run, an edited parquet) the run's events are read
through the CRC-checked reader, which stops quietly at a live run's torn tail.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from vrx_core.engine.provenance import read_provenance
from vrx_core.engine.runinfo import RunInfo, find_runs
from vrx_core.errors import NoSuchRun, VrxError
from vrx_core.events import EventRegistry, Metric, Params
from vrx_core.log.merge import RunReader
from vrx_core.log.rundir import LOG, RunDir

from .table import PARQUET, MetricColumns

PLUGIN: Final = "query"
Source = Literal["parquet", "log", "none"]


@dataclass
class QueryRun:
    """One run of the ``runs`` table and where its metrics come from.

    ``source``: ``parquet`` (the verified file at ``parquet``), ``log`` (``columns``, read from the
    log now) or ``none`` (a verified replay found neither metrics nor params: nothing to read).
    """

    id: str
    info: RunInfo
    source: Source = "log"
    parquet: str | None = None
    columns: MetricColumns = field(default_factory=MetricColumns)
    #: Params as JSON text (None: the run recorded none) and rank 0's summaries.
    params: str | None = None
    summaries: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Why the log could not be read (a corrupt or newer-format log): its metrics are left out.
    problem: str | None = None

    @property
    def ranks(self) -> int:
        return 1 if self.info.ranks is None else len(self.info.ranks)


def check_roots(roots: Sequence[str]) -> None:
    """:class:`NoSuchRun` (exit 66) for a ROOT that is missing, or a file other than a run's log."""
    for d in roots:
        if not os.path.exists(d):
            raise NoSuchRun("no such directory", path=d)
        if not os.path.isdir(d) and not RunDir.is_log(os.path.basename(d)):
            raise NoSuchRun("not a directory (nor a run's events.jsonl)", path=d)


def find(roots: Sequence[str]) -> list[tuple[str, Path]]:
    """Every run under ``roots`` once (as ``vrx ls`` finds them), with its id: its path relative
    to the ROOT it was found under (a ROOT that is itself a run: that directory's name). An id
    that an earlier ROOT already gave is replaced by the run's path as found."""
    one = len(roots) == 1  # one walk never meets a run twice: symlinked directories are not entered
    seen: set[str] = set()
    ids: set[str] = set()
    found: list[tuple[str, Path]] = []
    for root in roots:
        top = Path(root).parent if RunDir.is_log(Path(root).name) and os.path.isfile(root) else Path(root)
        for path in find_runs(Path(root)):
            if not one:
                real = os.path.realpath(path)
                if real in seen:
                    continue
                seen.add(real)
            rel = os.path.relpath(path, top)
            run_id = Path(os.path.abspath(path)).name if rel == "." else Path(rel).as_posix()
            if run_id in ids:
                run_id = Path(os.path.normpath(path)).as_posix()
            ids.add(run_id)
            found.append((run_id, Path(os.path.normpath(path))))
    return found


def verified_parquet(run_dir: Path) -> tuple[Source, str | None] | None:
    """``("parquet", path)`` when the run's metrics.parquet is verified, ``("none", None)`` when a
    current replay with the query plugin derived nothing (no metrics, no params), else None."""
    prov = read_provenance(run_dir)
    if not _log_current(run_dir, prov.get("log")):
        return None
    plugins, files, failures = prov.get("plugins"), prov.get("files"), prov.get("failures")
    if not isinstance(plugins, dict) or PLUGIN not in plugins or not isinstance(files, dict):
        return None
    if isinstance(failures, list) and any(
        isinstance(f, dict) and f.get("plugin") == PLUGIN for f in failures
    ):
        return None
    entry = files.get(PARQUET)
    if entry is None:
        return ("none", None)
    if not isinstance(entry, dict) or entry.get("plugin") != PLUGIN:
        return None
    path = os.path.join(run_dir, PARQUET)
    try:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None
    return ("parquet", os.path.abspath(path)) if digest == entry.get("sha256") else None


def _log_current(run_dir: Path, record: Any) -> bool:
    """Whether the replay recorded in ``record`` read each log of the run up to its size now."""
    if not isinstance(record, dict):
        return False
    run = RunDir(run_dir)
    ranks = record.get("ranks")
    if isinstance(ranks, dict):
        on_disk = run.ranks()
        if sorted(ranks) != sorted(str(r) for r in on_disk):
            return False
        return all(_size_is(run.rank_log(r), ranks[str(r)]) for r in on_disk)
    return _size_is(Path(run_dir, LOG), record)


def _size_is(log: Path, record: Any) -> bool:
    try:
        size = os.stat(log).st_size
    except OSError:
        return False
    return isinstance(record, dict) and record.get("bytes") == size


def read_log(run: QueryRun, registry: EventRegistry) -> None:
    """Fill ``run.columns`` from the run's log(s), checked line by line (CRC, seq); a crash's
    torn tail ends the read quietly. A corrupt log leaves the run without metrics (``problem``)."""
    columns = MetricColumns()
    try:
        for event in RunReader(run.info.path, registry=registry):
            if isinstance(event, Metric):
                columns.metric(event)
            elif isinstance(event, Params):
                columns.add_params(event)
    except VrxError as exc:
        run.problem = str(exc)
        return
    run.columns = columns


__all__ = ["PLUGIN", "QueryRun", "Source", "check_roots", "find", "read_log", "verified_parquet"]
