"""Scenario files (labops ``scenario.json``): loading, full validation, the sim config.

Why stricter than the original validator: labops ignored unknown keys and accepted ``30.0`` as an
integer, so a typo such as ``"jiter_us"`` silently ran a fault-free scenario. Here every unknown
key is an issue, integers must be JSON integers (never bools or floats), and integer knobs are
bounded by the C++ types that consume them (``u32`` knobs, ``u64`` seed). Messages follow the
labops wording (``is required``, ``must be a positive integer``, ``must be in range [0,100]``)
keyed by dotted paths with ``[i]`` for array items (``oaat.variables[0].path``).

The schema is a declarative tree (``_ObjectSpec`` / ``_ArraySpec`` / leaf checks). The same tree
lists the leaf fields that ``oaat.variables[].path`` may target and validates each OAAT value with
that leaf's own check, so the two can never drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from .sim import DEFAULT_DURATION_MS, DEFAULT_FPS, DEFAULT_SEED, SimConfig

U32_MAX: Final = (1 << 32) - 1
U64_MAX: Final = (1 << 64) - 1
I64_MAX: Final = (1 << 63) - 1
MAX_SCENARIO_BYTES: Final = 16 * 1024 * 1024
ROOT_PATH: Final = "(root)"

_SLUG = re.compile(r"[a-z0-9_-]+")
_SCHEMA_VERSION = re.compile(r"1\.(0|[1-9][0-9]*)")
_DOTTED = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")

TRIGGER_MODES: Final = ("free_run", "software", "hardware")


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation problem: ``path`` is dotted (``camera.roi.width``), ``message`` is a phrase."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ScenarioError(Exception):
    """A scenario file that cannot be used; ``str()`` names the file (and line/column for JSON)."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, column: int | None = None
    ) -> None:
        self.path = path
        self.message = message
        self.line = line
        self.column = column
        where = path if line is None else f"{path}:{line}:{column}"
        super().__init__(f"{where}: {message}")


class ScenarioInvalidError(ScenarioError):
    """A well-formed JSON scenario that fails schema validation; carries every issue."""

    def __init__(self, path: str, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        lines = "".join(f"\n  - {issue}" for issue in self.issues)
        super().__init__(path, f"invalid scenario{lines}")


def json_type(value: object) -> str:
    """JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# --------------------------------------------------------------------------------------------
# Leaf checks: each returns None when the value is fine, else the issue message.

Check = Callable[[object], str | None]


def _is_int(value: object) -> TypeGuard[int]:
    """JSON integers only: ``True`` is an int in Python but a boolean in JSON."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[int | float]:
    """Finite JSON numbers (ints or floats), never booleans."""
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _int_check(low: int, high: int, message: str) -> Check:
    """Integer in ``[low, high]``; non-integers get ``message``, too-large values an upper bound."""

    def check(value: object) -> str | None:
        if not _is_int(value) or value < low:
            return message
        if value > high:
            return f"must be at most {high}"
        return None

    return check


def _percent_int(value: object) -> str | None:
    if not _is_int(value):
        return "must be an integer in range [0,100]"
    return None if 0 <= value <= 100 else "must be in range [0,100]"


def _number(value: object) -> str | None:
    return None if _is_number(value) else "must be a finite number"


def _non_negative_number(value: object) -> str | None:
    return None if _is_number(value) and value >= 0 else "must be a non-negative number"


def _percent_number(value: object) -> str | None:
    if not (_is_number(value) and value >= 0):
        return "must be a non-negative number"
    return None if value <= 100 else "must be in range [0,100]"


def _string(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _non_empty_string(value: object) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be a boolean"


def _slug(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return None if _SLUG.fullmatch(value) else "must be a lowercase slug matching [a-z0-9_-]+"


def _schema_version(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return None if _SCHEMA_VERSION.fullmatch(value) else 'must be "1.<minor>" (supported major version is 1)'


def _one_of(*choices: str) -> Check:
    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        return None if value in choices else f"must be one of: {', '.join(choices)}"

    return check


def _dotted_path(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    return None if _DOTTED.fullmatch(value) else "must be a dotted field path such as camera.fps"


def _non_empty_array(value: object) -> str | None:
    return None if isinstance(value, list) and value else "must be a non-empty array"


_POSITIVE_U32 = _int_check(1, U32_MAX, "must be a positive integer")
_POSITIVE_U64 = _int_check(1, U64_MAX, "must be a positive integer")
_NON_NEGATIVE_U32 = _int_check(0, U32_MAX, "must be a non-negative integer")
_NON_NEGATIVE_U64 = _int_check(0, U64_MAX, "must be a non-negative integer")
_DURATION_MS = _int_check(1, I64_MAX, "must be a positive integer (milliseconds)")


# --------------------------------------------------------------------------------------------
# Schema tree


@dataclass(frozen=True, slots=True)
class _ArraySpec:
    item: Check | _ObjectSpec


@dataclass(frozen=True, slots=True)
class _ObjectSpec:
    fields: Mapping[str, Check | _ObjectSpec | _ArraySpec]
    required: frozenset[str] = field(default_factory=frozenset)


_ROI = _ObjectSpec(
    {
        "x": _NON_NEGATIVE_U32,
        "y": _NON_NEGATIVE_U32,
        "width": _POSITIVE_U32,
        "height": _POSITIVE_U32,
    },
    required=frozenset({"x", "y", "width", "height"}),
)
_NETWORK = _ObjectSpec(
    {
        "packet_size_bytes": _POSITIVE_U32,
        "inter_packet_delay_us": _NON_NEGATIVE_U32,
    }
)
_CAMERA = _ObjectSpec(
    {
        "device_id": _non_empty_string,
        "pixel_format": _non_empty_string,
        "width": _POSITIVE_U32,
        "height": _POSITIVE_U32,
        "fps": _POSITIVE_U32,
        "exposure_us": _NON_NEGATIVE_U64,
        "gain_db": _number,
        "trigger_mode": _one_of(*TRIGGER_MODES),
        "roi": _ROI,
        "network": _NETWORK,
    }
)
_SIM_FAULTS = _ObjectSpec(
    {
        "seed": _NON_NEGATIVE_U64,
        "jitter_us": _NON_NEGATIVE_U32,
        "drop_every_n": _NON_NEGATIVE_U32,
        "drop_percent": _percent_int,
        "burst_drop": _NON_NEGATIVE_U32,
        "reorder": _NON_NEGATIVE_U32,
        "disconnect_at_ms": _NON_NEGATIVE_U64,
        "disconnect_duration_ms": _NON_NEGATIVE_U64,
    }
)
_THRESHOLDS = _ObjectSpec(
    {
        "min_avg_fps": _non_negative_number,
        "max_drop_rate_percent": _percent_number,
        "max_inter_frame_interval_p95_us": _non_negative_number,
        "max_inter_frame_jitter_p95_us": _non_negative_number,
        "max_disconnect_count": _NON_NEGATIVE_U64,
    }
)
_OAAT_VARIABLE = _ObjectSpec(
    {
        "path": _dotted_path,
        "values": _non_empty_array,
        "mode": _one_of("replace"),
    },
    required=frozenset({"path", "values"}),
)
_OAAT = _ObjectSpec(
    {
        "enabled": _boolean,
        "variables": _ArraySpec(_OAAT_VARIABLE),
        "max_trials": _POSITIVE_U64,
        "stop_on_first_failure": _boolean,
    },
    required=frozenset({"enabled"}),
)
_DURATION = _ObjectSpec({"duration_ms": _DURATION_MS}, required=frozenset({"duration_ms"}))
SCENARIO_SCHEMA: Final = _ObjectSpec(
    {
        "schema_version": _schema_version,
        "scenario_id": _slug,
        "description": _string,
        "tags": _ArraySpec(_non_empty_string),
        "duration": _DURATION,
        "camera": _CAMERA,
        "sim_faults": _SIM_FAULTS,
        "thresholds": _THRESHOLDS,
        "oaat": _OAAT,
    },
    required=frozenset({"schema_version", "scenario_id", "duration", "camera", "thresholds"}),
)
_OAAT_TARGET_SECTIONS: Final = ("duration", "camera", "sim_faults", "thresholds")


def _leaf_checks(spec: _ObjectSpec, prefix: str) -> Iterator[tuple[str, Check]]:
    for key, child in spec.fields.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(child, _ObjectSpec):
            yield from _leaf_checks(child, path)
        elif not isinstance(child, _ArraySpec):
            yield path, child


OAAT_TARGETS: Final[Mapping[str, Check]] = {
    path: check
    for section in _OAAT_TARGET_SECTIONS
    for path, check in _leaf_checks(_ObjectSpec({section: SCENARIO_SCHEMA.fields[section]}), "")
}
"""Leaf fields an OAAT variable may vary, with the check each candidate value must pass."""


# --------------------------------------------------------------------------------------------
# Validation


def validate_scenario(doc: object) -> list[Issue]:
    """Every schema issue of a parsed scenario, in schema order; an empty list means valid."""
    if not isinstance(doc, dict):
        return [Issue(ROOT_PATH, "must be an object")]
    issues: list[Issue] = []
    _walk_object(doc, SCENARIO_SCHEMA, "", issues)
    _check_thresholds_present(doc, issues)
    _check_roi_inside_sensor(doc, issues)
    _check_oaat(doc, issues)
    return issues


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _walk(value: object, spec: Check | _ObjectSpec | _ArraySpec, path: str, issues: list[Issue]) -> None:
    if isinstance(spec, _ObjectSpec):
        if isinstance(value, dict):
            _walk_object(value, spec, path, issues)
        else:
            issues.append(Issue(path, "must be an object"))
    elif isinstance(spec, _ArraySpec):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _walk(item, spec.item, f"{path}[{index}]", issues)
        else:
            issues.append(Issue(path, "must be an array"))
    else:
        message = spec(value)
        if message is not None:
            issues.append(Issue(path, message))


def _walk_object(obj: dict[str, Any], spec: _ObjectSpec, prefix: str, issues: list[Issue]) -> None:
    for key, child in spec.fields.items():
        path = _join(prefix, key)
        if key in obj:
            _walk(obj[key], child, path, issues)
        elif key in spec.required:
            issues.append(Issue(path, "is required"))
    for key in obj:
        if key not in spec.fields:
            issues.append(Issue(_join(prefix, key), "is not a known field"))


def scenario_section(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}


def _check_thresholds_present(doc: Mapping[str, Any], issues: list[Issue]) -> None:
    thresholds = doc.get("thresholds")
    if isinstance(thresholds, dict) and not any(key in _THRESHOLDS.fields for key in thresholds):
        issues.append(Issue("thresholds", "must include at least one threshold (e.g. max_drop_rate_percent)"))


def _check_roi_inside_sensor(doc: Mapping[str, Any], issues: list[Issue]) -> None:
    """An ROI must fit the sensor when both are given: a camera would reject it at apply time."""
    camera = scenario_section(doc, "camera")
    roi = scenario_section(camera, "roi")
    for offset_key, size_key in (("x", "width"), ("y", "height")):
        offset, size, sensor = roi.get(offset_key), roi.get(size_key), camera.get(size_key)
        if not (_is_int(offset) and _is_int(size) and _is_int(sensor)):
            continue
        if offset >= 0 and size > 0 and sensor > 0 and offset + size > sensor:
            issues.append(
                Issue(f"camera.roi.{size_key}", f"roi {offset_key} + {size_key} must be <= camera.{size_key}")
            )


def _check_oaat(doc: Mapping[str, Any], issues: list[Issue]) -> None:
    oaat = doc.get("oaat")
    if not isinstance(oaat, dict):
        return
    variables = oaat.get("variables")
    if oaat.get("enabled") is True and not (isinstance(variables, list) and variables):
        issues.append(Issue("oaat.variables", "must contain at least one variable when oaat.enabled is true"))
    if not isinstance(variables, list):
        return
    for index, variable in enumerate(variables):
        if isinstance(variable, dict):
            _check_oaat_variable(variable, f"oaat.variables[{index}]", issues)


def _check_oaat_variable(variable: Mapping[str, Any], base: str, issues: list[Issue]) -> None:
    """The target must be a known leaf and every candidate value must be valid for it."""
    target = variable.get("path")
    if not isinstance(target, str) or _dotted_path(target) is not None:
        return
    check = OAAT_TARGETS.get(target)
    if check is None:
        issues.append(Issue(f"{base}.path", "must name a scenario field such as camera.fps"))
        return
    values = variable.get("values")
    if isinstance(values, list):
        for index, value in enumerate(values):
            message = check(value)
            if message is not None:
                issues.append(Issue(f"{base}.values[{index}]", f"{message} (for {target})"))


# --------------------------------------------------------------------------------------------
# Derived configuration


def require_valid(doc: Mapping[str, Any], source: str) -> None:
    issues = validate_scenario(doc)
    if issues:
        raise ScenarioInvalidError(source, issues)


def sim_config_from_scenario(doc: Mapping[str, Any], *, source: str = "<scenario>") -> SimConfig:
    """The simulated camera config of a scenario (validated first; raises ScenarioInvalidError).

    ``frame_size_bytes`` keeps its default: the schema has no field for it (the original run
    only picked it up from a raw text scan).
    """
    require_valid(doc, source)
    camera = scenario_section(doc, "camera")
    faults = scenario_section(doc, "sim_faults")
    return SimConfig(
        fps=camera.get("fps", DEFAULT_FPS),
        jitter_us=faults.get("jitter_us", 0),
        seed=faults.get("seed", DEFAULT_SEED),
        drop_every_n=faults.get("drop_every_n", 0),
        drop_percent=faults.get("drop_percent", 0),
        burst_drop=faults.get("burst_drop", 0),
        reorder=faults.get("reorder", 0),
        duration_ms=scenario_section(doc, "duration").get("duration_ms", DEFAULT_DURATION_MS),
    )
