"""The replay engine's core: feeding events to derivers through a dispatch table, then finishing them.

The table maps an event class (an unregistered kind: its tag) to the ``(plugin, handler)`` pairs
that receive it, in (stage, plugin name) order. It is filled the first time a kind is seen, from
each deriver's :func:`~vrx_core.hooks.api.handles` methods and its ``on_event``/``consumes``, so
the per-event cost is one dict lookup and direct calls. A deriver that raises is dropped and the
table rebuilt without it.

Before any file is written, :meth:`Replayer.finish` asks every deriver which files it will write
for this run (``run_outputs``); two derivers naming one file raise :class:`OutputConflict`, and a
deriver that then writes a file it did not name fails like one that raises.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode, PluginError, VrxError
from vrx_core.events import AnyEvent, Event, UnknownEvent, event_tag
from vrx_core.hooks.api import DerivedFiles, Deriver, Kind, check_relpath, overrides_on_event
from vrx_core.log.atomic import atomic_write
from vrx_core.log.rundir import LOG, RunDir

PROVENANCE_SCHEMA = "vrx.derived.v1"

Handler = Callable[[AnyEvent], None]
Route = tuple[str, Handler]


class OutputConflict(VrxError):
    """Two plugins would write the same derived file for one run; nothing was written."""

    exit_code = ExitCode.SOFTWARE

    def __init__(self, clashes: list[tuple[str, str, str]]) -> None:
        #: (path, first plugin, second plugin) for each file claimed twice.
        self.clashes = clashes
        what = "; ".join(f"plugins {a!r} and {b!r} would both write {rel}" for rel, a, b in clashes)
        super().__init__(
            f"{what} for this run; nothing was written (block one with -p no:NAME, or make its "
            "run_outputs() leave this kind of run alone)"
        )


@dataclass
class Failure:
    plugin: str
    hook: str
    seq: int | None
    message: str

    def render(self) -> str:
        return PluginError(self.message, plugin=self.plugin, hook=self.hook, seq=self.seq).render()


def _matches(kinds: frozenset[Kind], tag: str, cls: type[Event] | None) -> bool:
    """Whether a subscription takes events of kind ``tag`` (``cls`` None: an unregistered kind)."""
    if tag in kinds:
        return True
    if cls is None:
        return UnknownEvent in kinds
    return any(isinstance(k, type) and issubclass(cls, k) for k in kinds)


def routes(name: str, deriver: Deriver, tag: str, cls: type[Event] | None) -> list[Route]:
    """The handlers of ``deriver`` that receive events of kind ``tag``, each once."""
    found: list[Route] = []
    methods = set()
    for method, kinds in type(deriver).__vrx_handlers__:
        methods.add(method)
        if _matches(kinds, tag, cls):
            found.append((name, getattr(deriver, method)))
    if overrides_on_event(type(deriver)) and "on_event" not in methods:
        consumes = deriver.consumes
        if consumes is None or _matches(consumes, tag, cls):
            found.append((name, deriver.on_event))
    return found


class Replayer:
    """Feeds events to derivers through a dispatch table; collects snapshots and failures."""

    def __init__(self, derivers: list[tuple[str, Deriver]]) -> None:
        self.derivers = derivers
        self.failures: list[Failure] = []
        self._failed: set[str] = set()
        self._table: dict[Any, tuple[Route, ...]] = {}
        self.events = 0
        self.provenance: dict[str, Any] = {}

    def _handlers_for(self, event: AnyEvent) -> tuple[Route, ...]:
        unknown = isinstance(event, UnknownEvent)
        cls = None if isinstance(event, UnknownEvent) else type(event)
        tag = event_tag(event)
        hs = tuple(
            route
            for name, d in self.derivers
            if name not in self._failed
            for route in routes(name, d, tag, cls)
        )
        # Unknown kinds are keyed by tag; typed ones by class (one dict lookup per event).
        self._table[tag if unknown else cls] = hs
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

    def claims(self) -> dict[str, frozenset[str]]:
        """Each live deriver's ``run_outputs()`` for this run; raise OutputConflict on a clash.

        A deriver whose ``run_outputs`` raises or names a file the core keeps (the log,
        ``derived.json``, the lock) fails and writes nothing.
        """
        claimed: dict[str, frozenset[str]] = {}
        owner: dict[str, str] = {}
        clashes: list[tuple[str, str, str]] = []
        for name, d in self.derivers:
            if name in self._failed:
                continue
            try:
                paths = frozenset(d.run_outputs())
                for rel in sorted(paths):
                    check_relpath(rel)
                    if rel == LOG or RunDir.is_core_file(rel):
                        raise ValueError(f"{rel!r} is a file vrx keeps for itself")
            except Exception as exc:
                self._fail(name, "run_outputs", None, exc)
                continue
            for rel in sorted(paths):
                if rel in owner:
                    clashes.append((rel, owner[rel], name))
                else:
                    owner[rel] = name
            claimed[name] = paths
        if clashes:
            raise OutputConflict(clashes)
        return claimed

    def finish(self, out_dir: Path, versions: dict[str, str]) -> dict[str, str]:
        """Run each deriver's ``finish`` in stage order and commit its files; return path -> plugin.

        Raises OutputConflict, before anything is written, when two derivers claim one file.
        """
        claimed = self.claims()
        written: dict[str, str] = {}
        committed: dict[str, str] = {}
        for name, d in self.derivers:
            if name in self._failed:
                continue
            declared = claimed[name]
            out = DerivedFiles(plugin=name, out_dir=out_dir, committed=dict(committed), declared=declared)
            try:
                d.finish(out)
                undeclared = sorted(set(out.files) - declared)
                if undeclared:
                    raise ValueError(f"plugin {name!r} wrote {undeclared[0]!r}, which it did not declare")
            except Exception as exc:
                self._fail(name, "finish", None, exc)
                continue
            for rel, data in sorted(out.files.items()):
                atomic_write(out_dir / rel, data)
                written[rel] = name
                committed[rel] = hashlib.sha256(data).hexdigest()
        self._record_provenance(written, committed, versions)
        return written

    def _record_provenance(
        self, written: dict[str, str], digests: dict[str, str], versions: dict[str, str]
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


__all__ = ["Failure", "OutputConflict", "Replayer", "routes"]
