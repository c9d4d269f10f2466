"""What a plugin derives with: :class:`Deriver`, its :class:`ReplayContext` and :class:`DerivedFiles`.

A deriver is a fold over the events of one run. Its handlers subscribe to event classes with
:func:`handles`, and mypy checks each handler's parameter against the classes it subscribes to::

    class Best(Deriver):
        outputs = frozenset({"best.json"})

        def __init__(self) -> None:
            self.best: dict[str, float] = {}

        @handles(Metric)
        def on_metric(self, event: Metric) -> None:
            self.best[event.name] = min(event.value, self.best.get(event.name, math.inf))

        def snapshot(self) -> dict[str, Any]:
            return dict(self.best)

        def finish(self, out: DerivedFiles) -> None:
            out.write_json("best.json", self.best)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar, overload

from vrx_core.codec import canonical_json
from vrx_core.events import AnyEvent, Event, EventRegistry, UnknownEvent

#: What a subscription names: an event class (its subclasses included), ``UnknownEvent`` (every
#: kind the registry does not know), or a kind tag (that kind however it decodes).
Kind: TypeAlias = type[Event] | type[UnknownEvent] | str

_E1 = TypeVar("_E1", bound=Event | UnknownEvent)
_E2 = TypeVar("_E2", bound=Event | UnknownEvent)
_E3 = TypeVar("_E3", bound=Event | UnknownEvent)
_E4 = TypeVar("_E4", bound=Event | UnknownEvent)
_D = TypeVar("_D", bound="Deriver")
_HANDLES = "__vrx_handles__"


@dataclass(frozen=True)
class ReplayContext:
    """Where a replay reads and writes.

    ``run_dir`` is None when ``vrx plugins`` builds a deriver only to list what it consumes.
    """

    run_dir: Path | None
    out_dir: Path | None
    registry: EventRegistry

    @property
    def live(self) -> bool:
        """A live run's derivers (``vrx tail``, ``follow``, ``vrx serve``): only their snapshots
        are shown, no file is written, so a deriver that only builds files can stay out."""
        return self.run_dir is not None and self.out_dir is None


def check_kinds(kinds: tuple[Any, ...], where: str) -> frozenset[Kind]:
    """``kinds`` as a subscription, or TypeError: event classes, ``UnknownEvent`` or kind tags."""
    for k in kinds:
        ok = (isinstance(k, str) and k) or (
            isinstance(k, type) and (issubclass(k, Event) or k is UnknownEvent)
        )
        if not ok:
            raise TypeError(f"{where}: {k!r} is not an event class, UnknownEvent or a kind tag")
    return frozenset(kinds)


def check_relpath(relpath: str) -> None:
    """ValueError unless ``relpath`` is a plain relative POSIX path (no ``..``, no ``./``)."""
    p = PurePosixPath(relpath) if isinstance(relpath, str) else None
    if p is None or p.is_absolute() or ".." in p.parts or not p.parts or str(p) != relpath:
        raise ValueError(f"derived file path must be a plain relative path, got {relpath!r}")


def kind_name(kind: Kind) -> str:
    """How a subscription is shown (``vrx plugins``): the tag, or the class name of an untagged class."""
    if isinstance(kind, str):
        return kind
    tag = kind.__struct_config__.tag if issubclass(kind, Event) else None
    return tag if isinstance(tag, str) else kind.__qualname__


@overload
def handles(kind: type[_E1], /) -> Callable[[Callable[[_D, _E1], None]], Callable[[_D, _E1], None]]: ...
@overload
def handles(
    k1: type[_E1], k2: type[_E2], /
) -> Callable[[Callable[[_D, _E1 | _E2], None]], Callable[[_D, _E1 | _E2], None]]: ...
@overload
def handles(
    k1: type[_E1], k2: type[_E2], k3: type[_E3], /
) -> Callable[[Callable[[_D, _E1 | _E2 | _E3], None]], Callable[[_D, _E1 | _E2 | _E3], None]]: ...
@overload
def handles(
    k1: type[_E1], k2: type[_E2], k3: type[_E3], k4: type[_E4], /
) -> Callable[[Callable[[_D, _E1 | _E2 | _E3 | _E4], None]], Callable[[_D, _E1 | _E2 | _E3 | _E4], None]]: ...
@overload
def handles(
    *kinds: type[Event] | type[UnknownEvent] | str,
) -> Callable[[Callable[[_D, AnyEvent], None]], Callable[[_D, AnyEvent], None]]: ...
def handles(*kinds: Any) -> Any:
    """Subscribe the decorated :class:`Deriver` method to events of ``kinds``.

    ``kinds`` are event classes (an event is handled when it is an instance of one), and/or kind
    tags (the kind with that tag, typed or ``UnknownEvent``: for kinds no loaded plugin registers).
    mypy checks the handler's parameter: ``@handles(Metric)`` needs ``(self, event: Metric)``,
    ``@handles(A, B)`` needs ``A | B``, and tags (or more than four classes) need ``AnyEvent``.
    A subclass that overrides a handler without the decorator keeps its subscription.
    """
    if not kinds:
        raise TypeError("handles() needs at least one event class or kind tag")
    subscribed = check_kinds(kinds, "handles()")

    def mark(fn: Any) -> Any:
        setattr(fn, _HANDLES, subscribed)
        return fn

    return mark


class Deriver:
    """Base class of the per-replay state a plugin returns from ``vrx_deriver``.

    Events reach a deriver through its handlers: methods decorated with :func:`handles`
    (typed, one per event class or group of classes), and ``on_event`` when a subclass overrides
    it (untyped: every event ``consumes`` selects). Each handler is called once per matching
    event, in seq order. The engine builds its dispatch table (event class -> handlers) once per
    replay, so a handler costs a dict lookup and a direct call per event.

    Attributes:
        consumes: what ``on_event`` receives: event classes and/or kind tags, or None (the
            default) for every event, ``UnknownEvent`` included. Only for an ``on_event`` override.
        outputs: the files ``finish`` writes (relative POSIX paths), unless :meth:`run_outputs`
            says otherwise for a run. Writing a file not declared is an error.
        stage: derivers finish in ascending stage order; one that reads other derivers' files
            (the manifest) uses a higher stage. Default 0.
    """

    consumes: ClassVar[frozenset[Kind] | None] = None
    outputs: ClassVar[frozenset[str]] = frozenset()
    stage: ClassVar[int] = 0
    #: Set for each subclass: ``(method name, kinds)`` of its :func:`handles` methods, in order.
    __vrx_handlers__: ClassVar[tuple[tuple[str, frozenset[Kind]], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"{cls.__module__}.{cls.__qualname__}"
        consumes = cls.__dict__.get("consumes")
        if consumes is not None:
            check_kinds(tuple(consumes), f"{where}.consumes")
            if consumes and not overrides_on_event(cls):
                raise TypeError(f"{where}.consumes only routes events to on_event, which it does not define")
        for rel in cls.__dict__.get("outputs", ()):
            check_relpath(rel)
        found: dict[str, frozenset[Kind]] = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                kinds = getattr(attr, _HANDLES, None)
                if kinds is not None:
                    found.pop(name, None)  # keep the order of the most derived definition
                    found[name] = kinds
        cls.__vrx_handlers__ = tuple(found.items())

    def on_event(self, event: AnyEvent) -> None:
        """Untyped handler: fold one event ``consumes`` selects. Prefer :func:`handles` methods."""

    def snapshot(self) -> dict[str, Any]:
        """Current derived values, JSON-able; cheap enough to call after every batch of events."""
        return {}

    def run_outputs(self) -> Set[str]:
        """The files ``finish`` will write for this run (default: ``outputs``).

        Asked once after the last event and before any deriver's ``finish``, so the answer may
        depend on what the run contained: a plugin that writes ``metrics.json`` only for its own
        kind of run returns it only then. Two derivers naming one file for the same run stop the
        replay before anything is written (:class:`vrx_core.engine.replay.OutputConflict`).
        """
        return self.outputs

    def finish(self, out: DerivedFiles) -> None:
        """Write the derived files through ``out`` (nothing reaches disk if this raises)."""


def overrides_on_event(cls: type[Deriver]) -> bool:
    """Whether ``cls`` defines an ``on_event`` of its own (the untyped handler)."""
    return cls.on_event is not Deriver.on_event


def consumed_kinds(cls: type[Deriver]) -> list[str] | None:
    """Every kind a deriver class's handlers receive, as ``vrx plugins`` shows it (None: all)."""
    untyped = overrides_on_event(cls)
    if untyped and cls.consumes is None:
        return None
    kinds: set[Kind] = {k for _, ks in cls.__vrx_handlers__ for k in ks}
    if untyped and cls.consumes is not None:
        kinds |= cls.consumes
    return sorted({kind_name(k) for k in kinds})


@dataclass
class DerivedFiles:
    """Collects the files one deriver writes; the engine commits them atomically after ``finish``.

    Paths are relative POSIX paths inside the output directory, among those the deriver declared
    for this run (``declared``; None, for a DerivedFiles built by hand, allows any).
    """

    plugin: str
    out_dir: Path
    files: dict[str, bytes] = field(default_factory=dict)
    #: Files already committed by derivers of earlier stages, path -> sha256 (for the manifest).
    committed: dict[str, str] = field(default_factory=dict)
    #: What the deriver's ``run_outputs()`` declared for this run.
    declared: frozenset[str] | None = None

    def write_bytes(self, relpath: str, data: bytes) -> None:
        check_relpath(relpath)
        if self.declared is not None and relpath not in self.declared:
            raise ValueError(
                f"plugin {self.plugin!r} wrote {relpath!r}, which it did not declare "
                f"(declared for this run: {', '.join(sorted(self.declared)) or 'none'}); "
                "list it in the deriver's outputs or run_outputs()"
            )
        self.files[relpath] = bytes(data)

    def write_text(self, relpath: str, text: str) -> None:
        self.write_bytes(relpath, text.encode("utf-8"))

    def write_json(self, relpath: str, obj: Any) -> None:
        """Write canonical JSON (sorted keys, indent 2, trailing newline)."""
        self.write_bytes(relpath, canonical_json(obj))

    def digests(self) -> dict[str, str]:
        return {p: hashlib.sha256(b).hexdigest() for p, b in self.files.items()}


@dataclass(frozen=True)
class Alert:
    """Something a person watching a run should see now (``vrx tail`` shows it as a notice).

    ``kind`` names the condition (``nan``, ``oom``, ``error``, ``stall``, or a plugin's own, best
    namespaced: ``myplugin.overheat``); ``seq`` the event it is about (None: the follower fills in
    the event's seq, or the last seq read for :meth:`AlertRules.on_idle`).
    """

    kind: str
    message: str
    seq: int | None = None
    level: Literal["info", "warning"] = "warning"


class AlertRules:
    """Base class of what ``vrx_alert_rules`` returns: rules that turn a live run's events into alerts.

    The follower builds a dispatch table (event kind -> rules) once, so the per-event cost is a dict
    lookup and direct calls, as for a :class:`Deriver`. Rules may keep state (fire once per metric).

    Attributes:
        consumes: what ``on_event`` receives, as a deriver's: event classes (subclasses included),
            ``UnknownEvent`` (every kind the registry does not know) and/or kind tags (that kind,
            typed or not); None means every event.
    """

    consumes: ClassVar[frozenset[type[Event] | type[UnknownEvent] | str] | None] = None

    def wants(self, tag: str, cls: type[Event] | None) -> bool:
        """Whether ``on_event`` receives events of kind ``tag`` (``cls`` None: an unregistered kind).

        Asked once per kind, when the kind is first seen; the default follows ``consumes``.
        Override it to select kinds by pattern (the core's OOM rule takes any ``*.oom`` kind).
        """
        c = self.consumes
        if c is None or tag in c:
            return True
        if cls is None:
            return UnknownEvent in c
        return any(isinstance(k, type) and issubclass(cls, k) for k in c)

    def on_event(self, event: AnyEvent) -> list[Alert]:
        """Alerts for one event (called in seq order, once per wanted event)."""
        return []

    def on_idle(self, seconds: float) -> list[Alert]:
        """Alerts for a quiet run: ``seconds`` since the last event while the writer is alive.

        Called about every 0.5 s while the log is caught up, no event arrives and the writer's
        heartbeat was seen after the last event; and once with ``0.0`` when events resume after
        such a spell, so a rule can re-arm.
        """
        return []
