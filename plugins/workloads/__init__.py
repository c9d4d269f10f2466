"""workloads: workload_schema_v1 specs and the ring-pointer model (library, no entry point).

The public spec API lives here and imports no torch, so specs can be validated and ids computed
anywhere; the model is in the ``ring`` subpackage. See docs/workloads.md.
"""

from __future__ import annotations

from .schema import (
    SCHEMA_VERSION,
    SpecProblem,
    WorkloadSpecError,
    canonical_json,
    canonicalize_spec,
    validate_spec,
    workload_id,
)
from .specs import (
    PRESETS,
    TEMPLATES,
    SpecLoadError,
    extract_subspec,
    load_spec_arg,
    load_template,
    resolve_probe_spec,
    template_name,
    template_text,
)

__all__ = [
    "PRESETS",
    "SCHEMA_VERSION",
    "TEMPLATES",
    "SpecLoadError",
    "SpecProblem",
    "WorkloadSpecError",
    "canonical_json",
    "canonicalize_spec",
    "extract_subspec",
    "load_spec_arg",
    "load_template",
    "resolve_probe_spec",
    "template_name",
    "template_text",
    "validate_spec",
    "workload_id",
]
