"""Reading a scenario file: the labops path preflight, strict JSON (UTF-8, no NaN, no duplicate keys)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from .scenario import MAX_SCENARIO_BYTES, ScenarioError, json_type


def load_scenario(path: str | os.PathLike[str]) -> tuple[bytes, dict[str, Any]]:
    """Read and parse a scenario file after the labops path preflight; no schema validation.

    Returns the raw bytes too, because bundles keep a byte copy of the scenario.
    """
    name = os.fspath(path)
    _preflight(name)
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        raise ScenarioError(name, f"cannot be read: {exc.strerror or exc}") from exc
    return raw, parse_scenario(raw, source=name)


def _preflight(name: str) -> None:
    """Existence, regular file, ``.json`` extension and size checks, each with its own message."""
    try:
        info = os.stat(name)
    except FileNotFoundError:
        raise ScenarioError(name, "does not exist") from None
    except OSError as exc:
        raise ScenarioError(name, f"cannot be accessed: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ScenarioError(name, "is not a regular file")
    if not name.endswith(".json"):
        raise ScenarioError(name, "must have a .json extension")
    if info.st_size == 0:
        raise ScenarioError(name, "is empty")
    if info.st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(name, f"is larger than {MAX_SCENARIO_BYTES} bytes")


def parse_scenario(raw: bytes, *, source: str = "<scenario>") -> dict[str, Any]:
    """Parse scenario bytes into a dict: strict UTF-8, no NaN/Infinity, no duplicate keys."""
    if not raw.strip():
        raise ScenarioError(source, "is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, f"is not valid UTF-8 (byte offset {exc.start})") from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        near = text.splitlines()[exc.lineno - 1][max(0, exc.colno - 21) : exc.colno + 20] if text else ""
        message = f"invalid JSON: {exc.msg} near {near.strip()!r}"
        raise ScenarioError(source, message, line=exc.lineno, column=exc.colno) from None
    except _JsonContentError as exc:
        raise ScenarioError(source, f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(source, f"top-level JSON value must be an object, got {json_type(doc)}")
    return doc


class _JsonContentError(ValueError):
    """Raised from json hooks for input that is syntactically JSON but not acceptable."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate keys are ambiguous (json.loads keeps the last); refuse them."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _JsonContentError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; Python accepts them by default."""
    raise _JsonContentError(f"non-standard constant {name}")
