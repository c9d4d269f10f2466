"""``vrx ingest``: record events given as JSON lines, so programs in any language can write a run.

Each input line is one object with a ``type`` and the kind's fields, for example
``{"type":"metric","name":"loss","value":0.25,"step":3}``. Lines are validated strictly against the
registered kind (no coercion, no unknown fields); a bad line is reported with its line number and
nothing of it is written; good lines are recorded as they arrive, so a live pipe works.
Non-finite floats are given as the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import msgspec

from vrx_core.codec import is_invalid_utf8, parse_nonfinite
from vrx_core.errors import InvalidEvent
from vrx_core.events import RESERVED_KEYS, WRITER_KINDS, Event, EventRegistry, Log
from vrx_core.log.framing import MAX_LINE_BYTES
from vrx_core.log.writer import Recorder

_WRITER_OWNED = RESERVED_KEYS - {"type"}


def parse_line(raw: bytes, registry: EventRegistry, *, source_time: bool = False) -> Event:
    """Validate one ingest line and build its event; raise InvalidEvent naming the field.

    ``source_time`` accepts a ``t`` (Unix seconds) and returns it as the event's ``t``; without
    one the event's ``t`` stays 0.0 (recorded at the time of ingestion).
    """
    try:
        data = msgspec.json.decode(raw)
    except RecursionError:
        raise InvalidEvent("JSON nested too deeply") from None
    except (UnicodeDecodeError, msgspec.DecodeError) as exc:
        if is_invalid_utf8(exc):
            raise InvalidEvent("invalid UTF-8") from None
        raise InvalidEvent(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"expected a JSON object, got {type(data).__name__}")
    tag = data.get("type")
    if not isinstance(tag, str):
        raise InvalidEvent("missing `type` (the event kind)", field="$.type")
    if tag in WRITER_KINDS:
        raise InvalidEvent(f"{tag!r} events are written by the recorder itself", field="$.type")
    info = registry.get(tag)
    if info is None:
        known = ", ".join(t for t in registry.tags() if t not in WRITER_KINDS)
        raise InvalidEvent(f"unknown event kind {tag!r} (known: {known})", field="$.type")
    t = data.pop("t", None) if source_time else None
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < 1e11):
        raise InvalidEvent("`t` must be Unix seconds (a non-negative number)", field="$.t")
    for key in data:
        if key in _WRITER_OWNED:
            raise InvalidEvent(f"`{key}` is set by the writer; remove it", field=f"$.{key}")
        if key != "type" and key not in info.fields:
            raise InvalidEvent(f"{tag}: unknown field {key!r}", field=f"$.{key}")
    for name in info.float_fields:
        value = data.get(name)
        special = parse_nonfinite(value) if isinstance(value, str) else None
        if special is not None:
            data[name] = special
    try:
        event: Event = msgspec.convert(data, info.cls, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"{tag}: {exc}") from None
    return event if t is None else msgspec.structs.replace(event, t=float(t))


def _lines(stream: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes) per line; None for a line over ``limit`` (read and dropped)."""
    n = 0
    while True:
        raw = stream.readline(limit + 2)
        if not raw:
            return
        n += 1
        if len(raw) > limit + 1 or (not raw.endswith(b"\n") and len(raw) == limit + 2):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(1 << 16)
            yield n, None
            continue
        yield n, raw.rstrip(b"\r\n")


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)


def ingest(
    rec: Recorder,
    stream: IO[bytes],
    source: str,
    *,
    on_reject: Any = None,
    limit: int = MAX_LINE_BYTES,
    source_time: bool = False,
) -> IngestResult:
    """Record every valid line of ``stream``; collect ``source:line: message`` for bad ones.

    ``source_time`` keeps each line's ``t`` as the event's time; a ``log`` event recorded first
    says so, so a reader knows these times are the source's and not the writer's.
    """
    result = IngestResult()
    if source_time:
        rec.emit(
            Log(
                level="info",
                logger="vrx.ingest",
                msg="the events ingested next carry the times their source gave them",
                fields={"source": source, "times": "source"},
            )
        )
    for n, raw in _lines(stream, limit):
        if raw is not None and not raw.strip():
            continue
        try:
            if raw is None:
                raise InvalidEvent(f"line exceeds the {limit}-byte limit")
            event = parse_line(raw, rec.registry, source_time=source_time)
            if event.t:
                rec.emit_at(event, event.t)
            else:
                rec.emit(event)
        except InvalidEvent as exc:
            exc.path, exc.line = source, n
            msg = exc.render()
            result.rejected.append(msg)
            if on_reject is not None:
                on_reject(msg)
            continue
        result.accepted += 1
    return result
