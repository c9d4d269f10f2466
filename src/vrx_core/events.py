"""Typed events: the ``Event`` base, the core kinds, and the registry the log decoder is built from.

Every kind is a frozen msgspec Struct with an explicit snake_case tag (the ``type`` of its JSON
line), so renaming a class never breaks an old log. ``seq`` and ``t`` are stamped by the writer;
a freshly built event carries ``seq == -1``.

Schema evolution rules (msgspec's and eventsourcing's): a new field gets a default; a field never
changes its type or meaning; a kind is never reused; a breaking change bumps the kind's
``__vrx_version__`` and adds an upcaster (:mod:`vrx_core.upcast`).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import msgspec

from vrx_core.upcast import Upcaster, Upcasters

#: JSON value allowed in free-form fields (params, log fields).
JSONValue = Any

#: Keys the envelope owns; no kind may declare a field with one of these names.
RESERVED_KEYS = frozenset({"seq", "t", "v", "type", "crc", "rank"})
#: Kinds only the writer itself records; ``vrx ingest`` and ``Recorder.emit`` refuse them.
WRITER_KINDS = frozenset({"run_start", "run_end", "sync", "resumed"})

_TAG_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    """Base of every event kind.

    Attributes:
        seq: position in the log, dense from 0; ``-1`` until the writer records the event.
        t: wall-clock time (Unix seconds) at which the writer recorded the event; ``0.0`` before.
        rank: the rank whose log held the event, set by the reader of a multi-rank run; None in a
            single-process run. Never written: a rank's log is the rank.
    """

    __vrx_version__: ClassVar[int] = 1

    seq: int = -1
    t: float = 0.0
    rank: int | None = None


class WriterInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who wrote (or resumed) a log: enough to find the process and to judge a stale lock."""

    host: str
    pid: int
    boot_id: str = ""
    version: str = ""
    epoch: int = 0


class RunStart(Event, frozen=True, kw_only=True, tag="run_start"):
    """First line of every log (seq 0). Its CRC seeds (salts) the CRC of every later line.

    ``format_major`` / ``format_minor``: log format version (docs/log-format.md). A reader refuses
    a newer major format (exit 78) and reads a newer minor one, keeping unknown kinds.
    """

    run_id: str
    format_major: int
    format_minor: int
    writer: WriterInfo
    argv: list[str] = []
    name: str | None = None
    #: Multi-rank runs only (None otherwise): which rank wrote this log, of how many.
    world_size: int | None = None
    local_rank: int | None = None
    global_rank: int | None = None
    #: ``time.monotonic()`` when ``t`` was taken, to relate this rank's clocks.
    monotonic: float | None = None
    #: Rank 0's wall clock minus this rank's, measured at a ``torch.distributed`` barrier.
    clock_offset_s: float | None = None


class RunEnd(Event, frozen=True, kw_only=True, tag="run_end"):
    """Last line of a finished writer session.

    ``count`` is the number of lines before this one, ``bytes_before`` their total size and
    ``sha256`` the hash of those bytes; a reader checks all three.
    ``status`` is ``ok``, ``error`` or ``interrupted``; ``error`` holds the exception text.
    """

    status: Literal["ok", "error", "interrupted"] = "ok"
    count: int
    bytes_before: int
    sha256: str
    error: str | None = None


class Sync(Event, frozen=True, kw_only=True, tag="sync"):
    """Written right after an fsync: everything before ``durable_upto`` is on stable storage.

    ``sha256`` covers the bytes ``[0, start of this line)`` and ``count`` the lines before it. A
    reader that meets damage before the largest ``durable_upto`` knows it is corruption, not the
    residue of a crash.
    """

    count: int
    durable_upto: int
    sha256: str


class Resumed(Event, frozen=True, kw_only=True, tag="resumed"):
    """A writer reopened an existing log and continues its seq.

    ``truncated_bytes`` is the size of the torn tail that was cut off (a copy is kept in
    ``torn_file``, relative to the run directory). ``stale_lock`` describes the previous lock
    holder when its lock was recovered (dead process) or taken over.
    """

    writer: WriterInfo
    truncated_bytes: int = 0
    torn_file: str | None = None
    stale_lock: dict[str, JSONValue] | None = None
    previous_status: str | None = None


class Metric(Event, frozen=True, tag="metric"):
    """One scalar measurement. ``value`` may be NaN or +-Inf; they round-trip exactly.

    ``Metric("loss", 0.25, 1)`` and ``Metric(name="loss", value=0.25, step=1)`` are the same.
    """

    name: str
    value: float
    step: int | None = None


class Params(Event, frozen=True, kw_only=True, tag="params"):
    """Configuration or hyperparameters of the run (free-form JSON values)."""

    values: dict[str, JSONValue]


class Log(Event, frozen=True, kw_only=True, tag="log"):
    """A log message, e.g. from the structlog processor. ``fields`` holds the entry's key/values."""

    level: str = "info"
    msg: str
    logger: str | None = None
    fields: dict[str, JSONValue] = {}


class Checkpoint(Event, frozen=True, kw_only=True, tag="checkpoint"):
    """A model checkpoint was saved (path relative to the run directory where possible)."""

    path: str
    step: int | None = None
    size_bytes: int | None = None
    sha256: str | None = None


class Artifact(Event, frozen=True, kw_only=True, tag="artifact"):
    """A file the run produced that is not derived from the log (plots, predictions, dumps)."""

    path: str
    size_bytes: int | None = None
    sha256: str | None = None
    media_type: str | None = None


class Source(Event, frozen=True, kw_only=True, tag="source"):
    """An input file that the run's derived files are computed from, recorded with its hash.

    ``path`` is the file as read (absolute), ``sha256`` the hash of its bytes and ``text`` its
    content when the derivation needs it, so a replay reads the log and nothing else.
    ``vrx replay --check`` re-hashes every source and names one that changed or vanished since.
    """

    path: str
    sha256: str
    size_bytes: int
    text: str | None = None


class Plan(Event, frozen=True, kw_only=True, tag="plan"):
    """The run's expected amount of work: ``total`` units of ``unit`` (steps, epochs, samples...).

    Progress is measured against the highest ``step`` of any metric recorded so far; ``vrx tail``
    shows done/total, a rate and an ETA. A later ``plan`` replaces an earlier one.
    """

    total: int
    unit: str = "steps"


class GitInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The git checkout a run's code came from; every field is None where git could not tell.

    ``error`` names the first failure in the original probe's vocabulary (``git_not_found``,
    ``git_rev_parse_nonzero_rc:128:...``); ``dirty`` is True when ``git status --porcelain`` lists
    anything (untracked files included).
    """

    commit_full: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    message: str | None = None
    error: str | None = None


class TorchInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """torch and CUDA as the recording process saw them; ``devices`` lists each visible GPU
    (``name``, ``total_memory_bytes``, ``capability``)."""

    version: str
    cuda_version: str | None = None
    cuda_available: bool = False
    devices: list[dict[str, JSONValue]] = []
    errors: list[str] = []


class Environment(Event, frozen=True, kw_only=True, tag="environment"):
    """Where and with what a run ran, captured once at its start (``vrx_core.capture``).

    ``python``: ``executable``, ``version``, ``implementation``; ``host``: ``hostname``,
    ``platform``, ``machine``, ``cpu_count``, ``memory_bytes``, ``user``; ``packages``: the
    version of every installed distribution; ``env_vars``: a fixed allowlist (never secrets);
    ``torch``: None when the process had not imported torch.
    """

    git: GitInfo
    python: dict[str, JSONValue]
    host: dict[str, JSONValue]
    cwd: str
    packages: dict[str, str] = {}
    env_vars: dict[str, str] = {}
    torch: TorchInfo | None = None


class Config(Event, frozen=True, kw_only=True, tag="config"):
    """The run's configuration: ``composed`` as written (``${...}`` interpolations kept) and
    ``resolved`` (none left). ``source`` is the file it was loaded from, if any."""

    composed: dict[str, JSONValue]
    resolved: dict[str, JSONValue]
    source: str | None = None


class RunLayout(Event, frozen=True, kw_only=True, tag="layout"):
    """Where the run was placed: ``style`` ``rvinci`` (``runs/<project>/<stamp>_<git_hash>/``) or
    ``mgr`` (``artifacts/<kind>/<topic>/<run_id>/``); ``run_id`` is the directory's name."""

    style: Literal["rvinci", "mgr"]
    run_id: str
    project: str | None = None
    kind: str | None = None
    topic: str | None = None


class UnknownEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A line whose kind is not registered (newer writer, or a plugin that is not installed).

    It is kept and passed along with its raw fields, never dropped; readers report a count per kind.
    """

    seq: int
    t: float
    type: str
    v: int
    data: dict[str, JSONValue]
    rank: int | None = None


AnyEvent = Event | UnknownEvent

CORE_KINDS: tuple[type[Event], ...] = (
    RunStart,
    RunEnd,
    Sync,
    Resumed,
    Metric,
    Params,
    Log,
    Checkpoint,
    Artifact,
    Source,
    Plan,
    Environment,
    Config,
    RunLayout,
)

_SCALARS = (str, int, float, bool, type(None))


def _is_scalar_type(tp: Any) -> bool:
    if tp in _SCALARS:
        return True
    origin = typing.get_origin(tp)
    if origin is Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_is_scalar_type(a) for a in typing.get_args(tp))
    return False


def _is_float_type(tp: Any) -> bool:
    if tp is float:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return float in typing.get_args(tp)
    return False


@dataclass(frozen=True)
class KindInfo:
    """What the writer and reader need to know about one event kind, computed once."""

    cls: type[Event]
    tag: str
    version: int
    fields: frozenset[str]
    float_fields: tuple[str, ...]
    #: True when every field is a scalar: such events skip the slow depth/finite walk.
    flat: bool
    decoder: msgspec.json.Decoder[Any] = field(repr=False)


def event_tag(ev: AnyEvent) -> str:
    """The kind tag of an event (``metric``, ``triage.frame``, or an unknown kind's stored type)."""
    return ev.type if isinstance(ev, UnknownEvent) else str(type(ev).__struct_config__.tag)


def kind_tag(cls: type[Event]) -> str:
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str) or tag == cls.__name__:
        raise TypeError(f"event kind {cls.__qualname__} must set an explicit snake_case tag (tag='...')")
    return tag


class EventRegistry:
    """The set of known kinds; the log decoder and ``vrx ingest`` are built from it.

    Plugins add kinds through the ``vrx_event_kinds`` hook; nothing here is a closed list.
    """

    def __init__(self, kinds: Iterable[type[Event]] = ()) -> None:
        self._kinds: dict[str, KindInfo] = {}
        self._by_cls: dict[type[Event], KindInfo] = {}
        self.upcasters = Upcasters()
        for cls in kinds:
            self.register(cls)

    def register(self, cls: type[Event]) -> KindInfo:
        """Register ``cls``; re-registering the same class is a no-op, a clashing tag an error."""
        if not (isinstance(cls, type) and issubclass(cls, Event)):
            raise TypeError(f"{cls!r} is not a vrx_core.events.Event subclass")
        tag = kind_tag(cls)
        if not _TAG_RE.match(tag):
            raise TypeError(f"event kind tag {tag!r} must be snake_case (dots allowed as namespaces)")
        known = self._kinds.get(tag)
        if known is not None:
            if known.cls is cls:
                return known
            raise TypeError(f"event kind {tag!r} is registered twice: {known.cls!r} and {cls!r}")
        hints = typing.get_type_hints(cls)
        names = [f for f in cls.__struct_fields__ if f not in ("seq", "t", "rank")]
        clash = RESERVED_KEYS.intersection(names)
        if clash:
            raise TypeError(f"event kind {tag!r} uses reserved field name(s) {sorted(clash)}")
        info = KindInfo(
            cls=cls,
            tag=tag,
            version=int(cls.__vrx_version__),
            fields=frozenset(names),
            float_fields=tuple(n for n in names if _is_float_type(hints[n])),
            flat=all(_is_scalar_type(hints[n]) for n in names),
            # Lax decoding accepts the "NaN"/"Infinity"/"-Infinity" strings the writer uses for
            # non-finite floats; every line it sees has already passed its CRC.
            decoder=msgspec.json.Decoder(cls, strict=False),
        )
        self._kinds[tag] = info
        self._by_cls[cls] = info
        return info

    def add_upcaster(self, kind: str, from_version: int, fn: Upcaster) -> None:
        """Register the step that lifts stored ``kind`` events from ``from_version`` to the next."""
        self.upcasters.add(kind, from_version, fn)

    def get(self, tag: str) -> KindInfo | None:
        return self._kinds.get(tag)

    def info_for(self, cls: type[Event]) -> KindInfo:
        info = self._by_cls.get(cls)
        if info is None:
            return self.register(cls)
        return info

    def __contains__(self, tag: object) -> bool:
        return tag in self._kinds

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._kinds.values())

    def tags(self) -> list[str]:
        return sorted(self._kinds)

    def copy(self) -> EventRegistry:
        new = EventRegistry()
        new._kinds = dict(self._kinds)
        new._by_cls = dict(self._by_cls)
        new.upcasters = self.upcasters.copy()
        return new


def core_registry() -> EventRegistry:
    """A fresh registry holding only the core kinds."""
    return EventRegistry(CORE_KINDS)


#: The process-wide registry: core kinds plus every kind that loaded plugins registered.
registry = core_registry()

__all__ = [
    "CORE_KINDS",
    "RESERVED_KEYS",
    "WRITER_KINDS",
    "AnyEvent",
    "Artifact",
    "Checkpoint",
    "Config",
    "Environment",
    "Event",
    "EventRegistry",
    "GitInfo",
    "KindInfo",
    "Log",
    "Metric",
    "Params",
    "Plan",
    "Resumed",
    "RunEnd",
    "RunLayout",
    "RunStart",
    "Sync",
    "TorchInfo",
    "UnknownEvent",
    "WriterInfo",
    "core_registry",
    "registry",
]
