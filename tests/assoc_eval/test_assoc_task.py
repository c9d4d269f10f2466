"""The assoc-byte generator against ORIGINS 2.6: layout, ranges, query and label, placement, bumps."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
import torch

from vrx_plugins.assoc_eval.task import AssocTask, TaskError, generate, task_problems

TASK = AssocTask(keys=64, pairs=4, val_range=256, seq_len=32)


def _make(task: AssocTask = TASK, rows: int = 2000, seed: int = 0):
    return generate(task, rows, torch.Generator().manual_seed(seed))


def _pairs(x_row: list[float]) -> list[tuple[int, float, float]]:
    """(position, key token, value token) of every key in the body (not the query at the end)."""
    return [(p, x_row[p], x_row[p + 1]) for p in range(len(x_row) - 1) if x_row[p] >= 2]


def test_layout_ranges_query_and_label() -> None:
    data = _make()
    assert data.x.shape == (2000, 32, 1) and data.x.dtype == torch.float32
    assert data.y.dtype == torch.int64 and data.seq_len == 32 and data.bumps == 0
    for row, label in zip(data.x[:, :, 0].tolist(), data.y.tolist(), strict=True):
        pairs = _pairs(row)
        assert len(pairs) == TASK.pairs
        starts = [p for p, _, _ in pairs]
        assert all(0 <= p <= TASK.seq_len - 3 for p in starts)  # p from range(0, seq_len - 3 + 1)
        assert all(b - a >= 2 for a, b in itertools.pairwise(starts))  # no overlap
        assert all(2 <= k <= TASK.keys + 1 and k == int(k) for _, k, _ in pairs)  # 2 + key_id
        assert all(-TASK.val_range <= v <= -1 and v == int(v) for _, _, v in pairs)  # -(val + 1)
        body = row[:-1]
        assert sum(1 for t in body if t != 0) == 2 * TASK.pairs  # nothing else in the sequence
        query = row[-1]
        assert query in [k for _, k, _ in pairs]  # the query is one of the pairs' keys
        assert -(label + 1) in [v for _, k, v in pairs if k == query]  # and the label its value
        assert 0 <= label < TASK.val_range


def test_keys_values_and_query_are_uniform() -> None:
    data = _make(AssocTask(keys=4, pairs=3, val_range=5, seq_len=12), rows=6000, seed=3)
    x = data.x[:, :-1, 0]
    keys = Counter(int(k) - 2 for k in x[x >= 2].tolist())
    vals = Counter(-int(v) - 1 for v in x[x < 0].tolist())
    assert sorted(keys) == [0, 1, 2, 3] and sorted(vals) == [0, 1, 2, 3, 4]
    assert max(keys.values()) / min(keys.values()) < 1.1
    assert max(vals.values()) / min(vals.values()) < 1.1
    # The query picks a pair uniformly: its key's position ranks uniformly among the three pairs.
    ranks = Counter()
    for row in data.x[:, :, 0].tolist():
        keys_in_order = [k for _, k, _ in _pairs(row)]
        if len(set(keys_in_order)) == 3:
            ranks[keys_in_order.index(row[-1])] += 1
    assert max(ranks.values()) / min(ranks.values()) < 1.15


def _reference_starts(seq_len: int, pairs: int, rng: random.Random) -> list[int] | None:
    """The original's placement as ORIGINS describes it, one sample at a time (the test's oracle)."""
    starts = list(range(seq_len - 3 + 1))
    rng.shuffle(starts)
    used: set[int] = set()
    kept: list[int] = []
    for cand in starts:
        if cand in used or cand + 1 in used:
            continue
        used.update((cand, cand + 1))
        kept.append(cand)
        if len(kept) == pairs:
            return kept
    return None


def test_placement_distribution_matches_the_original_procedure() -> None:
    """Occupied start positions: the vectorised sampler and the shuffled greedy walk agree.

    Placement is not flat over positions (the two edge starts are taken more often), so this
    compares the per-position frequencies of the two procedures, not each against a flat one.
    """
    seq_len, pairs, rows = 10, 3, 20000
    data = _make(AssocTask(keys=2, pairs=pairs, val_range=2, seq_len=seq_len), rows=rows, seed=5)
    ours = Counter(int(p) for p in (data.x[:, :-1, 0] >= 2).nonzero()[:, 1].tolist())
    rng = random.Random(5)
    theirs: Counter[int] = Counter()
    for _ in range(rows):
        kept = _reference_starts(seq_len, pairs, rng)
        assert kept is not None  # 8 starts, each kept one blocks at most 3: three always fit
        theirs.update(kept)
    assert set(ours) == set(theirs) == set(range(seq_len - 2))
    for pos in theirs:
        assert abs(ours[pos] - theirs[pos]) / (rows * pairs) < 0.01, (pos, ours[pos], theirs[pos])


def test_same_seed_same_set_other_seed_other_set() -> None:
    a, b, c = _make(seed=7, rows=64), _make(seed=7, rows=64), _make(seed=8, rows=64)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_short_length_is_raised_to_min_len_and_failed_placement_bumps() -> None:
    # pairs=2 at the minimum length 5 fits only starts {0, 2}: most rows fail, so the length is
    # bumped by max(2, pairs) * 2 = 4 until every row fits.
    data = _make(AssocTask(keys=3, pairs=2, val_range=3, seq_len=1), rows=200)
    assert data.seq_len == 5 + 4 * data.bumps and data.bumps >= 1
    one = _make(AssocTask(keys=3, pairs=1, val_range=3, seq_len=1), rows=50)
    assert one.seq_len == 3 and one.bumps == 0  # 2 * pairs + 1, where one pair always fits


def test_limits() -> None:
    assert task_problems(AssocTask(keys=1, pairs=0, val_range=1, seq_len=0)) == [
        "keys must be >= 2, got 1",
        "pairs must be >= 1, got 0",
        "val_range must be >= 2, got 1",
        "seq_len must be >= 1, got 0",
    ]
    with pytest.raises(TaskError, match="pairs must be >= 1"):
        _make(AssocTask(keys=2, pairs=0, val_range=2, seq_len=8))
    with pytest.raises(TaskError, match="rows must be >= 1"):
        _make(rows=0)
