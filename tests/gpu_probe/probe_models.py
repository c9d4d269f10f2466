"""Model factories for `vrx probe run --model` in tests: each makes a real failure happen for real."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class _Linear(nn.Module):
    def __init__(self, poison: float | None = None, huge: bool = False) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 256)
        self.poison = poison
        self.huge = huge

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.huge:
            # A real CPU allocation failure (torch's DefaultCPUAllocator), not a raised stand-in.
            torch.empty(1 << 62, dtype=torch.uint8)
        out = self.lin(x)
        return out * self.poison if self.poison is not None else out


def _batch(batch_size: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch_size, 4, device=device), torch.randint(0, 256, (batch_size,), device=device)


def linear(*, ant_spec: dict[str, Any], colony_spec: dict[str, Any], out_dim: int) -> Any:
    return _Linear(), _batch


def nan_loss(*, ant_spec: dict[str, Any], colony_spec: dict[str, Any], out_dim: int) -> Any:
    return _Linear(poison=float("nan")), _batch


def out_of_memory(*, ant_spec: dict[str, Any], colony_spec: dict[str, Any], out_dim: int) -> Any:
    return _Linear(huge=True), _batch


def not_a_pair(*, ant_spec: dict[str, Any], colony_spec: dict[str, Any], out_dim: int) -> Any:
    return _Linear()


class _Hangs(_Linear):
    """Hangs forever in its fourth forward, as a step stuck in a kernel that never returns."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        if type(self).calls == 4:
            import time

            time.sleep(3600)
        return super().forward(x)


def hangs(*, ant_spec: dict[str, Any], colony_spec: dict[str, Any], out_dim: int) -> Any:
    return _Hangs(), _batch
