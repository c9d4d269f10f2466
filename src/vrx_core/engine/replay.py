"""Fold a log through the plugins' derivers and write every derived file.

The engine builds a dispatch table (event class -> handlers) once per replay, so the per-event cost
is a dict lookup and direct calls, not a pluggy hook call. The same :class:`Replayer` is fed by a
whole-file read (``vrx replay``) or by a live tail (``vrx tail``), in as many parts as you like:
derivers are folds, so incremental equals full.

Provenance goes to ``derived.json``: for every derived file, the plugin and version that wrote it,
and for the log, the sha256 of the bytes consumed and the last seq.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrx_core.codec import canonical_json
from vrx_core.errors import DriftError, ExitCode, PluginError
from vrx_core.events import AnyEvent, UnknownEvent
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.atomic import atomic_write, sweep_temp_files
from vrx_core.log.reader import LOG_NAME, LogReader, Mode, ReadReport

PROVENANCE = "derived.json"
PROVENANCE_SCHEMA = "vrx.derived.v1"

Handler = Callable[[AnyEvent], None]


@dataclass
class Failure:
    plugin: str
    hook: str
    seq: int | None
    message: str

    def render(self) -> str:
        return PluginError(self.message, plugin=self.plugin, hook=self.hook, seq=self.seq).render()


@dataclass
class ReplayResult:
    """What a replay did: files written (path -> plugin), failures, and the reader's report."""

    out_dir: Path
    report: ReadReport
    files: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: Each plugin's snapshot after ``finish``: its final derived values, for printing.
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def exit_code(self) -> ExitCode:
        if self.failures:
            return ExitCode.SOFTWARE
        if not self.report.complete:
            return ExitCode.INCOMPLETE
        return ExitCode.OK


class Replayer:
    """Feeds events to derivers through a dispatch table; collects snapshots and failures."""

    def __init__(self, derivers: list[tuple[str, Deriver]]) -> None:
        self.derivers = derivers
        self.failures: list[Failure] = []
        self._failed: set[str] = set()
        self._table: dict[Any, tuple[tuple[str, Handler], ...]] = {}
        self.events = 0

    def _handlers_for(self, event: AnyEvent) -> tuple[tuple[str, Handler], ...]:
        tag = event.type if isinstance(event, UnknownEvent) else type(event).__struct_config__.tag
        hs = tuple(
            (name, d.on_event)
            for name, d in self.derivers
            if name not in self._failed and (d.consumes is None or tag in d.consumes)
        )
        # Unknown kinds are keyed by tag; typed ones by class (one dict lookup per event).
        self._table[tag if isinstance(event, UnknownEvent) else type(event)] = hs
        return hs

    def feed(self, events: Iterable[AnyEvent]) -> None:
        table = self._table
        n = 0
        for event in events:
            n += 1
            key = event.type if type(event) is UnknownEvent else type(event)
            handlers = table.get(key)
            if handlers is None:
                handlers = self._handlers_for(event)
            for name, handle in handlers:
                try:
                    handle(event)
                except Exception as exc:
                    self._fail(name, "on_event", event.seq, exc)
                    table = self._table
        self.events += n

    def _fail(self, name: str, hook: str, seq: int | None, exc: BaseException) -> None:
        self.failures.append(Failure(name, hook, seq, f"{type(exc).__name__}: {exc}"))
        self._failed.add(name)
        self._table.clear()  # rebuild without the failed deriver

    def snapshots(self) -> dict[str, dict[str, Any]]:
        """Every live deriver's current snapshot (a failing snapshot is reported, not raised)."""
        out: dict[str, dict[str, Any]] = {}
        for name, d in self.derivers:
            if name in self._failed:
                continue
            try:
                out[name] = d.snapshot()
            except Exception as exc:
                self._fail(name, "snapshot", None, exc)
        return out

    def finish(self, out_dir: Path, versions: dict[str, str]) -> dict[str, str]:
        """Run each deriver's ``finish`` in stage order and commit its files; return path -> plugin."""
        written: dict[str, str] = {}
        committed: dict[str, str] = {}
        for name, d in self.derivers:
            if name in self._failed:
                continue
            out = DerivedFiles(plugin=name, out_dir=out_dir, committed=dict(committed))
            try:
                d.finish(out)
            except Exception as exc:
                self._fail(name, "finish", None, exc)
                continue
            for rel, data in sorted(out.files.items()):
                if rel in written:
                    self._fail(
                        name, "finish", None, ValueError(f"{rel} was already written by {written[rel]}")
                    )
                    break
                atomic_write(out_dir / rel, data)
                written[rel] = name
                committed[rel] = hashlib.sha256(data).hexdigest()
        self._write_provenance(out_dir, written, committed, versions)
        return written

    def _write_provenance(
        self, out_dir: Path, written: dict[str, str], digests: dict[str, str], versions: dict[str, str]
    ) -> None:
        self.provenance = {
            "schema": PROVENANCE_SCHEMA,
            "files": {
                rel: {"plugin": plugin, "version": versions.get(plugin, "?"), "sha256": digests[rel]}
                for rel, plugin in sorted(written.items())
            },
            "failures": [
                {"plugin": f.plugin, "hook": f.hook, "seq": f.seq, "message": f.message}
                for f in self.failures
            ],
        }


def _log_provenance(report: ReadReport) -> dict[str, Any]:
    return {
        "path": LOG_NAME,
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
) -> ReplayResult:
    """Replay ``run_dir``'s log through ``plugins`` and write the derived files into ``out_dir``.

    Corruption raises CorruptLog before anything is written (unless ``mode='salvage'``).
    """
    src = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else src
    out.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(out)
    ctx = ReplayContext(run_dir=src, out_dir=out, registry=plugins.registry)
    replayer = Replayer(plugins.derivers(ctx))
    reader = LogReader(src / LOG_NAME, mode=mode, registry=plugins.registry)
    # Read fully before writing anything: a corrupt log must leave the outputs untouched.
    replayer.feed(reader)
    versions = {name: plugins.version_of(name) for name, _ in replayer.derivers}
    written = replayer.finish(out, versions)
    provenance = {**replayer.provenance, "log": _log_provenance(reader.report)}
    atomic_write(out / PROVENANCE, canonical_json(provenance))
    snapshots = replayer.snapshots()
    return ReplayResult(
        out_dir=out,
        report=reader.report,
        files=written,
        failures=list(replayer.failures),
        snapshots=snapshots,
    )


@dataclass
class Drift:
    path: str
    reason: str
    diff: list[str] = field(default_factory=list)


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
            drift = _compare(on_disk / rel, tmp / rel, rel)
            if drift is not None:
                drifts.append(drift)
        for rel in _previously_derived(on_disk):
            if rel not in result.files and rel != PROVENANCE:
                drifts.append(
                    Drift(rel, "on disk but not derived by this replay (plugin missing or blocked?)")
                )
        return result, drifts
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _previously_derived(run_dir: Path) -> list[str]:
    import msgspec

    try:
        data = msgspec.json.decode((run_dir / PROVENANCE).read_bytes())
    except (OSError, msgspec.DecodeError, UnicodeDecodeError):
        return []
    files = data.get("files") if isinstance(data, dict) else None
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


def raise_on_drift(drifts: list[Drift]) -> None:
    if drifts:
        raise DriftError(f"{len(drifts)} derived file(s) differ from a fresh replay")


__all__ = ["PROVENANCE", "Failure", "ReplayResult", "Replayer", "check", "replay"]
