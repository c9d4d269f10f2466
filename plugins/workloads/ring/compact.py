"""The compact form (spec section 6): the same model without the [B, R, D] state, in O(B T D) memory.

The state is the sum of what was written into it, so a read can be taken from the write history.
Step s writes contrib_{s,o'} = fp32(w_{s,o'} h_s) at slot c_{s,o'}; the rows a step reads are

    S_t[c_{t,o}] = sum_{s<t} sum_{o'} [c_{s,o'} = c_{t,o}] contrib_{s,o'}

which is a 0/1 matrix (which past writes hit which tap, [B, 5, 5t]) times the history of
contributions ([B, 5t, D]). Everything else is the dense variant's: the read's weighted sum, the
pointer, the final read S_T[j] (one more 0/1 row). Spec section 6's A_{t,s} is this with the
weights folded in; keeping the weights outside keeps the arithmetic (fp32 rows, then the weighted
sum in the pointer dtype) the dense variant's, so the two agree to fp32 rounding of sums.

The history buffer lives outside autograd, as ``dense``'s state gradient does: one [B, 5T, D]
buffer of contributions, and during backward one buffer of their gradients, filled in place. A
read adds its rows' gradient into the buffer entries it read (the transposed 0/1 matrix), and the
record of step s takes its entries' gradient out, after every later read, by the token chain
described in ``dense``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .pointer import KERNEL_OFFSETS

TAPS = len(KERNEL_OFFSETS)


class _History:
    """Contributions of one forward pass [B, 5T, D] and, during its backward, their gradient buffer."""

    __slots__ = ("contrib", "grad")

    def __init__(self, contrib: Tensor) -> None:
        self.contrib = contrib
        self.grad: Tensor | None = None


class _Record(torch.autograd.Function):
    """Store step t's contributions [B, 5, D] as history entries 5t..5t+4; returns the ordering token."""

    @staticmethod
    def forward(ctx: Any, token: Tensor, contrib: Tensor, hist: _History, step: int) -> Tensor:
        ctx.hist, ctx.step = hist, step
        hist.contrib[:, TAPS * step : TAPS * (step + 1)] = contrib
        return contrib.new_zeros(())

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, _grad_token: Tensor) -> tuple[None, Tensor, None, None]:
        grad = ctx.hist.grad
        if grad is None:
            raise RuntimeError("history gradient missing: the final read's backward did not run first")
        grad_contrib = grad[:, TAPS * ctx.step : TAPS * (ctx.step + 1)].clone()
        if ctx.step == 0:  # nothing reads this buffer any more
            ctx.hist.grad = None
        return None, grad_contrib, None, None


class _Recall(torch.autograd.Function):
    """rows = hits @ history[:, :hits.shape[2]]: the state rows a step (or the final read) reads."""

    @staticmethod
    def forward(ctx: Any, token: Tensor, hits: Tensor, hist: _History, final: bool) -> Tensor:
        ctx.hist, ctx.final = hist, final
        ctx.save_for_backward(hits)
        # fp32 rows under autocast too: backward accumulates them into the fp32 gradient buffer.
        with torch.autocast(hits.device.type, enabled=False):
            return torch.bmm(hits, hist.contrib[:, : hits.shape[2]])

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_rows: Tensor) -> tuple[None, None, None, None]:
        (hits,) = ctx.saved_tensors
        hist = ctx.hist
        if ctx.final:  # the first history node backward reaches; a fresh buffer also serves retain_graph
            hist.grad = torch.zeros_like(hist.contrib)
        hist.grad[:, : hits.shape[2]].baddbmm_(hits.transpose(1, 2), grad_rows)
        return None, None, None, None


_record: Callable[..., Tensor] = _Record.apply
_recall: Callable[..., Tensor] = _Recall.apply


class CompactMemory:
    """The write history of one forward pass; the same interface as ``dense.DenseMemory``."""

    def __init__(self, batch: int, steps: int, dim: int, like: Tensor) -> None:
        self.hist = _History(torch.zeros(batch, TAPS * steps, dim, dtype=like.dtype, device=like.device))
        self.slots = torch.zeros(batch, TAPS * steps, dtype=torch.long, device=like.device)
        self.token = torch.zeros((), device=like.device)

    def read(self, step: int, centres: Tensor, weights: Tensor) -> Tensor:
        """cur_t = sum_o w_o S_t[c_o] in the weights' dtype; zero at t = 0 (nothing written yet)."""
        if step == 0:
            return weights.new_zeros(weights.shape[0], self.hist.contrib.shape[2])
        hits = centres.unsqueeze(2) == self.slots[:, : TAPS * step].unsqueeze(1)  # [B, 5, 5t]
        rows = _recall(self.token, hits.to(self.hist.contrib.dtype), self.hist, False)
        return (weights.unsqueeze(-1) * rows.to(weights.dtype)).sum(dim=1)

    def write(self, step: int, centres: Tensor, weights: Tensor, h: Tensor) -> None:
        self.slots[:, TAPS * step : TAPS * (step + 1)] = centres
        contrib = (weights.unsqueeze(-1) * h.unsqueeze(1)).to(self.hist.contrib.dtype)
        self.token = _record(self.token, contrib, self.hist, step)

    def read_slot(self, slot: Tensor) -> Tensor:
        """S_T[b, slot[b]] [B, D]: the final readout."""
        hits = (self.slots == slot.unsqueeze(1)).unsqueeze(1)  # [B, 1, 5T]
        return _recall(self.token, hits.to(self.hist.contrib.dtype), self.hist, True).squeeze(1)
