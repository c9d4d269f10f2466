"""Runs for the query tests, recorded with the real Recorder, and what their logs say read directly.

Also records the golden case ``tests/golden/query_train`` (then regenerate its expected files and
review the diff)::

    python tests/query/_query_runs.py tests/golden/query_train
    python tests/golden/regen.py query_train
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vrx_core import Recorder, read_events
from vrx_core.engine.replay import replay
from vrx_core.events import Metric, Params
from vrx_core.hooks.manager import PluginSet, Selection

NAN, INF = math.nan, math.inf


def record(
    run: Path,
    *,
    lr: float,
    losses: Sequence[float],
    rank: int | None = None,
    world: int | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """A training-shaped run: params, a loss per step, an accuracy every other step, a final eval."""
    ranks = {} if rank is None else {"rank": rank, "world_size": world, "local_rank": rank}
    with Recorder(run, environment=False, durability="os", derive=False, **ranks) as rec:
        rec.emit(Params(values={"lr": lr, "batch": 32, "model": {"depth": 2}, **(extra or {})}))
        emit_steps(rec, losses)
        rec.emit(Metric(name="eval/loss", value=losses[-1] * 1.5, step=len(losses)))


def emit_steps(rec: Recorder, losses: Sequence[float], first: int = 1) -> None:
    for step, loss in enumerate(losses, start=first):
        rec.emit(Metric(name="train/loss", value=loss, step=step))
        if step % 2 == 0:
            rec.emit(Metric(name="train/acc", value=1.0 - 1.0 / step, step=step))


def make_root(root: Path) -> dict[str, Path]:
    """Four runs: three single-process (one with NaN and Inf losses), one of two ranks."""
    runs = {
        "sweep/lr-1e-3": root / "sweep" / "lr-1e-3",
        "sweep/lr-1e-2": root / "sweep" / "lr-1e-2",
        "nan": root / "nan",
        "ddp": root / "ddp",
    }
    record(runs["sweep/lr-1e-3"], lr=1e-3, losses=[2.0, 1.5, 1.2, 1.1, 1.05])
    record(runs["sweep/lr-1e-2"], lr=1e-2, losses=[2.0, 1.2, 0.9, 0.95])
    record(runs["nan"], lr=1e-1, losses=[2.0, NAN, INF, -INF, 3.0], extra={"note": "diverged"})
    for r in (0, 1):
        record(runs["ddp"], lr=1e-3, losses=[1.0 + r, 0.5 + r, 0.25 + r], rank=r, world=2)
    return runs


def replay_with_query(run: Path) -> None:
    replay(run, PluginSet.load(Selection(only={"query"})))


def points(run: Path) -> list[dict[str, Any]]:
    """Every metric point of ``run``, read with the CRC-checked reader, as ``--json`` spells it."""
    found = []
    for e in read_events(run):
        if isinstance(e, Metric):
            found.append(
                {
                    "rank": e.rank,
                    "seq": e.seq,
                    "step": e.step,
                    "t": e.t,
                    "name": e.name,
                    "value": spelled(e.value),
                }
            )
    return found


def spelled(v: float) -> Any:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def golden(case: Path) -> None:
    """The golden log: params (lr 1e-3), loss with a NaN at step 3, accuracy, an eval loss."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / case.name  # the run_id is the directory's name
        record(run, lr=1e-3, losses=[2.5, 1.75, NAN, 1.25, 1.0, 0.875], extra={"optimizer": "adamw"})
        shutil.copyfile(run / "events.jsonl", case / "events.jsonl")
    print(f"recorded {case / 'events.jsonl'}; now run: python tests/golden/regen.py {case.name}")


if __name__ == "__main__":
    golden(Path(sys.argv[1]))
