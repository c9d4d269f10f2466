"""What a plugin derives with: :class:`Deriver`, its :class:`ReplayContext` and :class:`DerivedFiles`.

A deriver is a fold over the events of one run::

    class Best(Deriver):
        consumes = frozenset({"metric"})
        def __init__(self): self.best = {}
        def on_event(self, event): self.best[event.name] = min(event.value, self.best.get(event.name, inf))
        def snapshot(self): return dict(self.best)
        def finish(self, out): out.write_json("best.json", self.best)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from vrx_core.codec import canonical_json
from vrx_core.events import AnyEvent, EventRegistry


@dataclass(frozen=True)
class ReplayContext:
    """Where a replay reads and writes.

    ``run_dir`` is None when ``vrx plugins`` builds a deriver only to list what it consumes.
    """

    run_dir: Path | None
    out_dir: Path | None
    registry: EventRegistry


class Deriver:
    """Base class of the per-replay state a plugin returns from ``vrx_deriver``.

    Attributes:
        consumes: the event kinds (tags) ``on_event`` receives; None means every event,
            ``UnknownEvent`` included.
        stage: derivers finish in ascending stage order; one that reads other derivers' files
            (the manifest) uses a higher stage. Default 0.
    """

    consumes: ClassVar[frozenset[str] | None] = None
    stage: ClassVar[int] = 0

    def on_event(self, event: AnyEvent) -> None:
        """Fold one event into the state. Called in seq order, once per event."""

    def snapshot(self) -> dict[str, Any]:
        """Current derived values, JSON-able; cheap enough to call after every batch of events."""
        return {}

    def finish(self, out: DerivedFiles) -> None:
        """Write the derived files through ``out`` (nothing reaches disk if this raises)."""


@dataclass
class DerivedFiles:
    """Collects the files one deriver writes; the engine commits them atomically after ``finish``.

    Paths are relative POSIX paths inside the output directory.
    """

    plugin: str
    out_dir: Path
    files: dict[str, bytes] = field(default_factory=dict)
    #: Files already committed by derivers of earlier stages, path -> sha256 (for the manifest).
    committed: dict[str, str] = field(default_factory=dict)

    def write_bytes(self, relpath: str, data: bytes) -> None:
        p = PurePosixPath(relpath)
        if p.is_absolute() or ".." in p.parts or not p.parts or str(p) != relpath:
            raise ValueError(f"derived file path must be a plain relative path, got {relpath!r}")
        self.files[relpath] = bytes(data)

    def write_text(self, relpath: str, text: str) -> None:
        self.write_bytes(relpath, text.encode("utf-8"))

    def write_json(self, relpath: str, obj: Any) -> None:
        """Write canonical JSON (sorted keys, indent 2, trailing newline)."""
        self.write_bytes(relpath, canonical_json(obj))

    def digests(self) -> dict[str, str]:
        return {p: hashlib.sha256(b).hexdigest() for p, b in self.files.items()}
