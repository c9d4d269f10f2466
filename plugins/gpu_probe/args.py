"""The probe's argument rules (ORIGINS 2.2), its ids and its run_cmd notes: pure, no torch.

Every rule the original enforced before writing anything is here, with its message, so
``vrx probe run`` prints the same ``ERROR: invalid args: ...`` line the original did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

VARIANTS = ("dense", "compact")
DEVICES = ("auto", "cuda", "cpu")
PRECISIONS = ("fp32", "bf16", "fp16")


class InvalidArgs(ValueError):
    """A command-line rule is broken (``ERROR: invalid args: <message>``, exit 2)."""


@dataclass(frozen=True)
class ProbeArgs:
    """The probe's inputs as typed on the command line (before the workload is resolved)."""

    ant: str
    colony: str
    out_dim: int
    batch: int
    warmup_steps: int
    measure_steps: int
    precision: str
    amp: int
    device: str = "auto"
    variant: str = "dense"
    compile: bool = False
    model: str | None = None
    debug_stall_after_step: int = -1
    debug_stall_s: float = 0.0
    debug_stall_threshold_s: float = 0.0

    @property
    def debug_self_test(self) -> bool:
        return self.debug_stall_after_step >= 0


def check_args(a: ProbeArgs) -> None:
    """Raise :class:`InvalidArgs` on the first broken rule, in the original's order."""
    if a.precision not in PRECISIONS:
        raise InvalidArgs(f"--precision must be one of {', '.join(PRECISIONS)}")
    if a.amp not in (0, 1):
        raise InvalidArgs("--amp must be 0 or 1")
    if a.precision == "fp32" and a.amp != 0:
        raise InvalidArgs("precision=fp32 requires --amp 0")
    if a.precision in ("fp16", "bf16") and a.amp != 1:
        raise InvalidArgs(f"precision={a.precision} requires --amp 1")
    _check_counts(a)
    _check_debug(a)
    if a.variant not in VARIANTS:
        raise InvalidArgs(f"--variant must be one of {', '.join(VARIANTS)}")
    if a.device not in DEVICES:
        raise InvalidArgs(f"--device must be one of {', '.join(DEVICES)}")
    if a.model is not None:
        check_model_ref(a.model)
        if a.variant != "dense":
            raise InvalidArgs("--variant applies to the ring-pointer model, not to --model")


def _check_counts(a: ProbeArgs) -> None:
    if a.out_dim < 1:
        raise InvalidArgs("--out-dim must be >= 1")
    if a.batch < 1:
        raise InvalidArgs("--batch must be >= 1")
    if a.warmup_steps < 0:
        raise InvalidArgs("--warmup-steps must be >= 0")
    if a.measure_steps < 1:
        raise InvalidArgs("--measure-steps must be >= 1")


def _check_debug(a: ProbeArgs) -> None:
    if a.debug_stall_s < 0.0:
        raise InvalidArgs("--debug-stall-s must be >= 0")
    if a.debug_stall_threshold_s < 0.0:
        raise InvalidArgs("--debug-stall-threshold-s must be >= 0")
    if a.debug_self_test:
        if a.debug_stall_s <= 0.0:
            raise InvalidArgs("--debug-stall-after-step requires --debug-stall-s > 0")
        if a.debug_stall_threshold_s <= 0.0:
            raise InvalidArgs("--debug-stall-after-step requires --debug-stall-threshold-s > 0")
        if a.debug_stall_after_step >= a.measure_steps:
            raise InvalidArgs("--debug-stall-after-step must be < --measure-steps")
    elif a.debug_stall_s > 0.0 or a.debug_stall_threshold_s > 0.0:
        # A threshold override without an injected stall would be ambiguous.
        raise InvalidArgs("--debug-stall-s/--debug-stall-threshold-s require --debug-stall-after-step >= 0")


_MODEL_REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def check_model_ref(ref: str) -> None:
    if not _MODEL_REF_RE.match(ref):
        raise InvalidArgs(f"--model must be MODULE:FACTORY (for example mypkg.models:make), got {ref!r}")


def probe_id(workload_id: str, a: ProbeArgs) -> str:
    """``<workload_id>__E<out_dim>__<precision>_amp<amp>``, then the vrx extras that change what runs.

    ``__compact`` and ``__compile`` name the opt-in variant and compilation; ``__model-<ref>``
    a model of the user's own (its ``MODULE:FACTORY`` with ``:`` as ``.``), so no two different
    workloads share a probe id.
    """
    pid = f"{workload_id}__E{a.out_dim}__{a.precision}_amp{a.amp}"
    if a.model is not None:
        pid += "__model-" + a.model.replace(":", ".")
    elif a.variant != "dense":
        pid += f"__{a.variant}"
    if a.compile:
        pid += "__compile"
    return pid


def started_fields(a: ProbeArgs) -> dict[str, Any]:
    """The ``probe.start`` fields that come straight from the arguments."""
    return {
        "out_dim": a.out_dim,
        "warmup_steps": a.warmup_steps,
        "measure_steps": a.measure_steps,
        "precision": a.precision,
        "amp": a.amp,
        "variant": a.variant,
        "compile": a.compile,
        "model": a.model,
        "debug_stall_after_step": a.debug_stall_after_step,
        "debug_stall_s": a.debug_stall_s,
        "debug_stall_threshold_s": a.debug_stall_threshold_s,
    }
