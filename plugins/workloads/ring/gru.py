"""The main GRU cell over a forward pass, with its weight gradient computed once for all steps.

Through plain autograd every step of a recurrence computes and accumulates its own weight
gradient: two [3D, B] x [B, D] matmuls and two [3D, D] additions per step, for B rows (4 at od1_small).
Here each step's backward returns only the input and hidden gradients and records its gate
gradients; one ``_Tap`` node, which every step consumes, runs after all of them (autograd's
dependency order) and computes dW = G^T X over all T*B rows in one matmul per weight. The values
are PyTorch's GRUCell's (gate order r, z, n; forward in the same operation order as ATen's
``gru_cell``), the weight gradient is the same sum in another order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


class GruCell:
    """``step(x, h)`` for one forward pass of ``cell``; the parameters' gradients arrive through ``_Tap``."""

    def __init__(self, cell: nn.GRUCell) -> None:
        self.weights = tuple(p.detach() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
        self.rows: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []  # per step: x, h, dgi, dgh
        self.token = _tap(cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, self)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        return _step(x, h, self.token, self)


class _Tap(torch.autograd.Function):
    """Joins the weights to every step; its backward is the whole weight gradient."""

    @staticmethod
    def forward(  # noqa: PLR0917  (Function.apply passes arguments positionally)
        ctx: Any, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor, cell: GruCell
    ) -> Tensor:
        ctx.cell = cell
        return w_ih.new_zeros(())

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, _grad_token: Tensor) -> tuple[Tensor | None, ...]:
        rows, ctx.cell.rows = ctx.cell.rows, []
        if not rows:
            return None, None, None, None, None
        x, h, dgi, dgh = (torch.cat(part) for part in zip(*rows, strict=True))
        return dgi.t().mm(x), dgh.t().mm(h), dgi.sum(0), dgh.sum(0), None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, h: Tensor, token: Tensor, cell: GruCell) -> Tensor:
        w_ih, w_hh, b_ih, b_hh = cell.weights
        i_r, i_z, i_n = torch.addmm(b_ih, x, w_ih.t()).chunk(3, 1)
        h_r, h_z, h_n = torch.addmm(b_hh, h, w_hh.t()).chunk(3, 1)
        r = torch.sigmoid(h_r + i_r)
        z = torch.sigmoid(h_z + i_z)
        n = torch.tanh(i_n + h_n * r)
        ctx.cell = cell
        ctx.save_for_backward(x, h, r, z, n, h_n)
        return (h - n) * z + n

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        x, h, r, z, n, h_n = ctx.saved_tensors
        w_ih, w_hh = ctx.cell.weights[:2]
        d_n = grad * (1 - z) * (1 - n * n)
        d_r = d_n * h_n * r * (1 - r)
        d_z = grad * (h - n) * z * (1 - z)
        dgi = torch.cat((d_r, d_z, d_n), 1)
        dgh = torch.cat((d_r, d_z, d_n * r), 1)
        ctx.cell.rows.append((x, h, dgi, dgh))
        return dgi.mm(w_ih), torch.addmm(grad * z, dgh, w_hh), None, None


_tap: Callable[..., Tensor] = _Tap.apply
_step: Callable[..., Tensor] = _Step.apply
