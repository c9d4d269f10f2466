"""Where specs come from: the shipped OD1 templates, the probe's presets, and spec arguments.

A spec argument follows VRAXION's ``gpu_capacity_probe`` rule so that command lines written for it
keep meaning the same workload: a preset name (trimmed, case-insensitive), else an existing file,
else inline JSON. Template names (``od1_small_v1``) are accepted wherever a preset is, because the
template name is what ``vrx workload list`` shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from .schema import SCHEMA_VERSION, SpecProblem, WorkloadSpecError, canonicalize_spec, describe, workload_id

#: The shipped templates (``templates/<name>.json``), small to stress.
TEMPLATES: Final = ("od1_small_v1", "od1_real_v1", "od1_stress_v1")
#: The probe's preset names and the template each one loads.
PRESETS: Final[Mapping[str, str]] = {
    "od1_canon_small": "od1_small_v1",
    "od1_canon_real": "od1_real_v1",
    "od1_canon_stress": "od1_stress_v1",
}
_SHOWN_CHARS = 60
_TEMPLATE_DIR: Final = resources.files(__name__.rpartition(".")[0]) / "templates"


class SpecLoadError(ValueError):
    """A spec argument that cannot be read or decoded: ``str()`` is one line, ``source: reason``."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def template_name(text: str) -> str | None:
    """The template a preset or template name refers to (trimmed, case-insensitive), else None."""
    key = text.strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    return key if key in TEMPLATES else None


def template_text(name: str) -> str:
    """A shipped template's file content, byte for byte as shipped (``name``: template or preset)."""
    resolved = template_name(name)
    if resolved is None:
        known = ", ".join((*TEMPLATES, *PRESETS))
        raise SpecLoadError(repr(name.strip()), f"unknown template (known: {known})")
    return (_TEMPLATE_DIR / f"{resolved}.json").read_text(encoding="utf-8")


def load_template(name: str) -> dict[str, Any]:
    """A fresh decoded copy of a shipped template; ``name`` is a template or preset name."""
    obj: dict[str, Any] = json.loads(template_text(name))
    return obj


def _label(text: str) -> str:
    # Inline JSON can span lines; an error message must stay on one.
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN_CHARS else flat[: _SHOWN_CHARS - 3] + "..."


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys silently; for a spec that would hide which knob value
    # the id was computed from, so a duplicate is an error here.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {json.dumps(key)}")
        obj[key] = value
    return obj


def _decode(text: str, where: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as exc:
        raise SpecLoadError(
            where, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise SpecLoadError(where, f"invalid spec JSON: {exc}") from None
    except RecursionError:
        raise SpecLoadError(where, "invalid spec JSON: nested too deeply") from None


def _existing_file(text: str) -> Path | None:
    try:
        path = Path(text)
        return path if path.is_file() else None
    except (OSError, ValueError):
        # Inline JSON is rarely a usable path (too long, NUL bytes): it is simply not a file.
        return None


def _read_file(path: Path, label: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecLoadError(label, "not UTF-8 text") from None
    except OSError as exc:
        raise SpecLoadError(label, f"cannot read: {exc.strerror or exc}") from None


def load_spec_arg(text: str) -> object:
    """Decode a spec argument: preset or template name, else an existing JSON file, else inline JSON.

    Returns the decoded JSON value unvalidated (it may be a full spec or an ant/colony subspec).
    Raises :class:`SpecLoadError` (a ``ValueError``) with one line naming the argument and the
    problem, with line and column for JSON syntax errors.
    """
    name = template_name(text)
    if name is not None:
        return load_template(name)
    path = _existing_file(text)
    if path is not None:
        return _decode(_read_file(path, text), text)
    if not text.strip():
        raise SpecLoadError("''", "empty spec argument (give a preset, template, JSON file or inline JSON)")
    label = f"spec {_label(text)!r}"
    if not text.lstrip().startswith(("{", "[")):
        # Most likely a mistyped preset or path, not JSON: say that rather than a JSON parse error.
        raise SpecLoadError(
            label,
            "no such preset, template or file, and not inline JSON "
            f"(presets: {', '.join(PRESETS)}; templates: {', '.join(TEMPLATES)})",
        )
    return _decode(text, label)


def _is_full_workload(obj: Mapping[str, Any]) -> bool:
    return "schema_version" in obj and "ant_spec" in obj and "colony_spec" in obj


def extract_subspec(obj: object, kind: Literal["ant", "colony"]) -> dict[str, Any]:
    """The ``<kind>_spec`` of a full workload object, else ``obj`` itself (a bare subspec).

    A full workload is an object holding ``schema_version``, ``ant_spec`` and ``colony_spec``.
    Returns a shallow copy, so overriding a key never changes a template or the caller's object.
    Problem paths name the place in the resolved spec (``$.ant_spec``).
    """
    if kind not in ("ant", "colony"):
        raise ValueError(f"kind must be 'ant' or 'colony', not {kind!r}")
    key = f"{kind}_spec"
    if not isinstance(obj, Mapping):
        message = f"expected an object (a {key} or a full workload holding one), got {describe(obj)}"
        raise WorkloadSpecError([SpecProblem(f"$.{key}", message)])
    sub = obj[key] if _is_full_workload(obj) else obj
    if not isinstance(sub, Mapping):
        raise WorkloadSpecError([SpecProblem(f"$.{key}", f"expected an object, got {describe(sub)}")])
    return dict(sub)


def _subspec(arg: str | Mapping[str, Any], kind: Literal["ant", "colony"]) -> dict[str, Any]:
    return extract_subspec(load_spec_arg(arg) if isinstance(arg, str) else arg, kind)


def resolve_probe_spec(
    ant_arg: str | Mapping[str, Any],
    colony_arg: str | Mapping[str, Any],
    *,
    batch: int,
    precision: str,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The probe's spec resolution: ``(resolved_spec, canonical_spec, workload_id)``.

    Each argument is a spec argument (see :func:`load_spec_arg`) or an already decoded object;
    its ``ant_spec`` / ``colony_spec`` is taken (:func:`extract_subspec`), then the probe's
    overrides ``colony_spec.batch_size = batch`` and ``ant_spec.precision = precision`` are applied
    before validation, so the id reflects the batch and precision actually run. The resolved spec
    keeps ``name``/``notes``; the canonical one drops them. Raises :class:`SpecLoadError` or
    :class:`WorkloadSpecError` (both ``ValueError``).
    """
    resolved: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "ant_spec": _subspec(ant_arg, "ant"),
        "colony_spec": _subspec(colony_arg, "colony"),
    }
    resolved["colony_spec"]["batch_size"] = batch
    resolved["ant_spec"]["precision"] = precision
    canonical = canonicalize_spec(resolved)
    return resolved, canonical, workload_id(canonical)
