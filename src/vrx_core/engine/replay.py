"""Fold a log through the plugins' derivers and write every derived file.

The engine (:mod:`vrx_core.engine.dispatch`) builds a dispatch table (event class -> handlers) once
per replay, so the per-event cost is a dict lookup and direct calls, not a pluggy hook call. The same
:class:`Replayer` is fed by a whole-file read (``vrx replay``) or by a live tail (``vrx tail``), in
as many parts as you like: derivers are folds, so incremental equals full.

Provenance goes to ``derived.json``: for every derived file, the plugin and version that wrote it;
for every loaded plugin, its version and code hash (:mod:`vrx_core.engine.plugincode`); and for the
log, the sha256 of the bytes consumed and the last seq.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from vrx_core.codec import canonical_json
from vrx_core.engine.dispatch import Failure, OutputConflict, Replayer
from vrx_core.engine.plugincode import plugin_record
from vrx_core.engine.provenance import (
    LogRegressed,
    lost_data,
    previous_log_record,
    ranks_lost_data,
    read_provenance,
    superseded,
)
from vrx_core.errors import DriftError, ExitCode
from vrx_core.events import AnyEvent, EventRegistry, Source
from vrx_core.hooks.api import ReplayContext
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.atomic import atomic_write, sweep_temp_files
from vrx_core.log.merge import RunReader
from vrx_core.log.reader import Mode, ReadReport, read_events
from vrx_core.log.rundir import PROVENANCE, RunDir


@dataclass
class ReplayResult:
    """What a replay did: files written (path -> plugin), failures, and the reader's report."""

    out_dir: Path
    report: ReadReport
    files: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: Every log's report: ``{None: report}``, or one per rank of a multi-rank run (``report`` is
    #: then the lowest rank's).
    reports: dict[int | None, ReadReport] = field(default_factory=dict)
    #: Each plugin's snapshot after ``finish``: its final derived values, for printing.
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        if self.failures:
            return ExitCode.SOFTWARE
        if not all(r.complete for r in (self.reports or {None: self.report}).values()):
            return ExitCode.INCOMPLETE
        return ExitCode.OK


def _log_provenance(report: ReadReport) -> dict[str, Any]:
    return {
        "path": report.path.name,
        "bytes": report.valid_end,
        "sha256": report.sha256.hexdigest(),
        "last_seq": report.last_seq,
        "complete": report.complete,
        "mode": report.mode,
        "salvaged": report.salvaged,
        "residue": None
        if report.residue is None
        else {"line": report.residue.line, "offset": report.residue.offset},
        "skipped_lines": [{"line": p.line, "offset": p.offset, "kind": p.kind} for p in report.problems],
        "unknown_kinds": dict(sorted(report.unknown.items())),
    }


def replay(
    run_dir: str | os.PathLike[str],
    plugins: PluginSet,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    mode: Mode = "recover",
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay ``run_dir``'s log through ``plugins`` and write the derived files into ``out_dir``.

    Corruption raises CorruptLog before anything is written (unless ``mode='salvage'``); so does
    OutputConflict, when two plugins declare the same file for this run, and LogRegressed, when
    the log no longer holds what the previous ``derived.json`` recorded (``force`` re-derives
    anyway and keeps that record under ``log.superseded``). ``progress(bytes_read)`` is called
    every few thousand events, for a progress bar.
    """
    src = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else src
    previous = previous_log_record(out)
    lost = lost_data(RunDir(src).log, previous) if previous is not None else ranks_lost_data(src, out)
    if lost is not None and not force:
        raise LogRegressed(
            f"{lost}; nothing was written, so the old derived files stay as evidence "
            "(re-derive anyway with --force: the new derived.json keeps what the log was)",
            path=RunDir(out).provenance,
        )
    out.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(out)
    ctx = ReplayContext(run_dir=src, out_dir=out, registry=plugins.registry)
    replayer = Replayer(plugins.derivers(ctx))
    # A multi-rank run's logs merged by (t, rank, seq): derivers see each event's rank.
    reader = RunReader(src, mode=mode, registry=plugins.registry)
    # Read fully before writing anything: a corrupt log must leave the outputs untouched.
    replayer.feed(reader if progress is None else _reporting(reader, progress))
    versions = {name: plugins.version_of(name) for name, _ in replayer.derivers}
    written = replayer.finish(out, versions)
    reports = reader.reports
    log: dict[str, Any] = (
        {"ranks": {str(r): _log_provenance(rep) for r, rep in reports.items()}}
        if reader.multi_rank
        else _log_provenance(reports[None])
    )
    if previous is not None and (lost is not None or previous.get("superseded")):
        # Evidence of lost data is carried from replay to replay, never dropped.
        log["superseded"] = superseded(previous, lost) if lost is not None else previous["superseded"]
    provenance = {**replayer.provenance, "log": log, "plugins": plugin_record(plugins)}
    atomic_write(out / PROVENANCE, canonical_json(provenance))
    snapshots = replayer.snapshots()
    return ReplayResult(
        out_dir=out,
        report=next(iter(reports.values())),
        reports=reports,
        files=written,
        failures=list(replayer.failures),
        snapshots=snapshots,
    )


def _reporting(reader: RunReader, progress: Callable[[int], None], every: int = 8192) -> Iterator[AnyEvent]:
    def done() -> int:
        return sum(r.valid_end for r in reader.reports.values())

    for n, event in enumerate(reader, 1):
        yield event
        if n % every == 0:
            progress(done())
    progress(done())


@dataclass
class Drift:
    path: str
    reason: str
    diff: list[str] = field(default_factory=list)
    #: A recorded input file (``path`` absolute) rather than a derived file of the run.
    source: bool = False


def check(
    run_dir: str | os.PathLike[str],
    plugins: PluginSet,
    *,
    mode: Mode = "recover",
    against: str | os.PathLike[str] | None = None,
) -> tuple[ReplayResult, list[Drift]]:
    """Recompute into a temporary directory and compare with the files in ``against`` (default: the run)."""
    src = Path(run_dir)
    on_disk = Path(against) if against is not None else src
    tmp = Path(tempfile.mkdtemp(prefix="vrx-check-"))
    try:
        result = replay(src, plugins, out_dir=tmp, mode=mode)
        drifts: list[Drift] = []
        fresh = sorted([*result.files, PROVENANCE])
        for rel in fresh:
            compare = _compare_provenance if rel == PROVENANCE else _compare
            drift = compare(on_disk / rel, tmp / rel, rel)
            if drift is not None:
                drifts.append(drift)
        for rel in _previously_derived(on_disk):
            if rel not in result.files and rel != PROVENANCE:
                drifts.append(
                    Drift(rel, "on disk but not derived by this replay (plugin missing or blocked?)")
                )
        drifts += source_drifts(src, plugins.registry)
        return result, drifts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _previously_derived(run_dir: Path) -> list[str]:
    files = read_provenance(run_dir).get("files")
    return sorted(files) if isinstance(files, dict) else []


def _compare(on_disk: Path, fresh: Path, rel: str) -> Drift | None:
    new = fresh.read_bytes()
    try:
        old = on_disk.read_bytes()
    except FileNotFoundError:
        return Drift(rel, "missing on disk")
    if old == new:
        return None
    try:
        a, b = old.decode().splitlines(), new.decode().splitlines()
    except UnicodeDecodeError:
        return Drift(rel, f"binary content differs ({len(old)} vs {len(new)} bytes)")
    diff = list(difflib.unified_diff(a, b, f"{rel} (on disk)", f"{rel} (from log)", lineterm="", n=1))
    return Drift(rel, "differs", diff[:40])


def _compare_provenance(on_disk: Path, fresh: Path, rel: str) -> Drift | None:
    """derived.json, less its ``plugins`` block: which plugin code replayed the run is a fact about
    the replay, not about the run, and a plugin's new code that derives the same files is no drift
    (the files themselves are compared one by one)."""
    try:
        old, new = msgspec.json.decode(on_disk.read_bytes()), msgspec.json.decode(fresh.read_bytes())
    except (OSError, msgspec.DecodeError):
        return _compare(on_disk, fresh, rel)
    if isinstance(old, dict) and isinstance(new, dict):
        old.pop("plugins", None)
        new.pop("plugins", None)
        if old == new:
            return None
    return _compare(on_disk, fresh, rel)


def raise_on_drift(drifts: list[Drift]) -> None:
    sources = sum(1 for d in drifts if d.source)
    derived = len(drifts) - sources
    parts = [f"{derived} derived file(s) differ from a fresh replay"] if derived else []
    parts += [f"{sources} recorded source(s) changed or vanished"] if sources else []
    if parts:
        raise DriftError("; ".join(parts))


__all__ = ["Failure", "LogRegressed", "OutputConflict", "ReplayResult", "Replayer", "check", "replay"]


def source_drifts(run_dir: Path, registry: EventRegistry) -> list[Drift]:
    """Recorded ``source`` files that changed or vanished since the run read them (absolute paths)."""
    drifts: list[Drift] = []
    for ev in read_events(run_dir, registry=registry, mode="recover"):
        if not isinstance(ev, Source):
            continue
        path = Path(ev.path)
        try:
            now = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            reason = f"source recorded at seq {ev.seq} cannot be read now: {exc.strerror}"
            drifts.append(Drift(ev.path, reason, source=True))
            continue
        if now != ev.sha256:
            reason = (
                f"source changed since the run read it (seq {ev.seq}): sha256 {ev.sha256[:12]}"
                f" then, {now[:12]} now"
            )
            drifts.append(Drift(ev.path, reason, source=True))
    return drifts
