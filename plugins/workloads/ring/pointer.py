"""The pointer of one forward pass: its start draw, the read/write kernel and the update rule.

Spec sections 3.1 and 3.5. The operations follow the original's operand dtypes, so a pointer in fp16
or bf16 rounds as coarsely as the original's: the kernel and the walk run in the pointer dtype,
the jump target and gate in fp32 (``torch`` promotes the mixed terms), and the control heads are
evaluated in fp32 and cast to the pointer dtype. The update is written in the spec's form
(n = (p + omega) mod R, Delta = (1 - iota) wrap(q - p)), which is the original's algebra with fewer
operations; the two differ by rounding, and pointer paths are chaotic (spec section 6), so no
reimplementation follows the original's path bit for bit beyond a few steps anyway.

Facts of the original that the spec's equations leave out, kept here (and the tap distance of the
kernel, see ``kernel``):

* For a pointer dtype other than fp64 the original carries the pointer in fp64 between steps (its
  anchor + residual pair) and rounds it to the pointer dtype only for use. So sub-ulp moves add up
  instead of being rounded away, and a step that does not update the pointer resets the fp64 copy
  to the rounded value. In fp64 the carried copy equals the pointer, so none is kept.
* The deadzone is applied only when some sample's deadzone is above zero; when every softplus
  underflows to exactly 0 (a head output below about -17 in fp16) the pre-deadzone pointer is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

KERNEL_TAU = 8.0
DEADZONE_TAU = 0.25
INERTIA_MAX = 0.99
#: Taps of the read/write kernel, as offsets from floor(p).
KERNEL_OFFSETS = (-2, -1, 0, 1, 2)


class PointerPath:
    """The pointer p_t of every sample in one forward pass, and everything that moves it.

    ``targets`` is [2, R]: the jump targets ``(R - 1) sigmoid(theta_ptr_reduced)`` and the raw gate
    biases ``theta_gate_reduced``, evaluated once per forward so that each step only indexes them.
    ``heads`` is the weight [4, D] and bias [4] of the inertia, deadzone, walk and jump-score heads
    stacked, so that one matmul per step evaluates all four.
    """

    def __init__(
        self,
        *,
        ring_len: int,
        dtype: torch.dtype,
        batch: int,
        device: torch.device,
        targets: Tensor,
        heads: tuple[Tensor, Tensor],
    ) -> None:
        self.ring_len = ring_len
        self.half = ring_len / 2.0
        self.dtype = dtype
        self.targets = targets
        self.heads = heads
        # The start pointer is the forward pass's first random draw (the original's, too).
        self.p: Tensor = torch.rand(batch, dtype=dtype, device=device) * float(ring_len - 1)
        self.carried: Tensor | None = None if dtype == torch.float64 else self.p.double()
        self.path: list[Tensor] = [self.p]
        # arange, not torch.tensor(list): a host-to-device copy would synchronise a CUDA stream.
        self.offsets = torch.arange(KERNEL_OFFSETS[0], KERNEL_OFFSETS[-1] + 1, device=device)

    def wrap(self, z: Tensor) -> Tensor:
        """Signed ring distance in [-R/2, R/2): ((z + R/2) mod R) - R/2 with floor-mod."""
        return torch.remainder(z + self.half, self.ring_len) - self.half

    def kernel(self) -> tuple[Tensor, Tensor]:
        """Slots c [B, 5] (int64) around p_t and their Gaussian weights w [B, 5] (pointer dtype)."""
        base = torch.floor(self.p.detach()).long().clamp_(0, self.ring_len - 1)
        centres = torch.remainder(base.unsqueeze(1) + self.offsets, self.ring_len)
        # wrap(c - p), as the original: o - phi for R >= 6, measured around the ring on smaller ones.
        dist = self.wrap(centres.to(self.dtype) - self.p.unsqueeze(1))
        return centres, torch.softmax(dist.square() * (-1.0 / KERNEL_TAU), dim=1)

    def hold(self) -> None:
        """A step without a pointer update (t mod ptr_update_every != 0)."""
        if self.carried is not None:
            self.carried = self.p.double()
        self.path.append(self.p)

    def advance(self, h: Tensor) -> None:
        """A step with a pointer update, driven by the step's hidden state h [B, D]."""
        moved = self._moved(h)
        if self.carried is None:
            self.p = torch.remainder(moved, self.ring_len)
        else:
            self.carried = torch.remainder(self.carried + self.wrap(moved - self.p).double(), self.ring_len)
            self.p = torch.remainder(self.carried.to(self.dtype), self.ring_len)
        self.path.append(self.p)

    def _moved(self, h: Tensor) -> Tensor:
        """p after walk, jump, inertia and deadzone (spec 3.5), before it is stored."""
        p, ring = self.p, self.ring_len
        ctrl = F.linear(h, *self.heads)  # [B, 4]: inertia, deadzone, walk, jump score
        inertia = torch.sigmoid(ctrl[:, 0]).to(self.dtype).clamp(0.0, INERTIA_MAX)
        deadzone = F.softplus(ctrl[:, 1]).to(self.dtype)
        walk = torch.sigmoid(ctrl[:, 2]).to(self.dtype)
        target, gate = self._target(p)
        jump = torch.sigmoid(ctrl[:, 3] + gate)
        # Straight-through: round(theta) forward, identity gradient.
        target = (target.round() - target).detach() + target
        stepped = torch.remainder(p + walk, ring)
        jumped = torch.remainder(stepped + jump * self.wrap(target - stepped), ring)
        delta = (1.0 - inertia) * self.wrap(jumped - p)
        move = torch.sigmoid((delta.abs() - deadzone) / DEADZONE_TAU)
        return torch.remainder(p + torch.where((deadzone > 0).any(), move, 1.0) * delta, ring)

    def _target(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """theta and the gate bias at p, linearly interpolated between floor(p) and the next slot (fp32)."""
        pf = p.detach().float()
        base = torch.floor(pf)
        frac = pf - base
        lo = torch.remainder(base, self.ring_len).long()
        pair = self.targets[:, torch.stack((lo, torch.remainder(lo + 1, self.ring_len)))]  # [2, 2, B]
        mixed = pair[:, 0] + (pair[:, 1] - pair[:, 0]) * frac
        return mixed[0], mixed[1]

    def readout_slot(self) -> Tensor:
        """j = floor(p_T) clamped to [0, R - 1] (int64 [B]): the slot the logits read."""
        return (
            torch.floor(torch.remainder(self.p.detach(), self.ring_len)).clamp_(0, self.ring_len - 1).long()
        )

    def move_penalty(self) -> Tensor:
        """Mean over steps and samples of |wrap(p_{t+1} - p_t)| (the probe ignores it)."""
        path = torch.stack(self.path)
        return self.wrap(path[1:] - path[:-1]).abs().mean(dim=1).sum() / (len(self.path) - 1)
