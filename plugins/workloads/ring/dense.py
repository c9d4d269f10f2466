"""The dense ring state [B, R, D]: the original's memory profile, without its backward traffic.

Forward is the original's: every step builds a new state out of place (``scatter_add``) and the
graph keeps each step's copy until backward (the original's ``gather`` saves the state it reads),
so peak memory grows with T*B*R*D and VRAM figures compare with the original's. Each copy is saved
here by the autograd node of the write that consumes it, and the final state by the final read.

Backward is where this differs. Through plain autograd the gradient of the state is itself a
dense [B, R, D] tensor per step: a zero-filled tensor from each ``gather`` backward, scattered into
and added to the running gradient, about three full-state passes per step although each step
touches five rows per sample. Here one gradient buffer dL/dS, allocated once, is updated in place:
a read adds its rows' gradient into the buffer, a write gathers its rows' gradient out of it. The
result is the same gradient (up to the order of floating-point sums where taps share a slot).

Order is what makes the buffer right: write t must see dL/dS_{t+1} (all reads after t added in),
and read t must come after write t. Each write returns a token (a scalar zero) that the
next read and write take as input, so autograd's dependency counting runs backward as read T,
write T-1, read T-1, write T-2, ...: the chain is an edge in the graph, the token carries no value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


class _Ring:
    """One forward pass's current state and, during its backward, the gradient buffer dL/dS_t."""

    __slots__ = ("grad", "state")

    def __init__(self, state: Tensor) -> None:
        self.state = state
        self.grad: Tensor | None = None


class _Read(torch.autograd.Function):
    """rows = S_t[b, index[b, k]]: the slots a sample reads at one step, or the final readout."""

    @staticmethod
    def forward(  # noqa: PLR0917  (Function.apply passes arguments positionally)
        ctx: Any, token: Tensor, state: Tensor, index: Tensor, ring: _Ring, final: bool
    ) -> Tensor:
        ctx.ring, ctx.final = ring, final
        if final:  # the final state is saved for the memory profile (module docstring), not for use
            ctx.save_for_backward(index, state)
        else:
            ctx.save_for_backward(index)
        return state.gather(1, index)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_rows: Tensor) -> tuple[None, None, None, None, None]:
        index = ctx.saved_tensors[0]
        if ctx.final:  # the first ring node backward reaches; a fresh buffer also serves retain_graph
            ctx.ring.grad = torch.zeros_like(ctx.saved_tensors[1])
        ctx.ring.grad.scatter_add_(1, index, grad_rows)
        return None, None, None, None, None


class _Write(torch.autograd.Function):
    """S_{t+1} = S_t with contrib [B, 5, D] added at index: a new tensor, as the original builds."""

    @staticmethod
    def forward(  # noqa: PLR0917  (Function.apply passes arguments positionally)
        ctx: Any, token: Tensor, contrib: Tensor, state: Tensor, index: Tensor, ring: _Ring, first: bool
    ) -> Tensor:
        ctx.ring, ctx.first = ring, first
        ctx.save_for_backward(index, state)  # state: kept for the memory profile only
        ring.state = state.scatter_add(1, index, contrib)
        return contrib.new_zeros(())

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, _grad_token: Tensor) -> tuple[None, Tensor, None, None, None, None]:
        grad = ctx.ring.grad
        if grad is None:
            raise RuntimeError("ring state gradient missing: the final read's backward did not run first")
        grad_contrib = grad.gather(1, ctx.saved_tensors[0])
        if ctx.first:  # step 0: nothing reads this buffer any more
            ctx.ring.grad = None
        return None, grad_contrib, None, None, None, None


_read: Callable[..., Tensor] = _Read.apply
_write: Callable[..., Tensor] = _Write.apply


class DenseMemory:
    """The ring state of one forward pass; ``read`` and ``write`` are spec steps 3.2 and 3.4."""

    def __init__(self, batch: int, ring_len: int, dim: int, like: Tensor) -> None:
        self.ring = _Ring(torch.zeros(batch, ring_len, dim, dtype=like.dtype, device=like.device))
        self.dim = dim
        self.token = torch.zeros((), device=like.device)
        self._index = torch.empty(0, dtype=torch.long)

    def read(self, step: int, centres: Tensor, weights: Tensor) -> Tensor:
        """cur_t = sum_o w_o S_t[c_o], in the weights' dtype (as the original: fp64 for an fp64 pointer)."""
        self._index = centres.unsqueeze(-1).expand(-1, -1, self.dim)
        rows = _read(self.token, self.ring.state, self._index, self.ring, False)
        return (weights.unsqueeze(-1) * rows.to(weights.dtype)).sum(dim=1)

    def write(self, step: int, centres: Tensor, weights: Tensor, h: Tensor) -> None:
        """S_{t+1}[c_o] = S_t[c_o] + fp32(w_o h_t) for each tap o (same slots as this step's read)."""
        contrib = (weights.unsqueeze(-1) * h.unsqueeze(1)).to(self.ring.state.dtype)
        self.token = _write(self.token, contrib, self.ring.state, self._index, self.ring, step == 0)

    def read_slot(self, slot: Tensor) -> Tensor:
        """S_T[b, slot[b]] [B, D]: the final readout."""
        index = slot.view(-1, 1, 1).expand(-1, 1, self.dim)
        return _read(self.token, self.ring.state, index, self.ring, True).squeeze(1)
