"""The torch side of an assoc run: the model, the training loop, the eval loop, the checkpoint file.

Nothing here records: each loop hands every step or batch to a callback, which the session turns
into an event. Randomness is seeded, so a seed gives the same run: ``torch.manual_seed(seed)``
before the model is built (its initial weights) and again before the eval (the pointer's start
draws, as the original's ``set_seed(seed)`` before its eval); the data and the batch order come
from their own ``torch.Generator``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .task import AssocSet

StepHook = Callable[[int, float, int, float], None]  # step, loss, samples, step_time_s
BatchHook = Callable[[int, int, int, float], None]  # index, n, correct, loss_sum
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(requested: str) -> str:
    """``auto``: CUDA when available, else the CPU."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def build(shape: Mapping[str, int], *, ptr_dtype: str, variant: str, seed: int | None = None) -> nn.Module:
    """The ring-pointer model of ``shape`` (ring_len, slot_dim, num_classes, expert_heads)."""
    from ..workloads.ring import build_model

    if seed is not None:
        torch.manual_seed(seed)
    ant: dict[str, Any] = {"ring_len": shape["ring_len"], "slot_dim": shape["slot_dim"]}
    ant.update(ptr_dtype=ptr_dtype, precision="fp32")
    model = build_model(ant, shape["expert_heads"], variant=variant, num_classes=shape["num_classes"])
    model.ptr_update_every = 1  # every OD1 colony's cadence
    return model


def param_counts(model: nn.Module) -> dict[str, int]:
    """The original's ``params`` block; ``core`` counts a ``core`` submodule, which this model lacks."""
    total = sum(int(p.numel()) for p in model.parameters())
    trainable = sum(int(p.numel()) for p in model.parameters() if p.requires_grad)
    head = getattr(model, "head", None)
    core = getattr(model, "core", None)
    return {
        "total": total,
        "trainable": trainable,
        "head": sum(int(p.numel()) for p in head.parameters()) if isinstance(head, nn.Module) else 0,
        "core": sum(int(p.numel()) for p in core.parameters()) if isinstance(core, nn.Module) else 0,
    }


@dataclass(frozen=True)
class TrainSpec:
    steps: int
    batch: int
    lr: float
    precision: str
    device: str


def batches(data: AssocSet, batch: int, g: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """Shuffled batches without end: a fresh permutation per pass, the last batch of a pass short."""
    while True:
        order = torch.randperm(data.rows, generator=g)
        for start in range(0, data.rows, batch):
            idx = order[start : start + batch]
            yield data.x[idx], data.y[idx]


def train(
    model: nn.Module, data: AssocSet, spec: TrainSpec, g: torch.Generator, on_step: StepHook
) -> tuple[torch.optim.Optimizer, list[float]]:
    """Adam on the mean cross-entropy for ``spec.steps`` steps; returns the optimizer and losses."""
    model.to(spec.device).train()
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    cuda = spec.device == "cuda"
    dtype = AUTOCAST.get(spec.precision) if cuda else None  # autocast on CUDA only, as the probe
    scaler = torch.amp.GradScaler("cuda") if dtype is torch.float16 else None
    losses: list[float] = []
    stream = batches(data, spec.batch, g)
    for step in range(1, spec.steps + 1):
        x, y = next(stream)
        x, y = x.to(spec.device), y.to(spec.device)
        started = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        ctx = torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with ctx:
            logits = model(x)[0]
        loss = F.cross_entropy(logits.float(), y)
        if scaler is not None:
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        value = float(loss.detach())  # a host sync, so the step time covers the step's work
        elapsed = time.perf_counter() - started
        losses.append(value)
        on_step(step, value, int(y.shape[0]), elapsed)
    return opt, losses


def evaluate(
    model: nn.Module, data: AssocSet, *, batch: int, device: str, seed: int, on_batch: BatchHook
) -> None:
    """The original's eval loop: fp32, no grad, ``argmax == target``, loss summed as mean x n."""
    model.to(device, dtype=torch.float32).eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        for index, start in enumerate(range(0, data.rows, batch)):
            x = data.x[start : start + batch].to(device)
            y = data.y[start : start + batch].to(device)
            logits = model(x)[0]
            loss = F.cross_entropy(logits.float(), y)
            correct = int((logits.argmax(dim=1) == y).sum())
            n = int(y.shape[0])
            on_batch(index, n, correct, float(loss) * n)


def save_checkpoint(path: Path, payload: Mapping[str, Any]) -> tuple[int, str]:
    """Write ``payload`` with ``torch.save`` atomically; return its size and SHA-256."""
    import hashlib

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(dict(payload), tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def checkpoint_payload(
    model: nn.Module, opt: torch.optim.Optimizer, step: int, losses: list[float], meta: Mapping[str, Any]
) -> dict[str, Any]:
    """The original trainer's checkpoint dict, plus the run's settings under ``vrx_assoc``."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {
        "model": state,
        "optimizer": opt.state_dict(),
        "step": step,
        "losses": list(losses),
        "scaler": None,
        "vrx_assoc": dict(meta),
    }
