"""The ring-pointer network (``ring_pointer_workload.md``): parameters, initialisation and forward.

Parameters, buffers and their state_dict keys are the original's (spec section 2), so a checkpoint
of VRAXION's ``AbsoluteHallway`` at this configuration loads with ``strict=True`` and back. Modules
are built and initialised in the order the original's code does it, so that under the same
``torch.manual_seed`` the two draw the same initial weights (read from its code, not run against it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .compact import CompactMemory
from .dense import DenseMemory
from .gru import GruCell
from .pointer import PointerPath

NUM_CLASSES = 256
VARIANTS = ("dense", "compact")
CONTEXT_INIT = 0.2
HIST_BINS = 128


class ExpertHeads(nn.Module):
    """E linear heads [C, D]; each sample uses the head its expert id names.

    Keys are ``single.*`` for one head and ``experts.{i}.*`` for several, as the original's router.
    Several heads are evaluated by gathering each sample's weights (one bmm), not per-expert masks.
    """

    def __init__(self, dim: int, classes: int, experts: int) -> None:
        super().__init__()
        self.num_experts = experts
        self.single = nn.Linear(dim, classes) if experts == 1 else None
        self.experts = (
            None if experts == 1 else nn.ModuleList(nn.Linear(dim, classes) for _ in range(experts))
        )

    def linears(self) -> list[nn.Linear]:
        heads = [self.single] if self.experts is None else list(self.experts)
        assert all(isinstance(m, nn.Linear) for m in heads)
        return heads  # type: ignore[return-value]  # checked just above

    def reset_parameters(self) -> None:
        for linear in self.linears():
            _xavier(linear)

    def forward(self, v: Tensor, expert: Tensor) -> Tensor:
        if self.single is not None:
            return F.linear(v, self.single.weight, self.single.bias)
        experts = self.linears()
        weight = torch.stack([m.weight for m in experts])[expert]  # [B, C, D]
        bias = torch.stack([m.bias for m in experts])[expert]
        return torch.bmm(weight, v.unsqueeze(2)).squeeze(2) + bias


class RingPointerNet(nn.Module):
    """The probe's model: ``forward(x [B, T, 1]) -> (logits [B, C], move_penalty)``, C = 256 for the probe.

    ``variant`` picks the state: ``dense`` (the original's [B, R, D] memory profile) or
    ``compact`` (O(B T D), spec section 6). ``ptr_update_every`` and ``state_loop_samples`` are set
    by the probe after construction, as the original's are; state-loop telemetry does not change
    outputs and is not computed.
    """

    state_loop_proj: Tensor
    router_map: Tensor
    bin_edges: Tensor

    def __init__(
        self,
        ring_len: int,
        slot_dim: int,
        experts: int,
        ptr_dtype: torch.dtype,
        variant: str,
        *,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        self.ring_len, self.slot_dim, self.num_experts = ring_len, slot_dim, experts
        self.sensory_dim = max(8, slot_dim // 3)
        self.sensory_len = max(1, ring_len // 2)
        self.ptr_dtype = ptr_dtype
        self.variant = variant
        self.ptr_update_every = 1
        self.state_loop_samples = 0
        self.register_buffer("state_loop_proj", torch.empty(0))
        # Construction order is the original's: nn.Linear and nn.GRUCell draw their default init.
        self.sensory_proj_in = nn.Linear(1, self.sensory_dim)
        self.sensory_gru = nn.GRUCell(self.sensory_dim, self.sensory_dim)
        self.sensory_bridge = nn.Linear(self.sensory_dim, slot_dim)
        self.input_proj = nn.Linear(1, slot_dim)  # unused while the sensory ring is on, as in the original
        self.gru = nn.GRUCell(slot_dim, slot_dim)
        self.jump_score = nn.Linear(slot_dim, 1)
        self.inertia_head = nn.Linear(slot_dim, 1)
        self.deadzone_head = nn.Linear(slot_dim, 1)
        self.walk_head = nn.Linear(slot_dim, 1)
        self.theta_ptr_reduced = nn.Parameter(torch.zeros(ring_len))
        self.theta_gate_reduced = nn.Parameter(torch.zeros(ring_len))
        self.head = ExpertHeads(slot_dim, num_classes, experts)
        self.register_buffer("router_map", torch.arange(ring_len, dtype=torch.long) % experts)
        logit = math.log(CONTEXT_INIT / (1.0 - CONTEXT_INIT))
        self.context_logit = nn.Parameter(torch.tensor(logit, dtype=torch.float32))
        self.register_buffer("bin_edges", torch.linspace(0, float(ring_len), HIST_BINS + 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Spec section 2's inits, drawn in the original's order."""
        nn.init.uniform_(self.theta_ptr_reduced, -4.0, 4.0)
        nn.init.uniform_(self.theta_gate_reduced, -0.5, 0.5)
        _xavier(self.input_proj)
        _xavier(self.sensory_proj_in)
        for w in (self.sensory_gru.weight_ih, self.sensory_gru.weight_hh):
            nn.init.normal_(w, mean=0.0, std=0.05)
        for b in (self.sensory_gru.bias_ih, self.sensory_gru.bias_hh):
            nn.init.zeros_(b)
        _xavier(self.sensory_bridge)
        # Weaker recurrent weights on longer rings keep the accumulated state from running away.
        f = max(0.0, min(1.0, self.ring_len / 200.0))
        for w in (self.gru.weight_ih, self.gru.weight_hh):
            nn.init.normal_(w, mean=0.0, std=0.1 - 0.05 * f)
        for b in (self.gru.bias_ih, self.gru.bias_hh):
            nn.init.constant_(b, 0.5 - 0.3 * f)
        _xavier(self.jump_score)
        self.head.reset_parameters()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() != 3 or x.shape[2] != 1:
            raise ValueError(f"x must have shape [B, T, 1], got {tuple(x.shape)}")
        batch, steps = x.shape[0], x.shape[1]
        if steps < 1:
            raise ValueError("x must have at least one time step")
        every = int(self.ptr_update_every)
        if every < 1:
            raise ValueError(f"ptr_update_every must be >= 1, got {every}")
        pointer = self._pointer(batch, x.device)  # first: it makes the forward pass's first random draw
        inputs = self._sensory(x)  # [T, B, D]
        memory: DenseMemory | CompactMemory
        if self.variant == "dense":
            memory = DenseMemory(batch, self.ring_len, self.slot_dim, x)
        else:
            memory = CompactMemory(batch, steps, self.slot_dim, x)
        context = torch.sigmoid(self.context_logit).to(inputs.dtype)
        cell = self._cell(x)
        h = x.new_zeros(batch, self.slot_dim)
        for t, a_t in enumerate(inputs.unbind(0)):
            centres, weights = pointer.kernel()
            h = cell(a_t + context * memory.read(t, centres, weights).to(inputs.dtype), h)
            memory.write(t, centres, weights, h)
            if t % every == 0:
                pointer.advance(h)
            else:
                pointer.hold()
        slot = pointer.readout_slot()
        read = memory.read_slot(slot).to(h.dtype)
        logits = self.head(read + h, self.router_map[slot] % self.num_experts)
        return logits, pointer.move_penalty()

    def _cell(self, x: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
        """The main GRU cell for this pass: batched weight gradient, or ATen's cell under autocast.

        Autocast picks each op's dtype, and ``GruCell``'s hand-written backward assumes one dtype
        throughout, so under autocast (the probe's ``--amp 1`` on CUDA) the plain cell runs.
        """
        gru = self.gru
        if torch.is_autocast_enabled(x.device.type):
            return lambda inp, h: torch.gru_cell(
                inp, h, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh
            )
        return GruCell(gru).step

    def _pointer(self, batch: int, device: torch.device) -> PointerPath:
        heads = (self.inertia_head, self.deadzone_head, self.walk_head, self.jump_score)
        return PointerPath(
            ring_len=self.ring_len,
            dtype=self.ptr_dtype,
            batch=batch,
            device=device,
            targets=torch.stack(
                (torch.sigmoid(self.theta_ptr_reduced) * float(self.ring_len - 1), self.theta_gate_reduced)
            ),
            heads=(torch.cat([m.weight for m in heads]), torch.cat([m.bias for m in heads])),
        )

    def _sensory(self, x: Tensor) -> Tensor:
        """a_t = tanh(W_br s_t + b_br) [T, B, D], s the sensory GRU over u_t = tanh(W_sp x_t + b_sp).

        With r_t = s_{t-Ls} fed back, the inputs of each block of Ls steps are known once the block
        before it has run, so the recurrence runs as one fused GRU call per block (one call when
        T <= Ls, the case of every OD1 template, where r_t = 0).
        """
        u = torch.tanh(self.sensory_proj_in(x)).transpose(0, 1).contiguous()  # [T, B, Ds]
        g = self.sensory_gru
        params = (g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh)
        s_prev = u.new_zeros(1, u.shape[1], self.sensory_dim)
        blocks: list[Tensor] = []
        for start in range(0, u.shape[0], self.sensory_len):
            block = u[start : start + self.sensory_len]
            if blocks:
                block = block + blocks[-1][: block.shape[0]]
            out, s_prev = torch.gru(block, s_prev, params, True, 1, 0.0, self.training, False, False)
            blocks.append(out)
        s = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        return torch.tanh(self.sensory_bridge(s))

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        # With state-loop metrics on, the original registers state_loop_proj as [D, 8]; take its shape.
        incoming = state_dict.get(prefix + "state_loop_proj")
        if isinstance(incoming, Tensor) and incoming.shape != self.state_loop_proj.shape:
            self.state_loop_proj = torch.empty_like(incoming, device=self.state_loop_proj.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _xavier(linear: nn.Linear) -> None:
    nn.init.xavier_uniform_(linear.weight)
    nn.init.zeros_(linear.bias)
