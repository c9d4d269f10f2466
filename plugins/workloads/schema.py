"""workload_schema_v1: strict validation, the canonical form and the stable ``workload_id``.

The contract is VRAXION's ``workload_schema_v1`` (docs/workloads.md). Its reference tool stopped at
the first problem; here :func:`validate_spec` walks the whole spec and reports every problem with a
JSON path (``$.ant_spec.ring_len``), so a hand-written spec can be fixed in one pass. Accepting
exactly what the reference accepts matters more than anything else here: the id of a spec is
shared with runs recorded by the original tool, so the rules (no coercion, no trimming, ``bool`` is
not an int, ``name``/``notes`` of any JSON type allowed and ignored) are kept as they were.

Stdlib only, so specs can be checked and ids computed on machines without torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

SCHEMA_VERSION: Final = "workload_schema_v1"
ID_PREFIX: Final = "wl_v1_"

PTR_DTYPES: Final = ("fp64", "fp32", "fp16", "bf16")
PRECISIONS: Final = ("fp64", "fp32", "fp16", "bf16", "amp")

#: Required keys in schema order, each with its minimum (ints) or its allowed values (enums).
ANT_KEYS: Final[Mapping[str, int | tuple[str, ...]]] = {
    "ring_len": 1,
    "slot_dim": 1,
    "ptr_dtype": PTR_DTYPES,
    "precision": PRECISIONS,
}
COLONY_KEYS: Final[Mapping[str, int | tuple[str, ...]]] = {
    "seq_len": 1,
    "synth_len": 1,
    "batch_size": 1,
    "ptr_update_every": 1,
    "state_loop_samples": 0,
}
#: Allowed at every level and excluded from the id; the reference never checked their type.
OPTIONAL_KEYS: Final = ("name", "notes")
TOP_KEYS: Final = ("schema_version", "ant_spec", "colony_spec")

_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHOWN_CHARS = 60


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One reason a spec is invalid: ``path`` is a JSON path (``$.colony_spec.seq_len``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class WorkloadSpecError(ValueError):
    """A spec that is not valid workload_schema_v1; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems: list[SpecProblem] = list(problems)
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            text = f"{len(self.problems)} problems: " + "; ".join(map(str, self.problems))
        super().__init__(f"invalid workload spec: {text}")


def describe(value: object) -> str:
    """How a message names a decoded value: ``the string "8192"``, ``the boolean true``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=True)
        return f"the string {_shorten(shown)}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}" if math.isfinite(value) else f"the non-finite number {value!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a Python {type(value).__name__}"


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def child_path(parent: str, key: object) -> str:
    """``$.ant_spec`` for plain keys; odd keys are quoted so the path stays unambiguous."""
    if isinstance(key, str) and _SIMPLE_KEY.fullmatch(key):
        return f"{parent}.{key}"
    return f"{parent}[{_shorten(json.dumps(str(key), ensure_ascii=True))}]"


def _check_int(value: object, minimum: int) -> str | None:
    # bool is an int subclass and 8.0 == 8; neither is an integer in the contract.
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected an integer >= {minimum}, got {describe(value)}"
    if value < minimum:
        return f"expected an integer >= {minimum}, got {value}"
    return None


def _check_enum(value: object, allowed: tuple[str, ...]) -> str | None:
    if isinstance(value, str) and value in allowed:
        return None
    choices = ", ".join(json.dumps(a) for a in allowed)
    return f"expected one of {choices}, got {describe(value)}"


def _unknown_keys(obj: Mapping[Any, Any], path: str, known: Sequence[str]) -> list[SpecProblem]:
    allowed = (*known, *OPTIONAL_KEYS)
    unknown = sorted((k for k in obj if k not in allowed), key=str)
    hint = f"unknown key (allowed: {', '.join(allowed)})"
    return [SpecProblem(child_path(path, k), hint) for k in unknown]


def _validate_section(
    value: object, path: str, rules: Mapping[str, int | tuple[str, ...]]
) -> list[SpecProblem]:
    if not isinstance(value, Mapping):
        return [SpecProblem(path, f"expected an object, got {describe(value)}")]
    problems: list[SpecProblem] = []
    for key, rule in rules.items():
        where = child_path(path, key)
        if key not in value:
            problems.append(SpecProblem(where, "missing required key"))
            continue
        message = _check_int(value[key], rule) if isinstance(rule, int) else _check_enum(value[key], rule)
        if message is not None:
            problems.append(SpecProblem(where, message))
    return problems + _unknown_keys(value, path, tuple(rules))


def _validate_version(spec: Mapping[Any, Any]) -> list[SpecProblem]:
    if "schema_version" not in spec:
        return [SpecProblem("$.schema_version", "missing required key")]
    version = spec["schema_version"]
    if version == SCHEMA_VERSION and isinstance(version, str):
        return []
    return [SpecProblem("$.schema_version", f'expected "{SCHEMA_VERSION}", got {describe(version)}')]


def validate_spec(obj: object) -> list[SpecProblem]:
    """Every problem of a decoded workload spec, in document order; empty when it is valid."""
    if not isinstance(obj, Mapping):
        return [SpecProblem("$", f"expected a JSON object (a workload spec), got {describe(obj)}")]
    problems = _validate_version(obj)
    for key, rules in (("ant_spec", ANT_KEYS), ("colony_spec", COLONY_KEYS)):
        if key not in obj:
            problems.append(SpecProblem(f"$.{key}", "missing required key"))
        else:
            problems.extend(_validate_section(obj[key], f"$.{key}", rules))
    return problems + _unknown_keys(obj, "$", TOP_KEYS)


def _canonical_section(
    section: Mapping[str, Any], rules: Mapping[str, int | tuple[str, ...]]
) -> dict[str, Any]:
    # Plain int/str copies: an int or str subclass must not change how the id is serialized.
    return {
        key: int(section[key]) if isinstance(rule, int) else str(section[key]) for key, rule in rules.items()
    }


def canonicalize_spec(obj: object) -> dict[str, Any]:
    """The id-bearing part of a valid spec: version plus the 4 ant and 5 colony keys, nothing else.

    Raises :class:`WorkloadSpecError` with every problem when ``obj`` is not valid.
    """
    problems = validate_spec(obj)
    if problems:
        raise WorkloadSpecError(problems)
    assert isinstance(obj, Mapping)  # validate_spec guarantees it; this narrows the type
    return {
        "schema_version": SCHEMA_VERSION,
        "ant_spec": _canonical_section(obj["ant_spec"], ANT_KEYS),
        "colony_spec": _canonical_section(obj["colony_spec"], COLONY_KEYS),
    }


def canonical_json(canon: Mapping[str, Any]) -> str:
    """The exact text that is hashed: sorted keys, no spaces, ASCII only."""
    return json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def workload_id(obj: object) -> str:
    """``wl_v1_`` + the first 12 hex digits of SHA-256 over the canonical JSON of ``obj``.

    ``obj`` is validated and canonicalized first (raises :class:`WorkloadSpecError`), so a full spec
    with ``name``/``notes`` and its canonical form have the same id.
    """
    digest = hashlib.sha256(canonical_json(canonicalize_spec(obj)).encode("utf-8")).hexdigest()
    return ID_PREFIX + digest[:12]
