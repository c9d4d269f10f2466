"""Checkpoints: the layout ``vrx assoc run`` writes, reading the original's, and shape inference.

``checkpoint.pt`` keeps the original trainer's dict layout (``instnct_train_steps``:
``{"model": state_dict, "optimizer": ..., "step": N, "losses": [...], "scaler": None}``) and adds
one key, ``"vrx_assoc"``: the task and model settings of the run, so ``vrx assoc eval`` needs no
log beside it. The shape of a ring-pointer (``AbsoluteHallway``) state dict is inferred as the
original's eval does: ``ring_len = router_map.numel()``, ``slot_dim = input_proj.weight.shape[0]``,
``num_classes`` and ``expert_heads`` from ``head.single.weight`` (one head) or
``head.experts.{i}.weight`` (``max i + 1`` heads). Inference reads only ``.shape``, so tensors on
the meta device do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode, VrxError

from .events import Layout

VRX_KEY = "vrx_assoc"
#: Where a checkpoint dict may keep its state dict, in the order they are tried.
STATE_KEYS = ("model", "state_dict", "model_state_dict")
SLOPE_WINDOW = 50


class CheckpointInvalid(VrxError):
    """The checkpoint cannot be read, or is not a ring-pointer model's (exit 65)."""

    exit_code = ExitCode.DATAERR


@dataclass(frozen=True)
class Loaded:
    """A checkpoint as read: its state dict and what it says about its run."""

    state: Mapping[str, Any]
    layout: Layout
    step: int
    losses: list[float]
    meta: Mapping[str, Any]  # the "vrx_assoc" block; empty for other layouts


def _dims(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(int(d) for d in shape)


def infer_shape(state: Mapping[str, Any]) -> dict[str, int]:
    """``{ring_len, slot_dim, num_classes, expert_heads}`` of a ring-pointer state dict."""
    router = _dims(state.get("router_map"))
    if router is None:
        raise CheckpointInvalid(
            "not a ring-pointer (AbsoluteHallway) checkpoint: no router_map "
            "(PrismionHallwayBank checkpoints are not supported)"
        )
    w_in = _dims(state.get("input_proj.weight"))
    if w_in is None or len(w_in) != 2:
        raise CheckpointInvalid("ring-pointer checkpoint without a 2-d input_proj.weight")
    head = _head_shape(state)
    if head is None:
        raise CheckpointInvalid("ring-pointer checkpoint without head weights (single or experts.*)")
    ring_len = math.prod(router)
    return {"ring_len": ring_len, "slot_dim": w_in[0], "num_classes": head[0], "expert_heads": head[1]}


def _head_shape(state: Mapping[str, Any]) -> tuple[int, int] | None:
    """(num_classes, expert_heads) from the head's weights, or None."""
    single = _dims(state.get("head.single.weight"))
    if single is not None and len(single) == 2:
        return single[0], 1
    indices = [int(m.group(1)) for k in state if (m := re.fullmatch(r"head\.experts\.(\d+)\..+", str(k)))]
    first = _dims(state.get("head.experts.0.weight"))
    if not indices or first is None or len(first) != 2:
        return None
    return first[0], max(indices) + 1


def find_state(obj: Any) -> tuple[Mapping[str, Any], Layout]:
    """The state dict inside a loaded checkpoint and the layout it came in."""
    if isinstance(obj, Mapping):
        if "router_map" in obj:
            return obj, "state_dict"
        for key in STATE_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner:
                return inner, "vrx" if isinstance(obj.get(VRX_KEY), Mapping) else "vraxion"
    raise CheckpointInvalid(f"no state dict found (looked for a dict under {', '.join(STATE_KEYS)})")


def load_checkpoint(path: Path) -> Loaded:
    """Read ``path`` with ``torch.load(weights_only=True)``: tensors and plain data, never code."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad or unsafe file; all mean the same here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointInvalid(f"cannot load the checkpoint (weights_only): {reason}", path=path) from None
    state, layout = find_state(obj)
    top = obj if isinstance(obj, Mapping) and layout != "state_dict" else {}
    raw_losses = top.get("losses")
    losses = [float(v) for v in raw_losses] if isinstance(raw_losses, list) else []
    meta = top.get(VRX_KEY)
    return Loaded(state, layout, int(top.get("step") or 0), losses, meta if isinstance(meta, Mapping) else {})


def last_losses(losses: list[float]) -> list[float | None]:
    """The window ``train.loss_slope`` is computed over; non-finite values as None (the log's JSON)."""
    return [v if math.isfinite(v) else None for v in losses[-SLOPE_WINDOW:]]


# -- the original's run root: vraxion.log ----------------------------------------------------------

_SYNTH = re.compile(
    r"\[synth\]\s+mode=(?P<mode>\S+)\s+rows=(?P<rows>\d+)\s+keys=(?P<keys>\d+)\s+vals=(?P<vals>\d+)"
    r"\s+pairs=(?P<pairs>\d+)(?:\s+mq_dup=(?P<mq_dup>\d+))?\s+len=(?P<seq_len>\d+)"
)
_SPLIT = re.compile(r"\[eval\]\s+split=disjoint\b")
_SEED = re.compile(r"\bseed(\d+)\b")


def synth_header(log_text: str) -> dict[str, int] | None:
    """The first ``[synth] mode=... rows=... keys=... vals=... pairs=... [mq_dup=...] len=...`` line."""
    m = _SYNTH.search(log_text)
    if m is None:
        return None
    found = {k: int(v) for k, v in m.groupdict().items() if k != "mode" and v is not None}
    found.setdefault("mq_dup", 1)
    return found


def log_says_disjoint(log_text: str) -> bool:
    return _SPLIT.search(log_text) is not None


def seed_from_path(path: Path) -> int | None:
    """The original's rule: ``seed<digits>`` as a word in the run's path (``.../seed123/...``)."""
    m = _SEED.search(path.as_posix())
    return int(m.group(1)) if m else None
