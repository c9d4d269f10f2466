"""The assoc-byte task of ORIGINS 2.6, generated for all samples at once (torch, no per-sample loop).

A sample is a float sequence ``[seq_len, 1]`` of zeros holding ``pairs`` key/value pairs at
adjacent positions ``(p, p + 1)``, ``p`` in ``0 .. seq_len - 3``, no two pairs overlapping; key
token ``2 + key_id`` (``key_id`` in ``[0, keys)``), value token ``-(val + 1)`` (``val`` in
``[0, val_range)``); the last position holds the key token of one pair chosen uniformly (the
query) and the label is that pair's ``val``. Key ids are drawn independently, so two pairs may
share a key (the original does not make them unique either).

Placement. The original walks a shuffled list of all starts and keeps each start that does not
overlap one already kept, until ``pairs`` are kept. Every start skipped overlapped a kept one
and still does, and the starts not yet seen come in uniformly random order, so each kept start is
uniform over the starts that are still free: random sequential adsorption. That is what this
module does, one pair at a time for all samples: draw a start uniformly among each sample's free
starts (``torch.multinomial`` over the free mask), then mark it and both neighbours taken (a
start ``c`` overlaps ``p`` exactly when ``|c - p| <= 1``). Non-overlap holds by construction.
When some sample has no free start left the whole set is made again ``max(2, pairs) * 2`` longer,
at most 5 times, as the original bumps; a length under ``2 * pairs + 1`` is first raised to that.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

MAX_BUMPS = 5
KEY_BASE = 2


class TaskError(ValueError):
    """Task knobs outside their limits, or pairs that could not be placed after every bump."""


@dataclass(frozen=True)
class AssocTask:
    keys: int
    pairs: int
    val_range: int
    seq_len: int

    @property
    def min_len(self) -> int:
        return 2 * self.pairs + 1

    @property
    def bump(self) -> int:
        return max(2, self.pairs) * 2


@dataclass(frozen=True)
class AssocSet:
    """Generated samples: ``x`` [rows, seq_len, 1] float32, ``y`` [rows] int64."""

    x: Tensor
    y: Tensor
    seq_len: int
    bumps: int

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])

    def head(self, rows: int) -> AssocSet:
        """The first ``rows`` samples (all of them when there are fewer)."""
        return AssocSet(self.x[:rows], self.y[:rows], self.seq_len, self.bumps)


def task_problems(task: AssocTask) -> list[str]:
    """Why these knobs cannot make a task (empty when they can)."""
    limits = (("keys", task.keys, 2), ("pairs", task.pairs, 1), ("val_range", task.val_range, 2))
    problems = [f"{name} must be >= {low}, got {value}" for name, value, low in limits if value < low]
    if task.seq_len < 1:
        problems.append(f"seq_len must be >= 1, got {task.seq_len}")
    return problems


def generate(task: AssocTask, rows: int, generator: torch.Generator) -> AssocSet:
    """``rows`` samples of ``task``, drawn from ``generator`` (a CPU generator; same seed, same set)."""
    if problems := task_problems(task):
        raise TaskError("; ".join(problems))
    if rows < 1:
        raise TaskError(f"rows must be >= 1, got {rows}")
    seq_len = max(task.seq_len, task.min_len)
    for bumps in range(MAX_BUMPS + 1):
        made = _build(task, rows, seq_len, generator)
        if made is not None:
            return AssocSet(made[0], made[1], seq_len, bumps)
        seq_len += task.bump
    raise TaskError(
        f"could not place {task.pairs} non-overlapping pairs after {MAX_BUMPS} length bumps "
        f"(last tried seq_len {seq_len - task.bump})"
    )


def _build(task: AssocTask, rows: int, seq_len: int, g: torch.Generator) -> tuple[Tensor, Tensor] | None:
    starts = _place(rows, seq_len - 2, task.pairs, g)
    if starts is None:
        return None
    key_ids = torch.randint(0, task.keys, (rows, task.pairs), generator=g)
    vals = torch.randint(0, task.val_range, (rows, task.pairs), generator=g)
    query = torch.randint(0, task.pairs, (rows, 1), generator=g)
    key_tokens = (key_ids + KEY_BASE).to(torch.float32)
    x = torch.zeros(rows, seq_len, dtype=torch.float32)
    x.scatter_(1, starts, key_tokens)
    x.scatter_(1, starts + 1, -(vals + 1).to(torch.float32))
    x[:, -1] = key_tokens.gather(1, query).squeeze(1)
    y = vals.gather(1, query).squeeze(1)
    return x.unsqueeze(2), y


def _place(rows: int, n_starts: int, pairs: int, g: torch.Generator) -> Tensor | None:
    """[rows, pairs] starts, each uniform over the starts still free; None if some row runs out."""
    if n_starts < 1:
        return None
    free = torch.ones(rows, n_starts, dtype=torch.bool)
    starts = torch.empty(rows, pairs, dtype=torch.long)
    row = torch.arange(rows)
    for k in range(pairs):  # a loop over pairs, never over samples
        if not bool(free.any(dim=1).all()):
            return None
        picked = torch.multinomial(free.to(torch.float32), 1, generator=g).squeeze(1)
        starts[:, k] = picked
        for offset in (-1, 0, 1):
            free[row, (picked + offset).clamp(0, n_starts - 1)] = False
    return starts
