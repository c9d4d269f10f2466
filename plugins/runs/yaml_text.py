"""YAML text of JSON data, deterministic and without a YAML library.

``config.yaml`` is derived by replay on machines that may lack OmegaConf and PyYAML, and its bytes
must not change with their versions. JSON data needs a small part of YAML: block mappings and
sequences, and scalars. A string is written plain only when YAML 1.1 and 1.2 both read it back as
that same string; otherwise it is double-quoted with JSON escapes (a JSON string is a valid YAML
double-quoted scalar). ``${...}`` interpolations are quoted, and OmegaConf reads them back intact.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
#: Words some YAML version reads as a bool or null: quoted even though they match _PLAIN.
_RESERVED = frozenset(
    w
    for base in ("y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf")
    for w in (base, base.upper(), base.capitalize())
)


def to_yaml(data: dict[str, Any]) -> str:
    """Block-style YAML of a JSON object (keys in their recorded order), ending in a newline."""
    if not data:
        return "{}\n"
    return "".join(_mapping(data, 0))


def _mapping(data: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for key, value in data.items():
        head = f"{pad}{_scalar(key)}:"
        lines += _nested(head, value, indent)
    return lines


def _sequence(items: list[Any], indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in items:
        lines += _nested(f"{pad}-", item, indent)
    return lines


def _nested(head: str, value: Any, indent: int) -> list[str]:
    if isinstance(value, dict) and value:
        return [head + "\n", *_mapping(value, indent + 2)]
    if isinstance(value, list) and value:
        return [head + "\n", *_sequence(value, indent + 2)]
    return [f"{head} {_scalar(value)}\n"]


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        # YAML 1.1 (PyYAML) reads an exponent float only with a dot: 1e-05 would come back a string.
        return text.replace("e", ".0e", 1) if "e" in text and "." not in text else text
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if _PLAIN.match(text) and text not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


__all__ = ["to_yaml"]
