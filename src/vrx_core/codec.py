"""The one place that decides how numbers JSON cannot spell are written, per output.

JSON has no literal for NaN or the infinities, so each output picks one spelling, here only:

============================================  ===================================================
output                                        non-finite floats
============================================  ===================================================
the log (``events.jsonl``), ``vrx ingest``    the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
  input, recorded structlog fields              (typed float fields round-trip to the float)
streamed JSON (``vrx tail --json``,           the same strings as the log, so a consumer needs one
  ``vrx events --json``, the web view)          rule for both
derived JSON (``metrics.json``,               ``null`` (standard JSON; canonical bytes)
  ``derived.json``, any ``write_json``)
============================================  ===================================================

Derived JSON is canonical: sorted keys, 2-space indent, msgspec's shortest round-trip float
format, and a trailing newline, so a replay gives the same bytes every time.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec

#: How non-finite floats are spelled in the log and in streamed JSON.
NONFINITE: Final = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_FROM_STRING: Final = {text: float(name) for name, text in NONFINITE.items()}

#: How deep ``jsonable`` walks containers before it falls back to ``repr``.
_JSONABLE_DEPTH: Final = 8


def nonfinite_marker(x: float) -> str:
    """The log's spelling of a non-finite float."""
    return NONFINITE["nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")]


def parse_nonfinite(text: str) -> float | None:
    """The float that a log spelling stands for, or None when ``text`` is no such spelling."""
    return _FROM_STRING.get(text)


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its log spelling (dicts and lists too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return nonfinite_marker(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def jsonable(value: Any, depth: int = 0) -> Any:
    """A free-form value made recordable: non-finite floats spelled as in the log, other
    objects as their ``repr`` (the log refuses what its reader could not read back)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else nonfinite_marker(value)
    if depth < _JSONABLE_DEPTH and isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if depth < _JSONABLE_DEPTH and isinstance(value, list | tuple):
        return [jsonable(v, depth + 1) for v in value]
    return repr(value)


_ARRAY_MODULES: Final = ("numpy", "torch")


def plain_number(value: Any) -> Any:
    """A numpy scalar, a 0-d numpy array or a 0-d torch tensor as the Python number it holds;
    anything else unchanged.

    Exact: a float32 becomes the double of the same value (``np.float32(0.1)`` is recorded as
    0.10000000149011612, the shortest repr of that double), an int64 the same int, a bool_ a bool.
    Recognised by the class's module and ``item()``, so neither numpy nor torch is imported here.
    """
    cls = type(value)
    if cls in (int, float, bool, str) or not cls.__module__.startswith(_ARRAY_MODULES):
        return value
    item = getattr(value, "item", None)
    if item is None or tuple(getattr(value, "shape", ())) != ():
        return value
    return item()


def plain(value: Any) -> Any:
    """``value`` with every numpy/torch scalar inside dicts, lists and tuples made a plain number."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return plain_number(value)


def with_plain_numbers(struct: Any) -> Any:
    """``struct`` (a msgspec Struct) with numpy/torch scalars in its fields, at any depth, made
    plain numbers; the same object when no field needed it."""
    changed = {}
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if value is None or type(value) in (str, int, float, bool):
            continue
        new = plain(value)
        if new is not value:
            changed[name] = new
    return msgspec.structs.replace(struct, **changed) if changed else struct


def stream_json(value: Any) -> bytes:
    """One streamed JSON document (no newline); never raises: an unencodable value becomes its repr."""
    try:
        return msgspec.json.encode(json_safe(value))
    except (TypeError, msgspec.EncodeError, UnicodeEncodeError, OverflowError):
        return msgspec.json.encode(repr(value))


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes of a derived file (sorted keys, indent 2, trailing newline)."""
    return msgspec.json.format(msgspec.json.encode(obj, order="sorted"), indent=2) + b"\n"


__all__ = [
    "NONFINITE",
    "canonical_json",
    "json_safe",
    "jsonable",
    "nonfinite_marker",
    "parse_nonfinite",
    "plain",
    "plain_number",
    "stream_json",
    "with_plain_numbers",
]


def is_invalid_utf8(exc: BaseException) -> bool:
    """Whether a JSON decode failed on invalid UTF-8 rather than on the JSON itself.

    msgspec up to 0.22 raised ``UnicodeDecodeError``; 0.23 raises ``DecodeError("Invalid UTF-8
    encoded string")``. Both mean the same to a reader of the log, so both are ``utf8`` problems.
    """
    if isinstance(exc, UnicodeDecodeError):
        return True
    return isinstance(exc, msgspec.DecodeError) and "invalid utf-8" in str(exc).lower()
