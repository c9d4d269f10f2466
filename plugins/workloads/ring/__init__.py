"""The ring-pointer network of ring_pointer_workload.md: the model the GPU capacity probe trains.

    model = build_model({"ring_len": 2048, "slot_dim": 256, "ptr_dtype": "fp64", "precision": "fp32"}, 1)
    logits, move_penalty = model(x)  # x [B, T, 1] fp32 -> logits [B, 256]

This package imports torch; ``vrx_plugins.workloads`` itself does not import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .compile import compile_problem
from .net import NUM_CLASSES, VARIANTS, ExpertHeads, RingPointerNet

__all__ = [
    "NUM_CLASSES",
    "PTR_DTYPES",
    "VARIANTS",
    "ExpertHeads",
    "RingPointerNet",
    "build_model",
    "compile_problem",
]

PTR_DTYPES: dict[str, torch.dtype] = {
    "fp64": torch.float64,
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


def build_model(
    ant_spec: Mapping[str, Any], out_dim: int, *, variant: str = "dense", num_classes: int = NUM_CLASSES
) -> RingPointerNet:
    """The model for a workload_schema_v1 ant spec and ``out_dim`` expert heads.

    ``ant_spec["precision"]`` is not read: weights are always fp32, and precision only selects
    autocast in the probe. ``variant`` is ``"dense"`` (the original's memory profile) or
    ``"compact"`` (O(B T D) memory, opt-in). ``num_classes`` is the heads' width C: 256 for the
    probe, a task's label count elsewhere (the original takes it as a constructor argument).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    ring_len = _positive_int(ant_spec, "ring_len")
    slot_dim = _positive_int(ant_spec, "slot_dim")
    ptr_dtype = ant_spec.get("ptr_dtype")
    if ptr_dtype not in PTR_DTYPES:
        raise ValueError(f"ptr_dtype must be one of {', '.join(PTR_DTYPES)}; got {ptr_dtype!r}")
    for name, value in (("out_dim", out_dim), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return RingPointerNet(
        ring_len, slot_dim, out_dim, PTR_DTYPES[ptr_dtype], variant, num_classes=num_classes
    )


def _positive_int(spec: Mapping[str, Any], key: str) -> int:
    value = spec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"ant_spec.{key} must be an int >= 1; got {value!r}")
    return value
