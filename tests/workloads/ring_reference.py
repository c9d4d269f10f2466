"""Independent reference of the ring-pointer model, written from ring_pointer_workload.md's equations.

Shares no code with ``vrx_plugins.workloads.ring``: it takes a state_dict and computes the spec's
equations as they are written (phi = p - floor(p), n = (p + omega) mod R, Delta = (1 - iota)
wrap(q - p), an explicit GRU cell), with three facts of the original that the spec leaves out:
a pointer dtype other than fp64 is carried in fp64 between steps and rounded for use, the
deadzone applies only when some sample's deadzone is above zero, and the kernel's tap distance
is wrapped around the ring (which matters only for R < 6). Dtypes follow the original's:
the kernel and the read's weighted sum in the pointer dtype, heads in fp32, the state in fp32.

Two drivers of the same equations:

* ``forward_per_sample``: time-outer, sample-inner Python loops, a [R, D] state per sample, host
  reads wherever convenient. The tests' yardstick.
* ``forward_batched``: vectorised over the batch, as the original is: one [B, R, D] state rebuilt
  out of place each step (``scatter_add``) and read with ``gather``, plain autograd. The benchmark's
  straightforward baseline; the tests check it against the per-sample driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TAPS = (-2, -1, 0, 1, 2)
BUFFERS = ("state_loop_proj", "router_map", "bin_edges")


@dataclass(frozen=True)
class Config:
    ring_len: int
    slot_dim: int
    experts: int
    ptr_dtype: torch.dtype
    ptr_update_every: int = 1
    #: Weights, state and hidden dtype: fp32 as in the probe; fp64 makes rounding negligible in tests.
    dtype: torch.dtype = torch.float32

    @property
    def sensory_len(self) -> int:
        return max(1, self.ring_len // 2)


def leaf_params(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Fresh leaf copies of a state_dict: floating parameters require grad, buffers do not."""
    return {
        k: v.detach().clone().requires_grad_(k not in BUFFERS and v.is_floating_point())
        for k, v in state_dict.items()
    }


# ---- the equations, for a pointer of any shape [...] ----


def wrap(z: Tensor, ring: int) -> Tensor:
    return torch.remainder(z + ring / 2, ring) - ring / 2


def kernel(p: Tensor, ring: int) -> tuple[Tensor, Tensor]:
    """Slots c = (floor(p) + o) mod R and weights softmax_o(-wrap(o - phi)^2 / 8), phi = p - floor(p).

    The original measures the tap distance around the ring; wrap(o - phi) = o - phi (the spec's
    formula) for every R >= 6, and differs on smaller rings.
    """
    base = torch.floor(p.detach())
    phi = p - base
    offsets = torch.tensor(TAPS, dtype=p.dtype)
    centres = torch.remainder(base.long().unsqueeze(-1) + torch.tensor(TAPS), ring)
    dist = wrap(offsets - phi.unsqueeze(-1), ring)
    return centres, torch.softmax(-(dist**2) / 8.0, dim=-1)


def gru_cell(x: Tensor, h: Tensor, P: dict[str, Tensor], name: str) -> Tensor:
    """PyTorch's GRUCell, gate order r, z, n, written out."""
    gi = x @ P[f"{name}.weight_ih"].T + P[f"{name}.bias_ih"]
    gh = h @ P[f"{name}.weight_hh"].T + P[f"{name}.bias_hh"]
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def linear(x: Tensor, P: dict[str, Tensor], name: str) -> Tensor:
    return x @ P[f"{name}.weight"].T + P[f"{name}.bias"]


def sensory(x: Tensor, P: dict[str, Tensor], cfg: Config) -> Tensor:
    """a_t [T, ..., D] for x [T, ..., 1]. r_t = s_{t - Ls} for t >= Ls, else 0."""
    s_hist: list[Tensor] = []
    s = torch.zeros(*x.shape[1:-1], P["sensory_gru.weight_hh"].shape[1], dtype=cfg.dtype)
    for t in range(x.shape[0]):
        u = torch.tanh(linear(x[t], P, "sensory_proj_in"))
        r = s_hist[t - cfg.sensory_len] if t >= cfg.sensory_len else torch.zeros_like(u)
        s = gru_cell(u + r, s, P, "sensory_gru")
        s_hist.append(s)
    return torch.tanh(linear(torch.stack(s_hist), P, "sensory_bridge"))


def pointer_moves(p: Tensor, h: Tensor, P: dict[str, Tensor], cfg: Config) -> tuple[Tensor, Tensor, Tensor]:
    """(p + m Delta) mod R, (p + Delta) mod R and the deadzone delta, from hidden state h."""
    ring, dt = cfg.ring_len, cfg.ptr_dtype
    iota = torch.clamp(torch.sigmoid(linear(h, P, "inertia_head")).squeeze(-1).to(dt), 0.0, 0.99)
    delta = F.softplus(linear(h, P, "deadzone_head")).squeeze(-1).to(dt)
    omega = torch.sigmoid(linear(h, P, "walk_head")).squeeze(-1).to(dt)
    pf = p.detach().float()
    i0 = torch.remainder(torch.floor(pf), ring).long()
    i1 = torch.remainder(i0 + 1, ring)
    f = pf - torch.floor(pf)
    big0 = (ring - 1) * torch.sigmoid(P["theta_ptr_reduced"][i0])
    big1 = (ring - 1) * torch.sigmoid(P["theta_ptr_reduced"][i1])
    theta = big0 + (big1 - big0) * f
    g0, g1 = P["theta_gate_reduced"][i0], P["theta_gate_reduced"][i1]
    g = g0 + (g1 - g0) * f
    pi = torch.sigmoid(linear(h, P, "jump_score").squeeze(-1) + g)
    theta_hat = theta + (torch.round(theta) - theta).detach()
    n = torch.remainder(p + omega, ring)
    q = torch.remainder(n + pi * wrap(theta_hat - n, ring), ring)
    big_delta = (1 - iota) * wrap(q - p, ring)
    m = torch.sigmoid((big_delta.abs() - delta) / 0.25)
    return torch.remainder(p + m * big_delta, ring), torch.remainder(p + big_delta, ring), delta


class Pointer:
    """p_t of one sample (shape []) or of a batch (shape [B]), with the fp64 carry of low-precision dtypes."""

    def __init__(self, p0: Tensor, cfg: Config) -> None:
        self.p, self.cfg = p0, cfg
        self.carry = p0.double()
        self.path = [p0]

    def store(self, moved: Tensor | None) -> None:
        ring = self.cfg.ring_len
        if moved is None:  # no update this step
            self.carry = self.p.double()
        elif self.cfg.ptr_dtype == torch.float64:
            self.p = moved
        else:
            self.carry = torch.remainder(self.carry + wrap(moved - self.p, ring).double(), ring)
            self.p = torch.remainder(self.carry.to(self.cfg.ptr_dtype), ring)
        self.path.append(self.p)


def start_pointer(batch: int, cfg: Config) -> Tensor:
    return torch.rand(batch, dtype=cfg.ptr_dtype) * (cfg.ring_len - 1)


def head(v: Tensor, expert: int, P: dict[str, Tensor], cfg: Config) -> Tensor:
    return linear(v, P, "head.single" if cfg.experts == 1 else f"head.experts.{expert}")


def move_penalty(paths: list[list[Tensor]], ring: int) -> Tensor:
    """Mean over steps of the batch mean of |wrap(p_{t+1} - p_t)|."""
    steps = len(paths[0]) - 1
    per_step = [
        torch.stack([wrap(path[t + 1] - path[t], ring).abs() for path in paths]).mean() for t in range(steps)
    ]
    return torch.stack(per_step).sum() / steps


# ---- driver 1: per sample ----


def forward_per_sample(P: dict[str, Tensor], x: Tensor, cfg: Config) -> tuple[Tensor, Tensor]:
    batch, steps = x.shape[0], x.shape[1]
    p0 = start_pointer(batch, cfg)  # the forward pass's first random draw
    inputs = [sensory(x[b], P, cfg) for b in range(batch)]
    pointers = [Pointer(p0[b], cfg) for b in range(batch)]
    states = [torch.zeros(cfg.ring_len, cfg.slot_dim, dtype=cfg.dtype) for _ in range(batch)]
    hs = [torch.zeros(cfg.slot_dim, dtype=cfg.dtype) for _ in range(batch)]
    context = torch.sigmoid(P["context_logit"])
    for t in range(steps):
        moves = []
        for b in range(batch):
            c, w = kernel(pointers[b].p, cfg.ring_len)
            cur = (w.unsqueeze(-1) * states[b][c].to(w.dtype)).sum(0).to(cfg.dtype)
            hs[b] = gru_cell(inputs[b][t] + context * cur, hs[b], P, "gru")
            contrib = (w.unsqueeze(-1) * hs[b].unsqueeze(0)).to(cfg.dtype)
            states[b] = states[b].index_put((c,), contrib, accumulate=True)
            if t % cfg.ptr_update_every == 0:
                moves.append(pointer_moves(pointers[b].p, hs[b], P, cfg))
        if not moves:
            for ptr in pointers:
                ptr.store(None)
            continue
        deadzone_on = any(bool(dz > 0) for _, _, dz in moves)
        for ptr, (with_dz, without_dz, _) in zip(pointers, moves, strict=True):
            ptr.store(with_dz if deadzone_on else without_dz)
    logits = []
    for b in range(batch):
        j = min(max(int(torch.floor(pointers[b].p)), 0), cfg.ring_len - 1)
        expert = int(P["router_map"][j]) % cfg.experts
        logits.append(head(states[b][j] + hs[b], expert, P, cfg))
    return torch.stack(logits), move_penalty([ptr.path for ptr in pointers], cfg.ring_len)


# ---- driver 2: vectorised over the batch ----


def forward_batched(P: dict[str, Tensor], x: Tensor, cfg: Config) -> tuple[Tensor, Tensor]:
    batch, steps = x.shape[0], x.shape[1]
    dim = cfg.slot_dim
    pointer = Pointer(start_pointer(batch, cfg), cfg)
    inputs = sensory(x.transpose(0, 1), P, cfg)  # [T, B, D]
    state = torch.zeros(batch, cfg.ring_len, dim, dtype=cfg.dtype)
    h = torch.zeros(batch, dim, dtype=cfg.dtype)
    context = torch.sigmoid(P["context_logit"])
    for t in range(steps):
        c, w = kernel(pointer.p, cfg.ring_len)
        index = c.unsqueeze(-1).expand(-1, -1, dim)
        cur = (w.unsqueeze(-1) * state.gather(1, index).to(w.dtype)).sum(1).to(cfg.dtype)
        h = gru_cell(inputs[t] + context * cur, h, P, "gru")
        state = state.scatter_add(1, index, (w.unsqueeze(-1) * h.unsqueeze(1)).to(cfg.dtype))
        if t % cfg.ptr_update_every == 0:
            with_dz, without_dz, dz = pointer_moves(pointer.p, h, P, cfg)
            pointer.store(torch.where((dz > 0).any(), with_dz, without_dz))
        else:
            pointer.store(None)
    j = torch.floor(pointer.p.detach()).long().clamp(0, cfg.ring_len - 1)
    read = state.gather(1, j.view(-1, 1, 1).expand(-1, 1, dim)).squeeze(1) + h
    experts = P["router_map"][j] % cfg.experts
    logits = torch.stack([head(read[b], int(experts[b]), P, cfg) for b in range(batch)])
    paths = [[p[b] for p in pointer.path] for b in range(batch)]
    return logits, move_penalty(paths, cfg.ring_len)


class ReferenceModel(nn.Module):
    """``forward_batched`` as a module with trainable parameters, for the benchmark's training step."""

    def __init__(self, state_dict: dict[str, Tensor], cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        params = leaf_params(state_dict)
        self.names = [k for k, v in params.items() if v.requires_grad]
        self.weights = nn.ParameterList(nn.Parameter(params[k].detach()) for k in self.names)
        self.fixed = {k: v for k, v in params.items() if not v.requires_grad}

    def forward(self, x: Tensor) -> Any:
        P = dict(self.fixed)
        P.update(zip(self.names, self.weights, strict=True))
        return forward_batched(P, x, self.cfg)
