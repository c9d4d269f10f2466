"""Reader for bundles written by the original labops tool (``<out>/<run_id>/``, ORIGINS 4.4).

Why: recorded labops runs should be importable, so their frames can be re-triaged with the same
metrics code. Every error names ``file:line: field: problem``.

What the old format cannot carry, and therefore what an import cannot recover:

* Timestamps: ``ts_utc`` has millisecond resolution. Frames are imported at ``ms * 10**6`` ns,
  so intervals and jitter are quantised to 1000 us, sub-millisecond jitter is invisible, and
  metrics recomputed from events.jsonl generally differ from the metrics.csv the tool computed
  from nanosecond timestamps (the rolling window edges and p95 can move too).
* The stream start instant: STREAM_STARTED carries a wall-clock ms time, not the sim's exact
  ``stream_start``, so a simulated run cannot be re-generated bit for bit from the bundle alone.
* Types: every payload value is a string; numbers and booleans are re-parsed and validated here.
* Generation order: frame lines are in returned (possibly reordered) order; only ``frame_id``
  tells the generation order.
* run.json ``config.scenario_id`` is the scenario *file name stem*, not the scenario's own id.
* Sizes of dropped frames are always 0; the configured frame size is only in CONFIG_APPLIED.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sim import Frame

EVENTS_FILE = "events.jsonl"
RUN_FILE = "run.json"
SCENARIO_FILE = "scenario.json"

CONFIG_APPLIED = "CONFIG_APPLIED"
STREAM_STARTED = "STREAM_STARTED"
FRAME_RECEIVED = "FRAME_RECEIVED"
FRAME_DROPPED = "FRAME_DROPPED"
STREAM_STOPPED = "STREAM_STOPPED"

_TS_UTC = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")
_UINT = re.compile(r"0|[1-9][0-9]*")
_EVENT_KEYS = frozenset({"ts_utc", "type", "payload"})
_U32_MAX = (1 << 32) - 1
_U64_MAX = (1 << 64) - 1
NS_PER_MS = 1_000_000


class LabopsFormatError(Exception):
    """A labops bundle file that does not match the format; ``str()`` is ``file:line: field: what``."""

    def __init__(self, path: str, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = path if line is None else f"{path}:{line}"
        prefix = f"{where}: {field}" if field else where
        super().__init__(f"{prefix}: {message}")


@dataclass(frozen=True, slots=True)
class LabopsEvent:
    """One events.jsonl line, decoded but not interpreted."""

    line: int
    ts_ns: int
    type: str
    payload: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """The STREAM_STARTED event."""

    ts_ns: int
    run_id: str
    scenario_id: str
    backend: str
    duration_ms: int
    fps: int
    seed: int


@dataclass(frozen=True, slots=True)
class StreamStop:
    """The STREAM_STOPPED event's counters."""

    ts_ns: int
    frames_total: int
    frames_received: int
    frames_dropped: int


@dataclass(frozen=True, slots=True)
class LabopsEvents:
    """events.jsonl, interpreted. ``frames`` keep file order (the backend's returned order)."""

    run_id: str | None
    config_params: dict[str, str]  # CONFIG_APPLIED ``param.<key>`` values, prefix stripped
    stream: StreamInfo | None
    stop: StreamStop | None
    frames: list[Frame]
    other_events: list[LabopsEvent] = field(default_factory=list)  # types this reader does not interpret


@dataclass(frozen=True, slots=True)
class LabopsRun:
    """run.json of a labops bundle."""

    run_id: str
    scenario_id: str  # the scenario file name stem
    backend: str
    seed: int
    duration_ms: int
    created_at_ns: int
    started_at_ns: int
    finished_at_ns: int
    real_device: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LabopsBundle:
    """A labops bundle directory; run.json and scenario.json are optional."""

    events: LabopsEvents
    run: LabopsRun | None
    scenario_raw: bytes | None
    scenario: dict[str, Any] | None


# --------------------------------------------------------------------------------------------
# Scalars


def parse_ts_utc(text: str) -> int:
    """Epoch ns of a ``YYYY-MM-DDTHH:MM:SS.mmmZ`` string; raises ValueError on anything else."""
    match = _TS_UTC.fullmatch(text)
    if match is None:
        raise ValueError("must look like YYYY-MM-DDTHH:MM:SS.mmmZ")
    year, month, day, hour, minute, second, millis = (int(g) for g in match.groups())
    try:
        _dt.datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"is not a valid UTC time ({exc})") from None
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return (seconds * 1000 + millis) * NS_PER_MS


def _parse_uint(text: str, high: int) -> int:
    if not _UINT.fullmatch(text):
        raise ValueError(f"must be a decimal unsigned integer, got {text!r}")
    value = int(text)
    if value > high:
        raise ValueError(f"must be at most {high}, got {value}")
    return value


# --------------------------------------------------------------------------------------------
# events.jsonl


class _EventsBuilder:
    """Accumulates interpreted events while checking cross-line consistency."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.run_id: str | None = None
        self.params: dict[str, str] = {}
        self.stream: StreamInfo | None = None
        self.stop: StreamStop | None = None
        self.frames: list[Frame] = []
        self.frame_ids: set[int] = set()
        self.other: list[LabopsEvent] = []

    def error(self, event: LabopsEvent, field_name: str, message: str) -> LabopsFormatError:
        return LabopsFormatError(self.source, message, line=event.line, field=field_name)

    def text(self, event: LabopsEvent, key: str) -> str:
        value = event.payload.get(key)
        if value is None:
            raise self.error(event, f"payload.{key}", "is required")
        return value

    def uint(self, event: LabopsEvent, key: str, high: int = _U64_MAX) -> int:
        try:
            return _parse_uint(self.text(event, key), high)
        except ValueError as exc:
            raise self.error(event, f"payload.{key}", str(exc)) from None

    def check_run_id(self, event: LabopsEvent) -> None:
        run_id = self.text(event, "run_id")
        if self.run_id is None:
            self.run_id = run_id
        elif run_id != self.run_id:
            raise self.error(
                event, "payload.run_id", f"{run_id!r} differs from earlier run_id {self.run_id!r}"
            )

    def add(self, event: LabopsEvent) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is None:
            self.other.append(event)
        else:
            handler(self, event)

    def build(self) -> LabopsEvents:
        return LabopsEvents(self.run_id, self.params, self.stream, self.stop, self.frames, self.other)


def _on_config(builder: _EventsBuilder, event: LabopsEvent) -> None:
    builder.check_run_id(event)
    params = {
        key.removeprefix("param."): value for key, value in event.payload.items() if key.startswith("param.")
    }
    declared = builder.uint(event, "applied_count") if "applied_count" in event.payload else len(params)
    if declared != len(params):
        raise builder.error(
            event, "payload.applied_count", f"says {declared} but {len(params)} params are present"
        )
    builder.params.update(params)


def _on_started(builder: _EventsBuilder, event: LabopsEvent) -> None:
    if builder.stream is not None:
        raise builder.error(event, "type", "second STREAM_STARTED in one run")
    builder.check_run_id(event)
    builder.stream = StreamInfo(
        ts_ns=event.ts_ns,
        run_id=builder.text(event, "run_id"),
        scenario_id=builder.text(event, "scenario_id"),
        backend=builder.text(event, "backend"),
        duration_ms=builder.uint(event, "duration_ms"),
        fps=builder.uint(event, "fps", _U32_MAX),
        seed=builder.uint(event, "seed"),
    )


def _on_frame(builder: _EventsBuilder, event: LabopsEvent) -> None:
    builder.check_run_id(event)
    frame_id = builder.uint(event, "frame_id")
    size = builder.uint(event, "size_bytes", _U32_MAX)
    flag = builder.text(event, "dropped")
    expected = "true" if event.type == FRAME_DROPPED else "false"
    if flag != expected:
        raise builder.error(event, "payload.dropped", f"must be {expected!r} for {event.type}, got {flag!r}")
    if frame_id in builder.frame_ids:
        raise builder.error(event, "payload.frame_id", f"frame {frame_id} appears twice")
    builder.frame_ids.add(frame_id)
    builder.frames.append(Frame(frame_id, event.ts_ns, size, event.type == FRAME_DROPPED))


def _on_stopped(builder: _EventsBuilder, event: LabopsEvent) -> None:
    builder.check_run_id(event)
    stop = StreamStop(
        ts_ns=event.ts_ns,
        frames_total=builder.uint(event, "frames_total"),
        frames_received=builder.uint(event, "frames_received"),
        frames_dropped=builder.uint(event, "frames_dropped"),
    )
    dropped = sum(1 for frame in builder.frames if frame.dropped)
    actual = (len(builder.frames), len(builder.frames) - dropped, dropped)
    declared = (stop.frames_total, stop.frames_received, stop.frames_dropped)
    if declared != actual:
        raise builder.error(
            event,
            "payload",
            f"counters total/received/dropped={declared} do not match the frame events {actual}",
        )
    builder.stop = stop


_HANDLERS = {
    CONFIG_APPLIED: _on_config,
    STREAM_STARTED: _on_started,
    FRAME_RECEIVED: _on_frame,
    FRAME_DROPPED: _on_frame,
    STREAM_STOPPED: _on_stopped,
}


def decode_event_line(text: str, *, source: str, line: int) -> LabopsEvent:
    """One line -> LabopsEvent, checking the ``{"ts_utc","type","payload":{str:str}}`` shape."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabopsFormatError(source, f"invalid JSON at column {exc.colno}: {exc.msg}", line=line) from None
    if not isinstance(obj, dict):
        raise LabopsFormatError(source, "event must be a JSON object", line=line)
    unknown = sorted(set(obj) - _EVENT_KEYS)
    if unknown:
        raise LabopsFormatError(source, "is not a labops event field", line=line, field=unknown[0])
    for key in ("ts_utc", "type", "payload"):
        if key not in obj:
            raise LabopsFormatError(source, "is required", line=line, field=key)
    ts_text, event_type, payload = obj["ts_utc"], obj["type"], obj["payload"]
    if not isinstance(ts_text, str):
        raise LabopsFormatError(source, "must be a string", line=line, field="ts_utc")
    try:
        ts_ns = parse_ts_utc(ts_text)
    except ValueError as exc:
        raise LabopsFormatError(source, str(exc), line=line, field="ts_utc") from None
    if not isinstance(event_type, str) or not event_type:
        raise LabopsFormatError(source, "must be a non-empty string", line=line, field="type")
    if not isinstance(payload, dict):
        raise LabopsFormatError(source, "must be an object", line=line, field="payload")
    for key, value in payload.items():
        if not isinstance(value, str):
            raise LabopsFormatError(
                source, "payload values must be strings", line=line, field=f"payload.{key}"
            )
    return LabopsEvent(line=line, ts_ns=ts_ns, type=event_type, payload=payload)


def parse_events_jsonl(data: bytes, *, source: str = EVENTS_FILE) -> LabopsEvents:
    """Interpret a whole events.jsonl; one trailing newline is expected, blank lines are errors."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabopsFormatError(source, f"is not valid UTF-8 (byte offset {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    builder = _EventsBuilder(source)
    for number, line_text in enumerate(lines, start=1):
        if not line_text.strip():
            raise LabopsFormatError(source, "blank line", line=number)
        builder.add(decode_event_line(line_text, source=source, line=number))
    return builder.build()


def load_events_jsonl(path: str | os.PathLike[str]) -> LabopsEvents:
    """Read and interpret an events.jsonl file."""
    name = os.fspath(path)
    return parse_events_jsonl(_read(name), source=name)


# --------------------------------------------------------------------------------------------
# run.json, scenario.json, whole bundle


def _read(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise LabopsFormatError(name, f"cannot be read: {exc.strerror or exc}") from None


def _json_object(data: bytes, source: str) -> dict[str, Any]:
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LabopsFormatError(source, f"is not valid UTF-8 (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise LabopsFormatError(
            source, f"invalid JSON at column {exc.colno}: {exc.msg}", line=exc.lineno
        ) from None
    if not isinstance(obj, dict):
        raise LabopsFormatError(source, "top-level JSON value must be an object")
    return obj


def _field(obj: Mapping[str, Any], key: str, source: str, prefix: str) -> object:
    value = obj.get(key)
    if value is None:
        raise LabopsFormatError(source, "is required", field=f"{prefix}{key}")
    return value


def _str_field(obj: Mapping[str, Any], key: str, source: str, prefix: str = "") -> str:
    value = _field(obj, key, source, prefix)
    if not isinstance(value, str):
        raise LabopsFormatError(source, "must be a string", field=f"{prefix}{key}")
    return value


def _uint_field(obj: Mapping[str, Any], key: str, source: str, prefix: str = "") -> int:
    value = _field(obj, key, source, prefix)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U64_MAX:
        raise LabopsFormatError(source, "must be an unsigned 64-bit integer", field=f"{prefix}{key}")
    return value


def _object_field(obj: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = _field(obj, key, source, "")
    if not isinstance(value, dict):
        raise LabopsFormatError(source, "must be an object", field=key)
    return value


def _timestamp(obj: Mapping[str, Any], key: str, source: str) -> int:
    text = _str_field(obj, key, source, "timestamps.")
    try:
        return parse_ts_utc(text)
    except ValueError as exc:
        raise LabopsFormatError(source, str(exc), field=f"timestamps.{key}") from None


def parse_run_json(data: bytes, *, source: str = RUN_FILE) -> LabopsRun:
    """Interpret run.json (unknown extra keys are tolerated: later labops versions add some)."""
    obj = _json_object(data, source)
    config = _object_field(obj, "config", source)
    stamps = _object_field(obj, "timestamps", source)
    device = obj.get("real_device")
    if device is not None and not isinstance(device, dict):
        raise LabopsFormatError(source, "must be an object", field="real_device")
    return LabopsRun(
        run_id=_str_field(obj, "run_id", source),
        scenario_id=_str_field(config, "scenario_id", source, "config."),
        backend=_str_field(config, "backend", source, "config."),
        seed=_uint_field(config, "seed", source, "config."),
        duration_ms=_uint_field(config, "duration_ms", source, "config."),
        created_at_ns=_timestamp(stamps, "created_at_utc", source),
        started_at_ns=_timestamp(stamps, "started_at_utc", source),
        finished_at_ns=_timestamp(stamps, "finished_at_utc", source),
        real_device=device,
    )


def load_labops_bundle(bundle_dir: str | os.PathLike[str]) -> LabopsBundle:
    """Read a labops bundle directory: events.jsonl is required, run.json/scenario.json optional.

    scenario.json is parsed as a JSON object but not schema-validated: later labops versions
    added fields (``backend``, ``netem_profile``, ...) that the vrx schema does not know.
    """
    root = Path(bundle_dir)
    events = load_events_jsonl(root / EVENTS_FILE)
    run_path = root / RUN_FILE
    run = parse_run_json(_read(str(run_path)), source=str(run_path)) if run_path.is_file() else None
    scenario_path = root / SCENARIO_FILE
    scenario_raw = _read(str(scenario_path)) if scenario_path.is_file() else None
    scenario = _json_object(scenario_raw, str(scenario_path)) if scenario_raw is not None else None
    if run is not None and events.run_id is not None and run.run_id != events.run_id:
        raise LabopsFormatError(
            str(run_path),
            f"{run.run_id!r} differs from events.jsonl run_id {events.run_id!r}",
            field="run_id",
        )
    return LabopsBundle(events=events, run=run, scenario_raw=scenario_raw, scenario=scenario)
