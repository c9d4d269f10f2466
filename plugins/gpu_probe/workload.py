"""What the probe trains: the ring-pointer model of the workload spec, or a model of the user's own.

A model factory (``--model MODULE:FACTORY``) is called as
``factory(ant_spec=..., colony_spec=..., out_dim=...)`` and returns ``(model, make_batch)``;
``make_batch(batch_size, device)`` returns the ``(x, y)`` the probe reuses on every step. The
loss is ``cross_entropy(logits.float(), y)`` with ``logits = out[0]`` when the model returns a
tuple, as for the ring-pointer model.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .args import InvalidArgs

MakeBatch = Callable[[int, Any], tuple[Any, Any]]


@dataclass(frozen=True)
class Workload:
    model: Any
    make_batch: MakeBatch


def ring_workload(
    ant_spec: Mapping[str, Any], colony_spec: Mapping[str, Any], out_dim: int, *, variant: str
) -> Workload:
    """The probe's own model, set up as the original set up AbsoluteHallway."""
    from ..workloads.ring import build_model

    model = build_model(dict(ant_spec), out_dim, variant=variant)
    model.ptr_update_every = int(colony_spec["ptr_update_every"])
    model.state_loop_samples = max(0, int(colony_spec["state_loop_samples"]))
    return Workload(model, synthetic_batch(int(colony_spec["synth_len"])))


def synthetic_batch(synth_len: int) -> MakeBatch:
    """x = randn(B, synth_len, 1), y = randint(0, 256, (B,)): made once, reused every step."""

    def make(batch_size: int, device: Any) -> tuple[Any, Any]:
        import torch

        x = torch.randn(batch_size, synth_len, 1, device=device, dtype=torch.float32)
        y = torch.randint(0, 256, (batch_size,), device=device, dtype=torch.long)
        return x, y

    return make


def load_factory(ref: str) -> Callable[..., Any]:
    """Import ``MODULE:FACTORY``; a missing module or name is an argument error, not a crash."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail to import in any way: it is their input
        raise InvalidArgs(f"--model {ref}: cannot import {module_name}: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise InvalidArgs(f"--model {ref}: {module_name} has no callable {attr}")
    return factory  # type: ignore[no-any-return]


def own_workload(
    factory: Callable[..., Any], ant_spec: Mapping[str, Any], colony_spec: Mapping[str, Any], out_dim: int
) -> Workload:
    made = factory(ant_spec=dict(ant_spec), colony_spec=dict(colony_spec), out_dim=out_dim)
    if not (isinstance(made, tuple) and len(made) == 2 and callable(made[1])):
        name = getattr(factory, "__qualname__", "the --model factory")
        raise TypeError(f"{name} must return (model, make_batch), got {type(made).__name__}")
    return Workload(made[0], made[1])
