"""Probe a model of your own with `vrx probe run --model MODULE:FACTORY`.

The probe's timing, gates, artifacts and events are the same as for the ring-pointer workload;
only the model and its batch change. The factory receives the resolved workload specs and
--out-dim and returns ``(model, make_batch)``; ``make_batch(batch_size, device)`` returns the
``(x, y)`` reused on every step, and the loss is ``cross_entropy(logits, y)`` (``logits`` is the
model's output, or its first element when it returns a tuple).

Run it on the CPU in a few seconds (the spec's seq_len counts tokens for tokens/s):

    PYTHONPATH=examples vrx probe run --model probe_own_model:make_encoder \\
        --ant '{"ring_len": 64, "slot_dim": 32, "ptr_dtype": "fp32", "precision": "fp32"}' \\
        --colony '{"seq_len": 32, "synth_len": 32, "batch_size": 8, "ptr_update_every": 1,
                   "state_loop_samples": 0}' \\
        --out-dim 1 --batch 8 --warmup-steps 2 --measure-steps 5 --precision fp32 --amp 0 \\
        --output-dir runs/own-model
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

VOCAB = 256


class TinyEncoder(nn.Module):
    """A byte-level nn.TransformerEncoder that classifies a sequence from its mean embedding."""

    def __init__(self, width: int, layers: int, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=4 * width, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


def make_encoder(*, ant_spec: dict[str, Any], colony_spec: dict[str, Any], out_dim: int) -> Any:
    """The factory: slot_dim sets the width, out_dim the number of layers, synth_len the length."""
    model = TinyEncoder(width=int(ant_spec["slot_dim"]), layers=out_dim, classes=VOCAB)
    length = int(colony_spec["synth_len"])

    def make_batch(batch_size: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, VOCAB, (batch_size, length), device=device)
        y = torch.randint(0, VOCAB, (batch_size,), device=device)
        return x, y

    return model, make_batch
