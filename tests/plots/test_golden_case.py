"""The golden case ``tests/golden/plots_train``: how its log was recorded, and what it must hold.

Re-record the golden log (then ``python tests/golden/regen.py plots_train`` and review the diff)::

    python tests/plots/test_golden_case.py tests/golden/plots_train
"""

from __future__ import annotations

import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from vrx_core.events import Metric, Params
from vrx_core.log.reader import read_events
from vrx_core.log.writer import Recorder

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plots_train"
STEPS = 30
NAN_STEP = 17  # the loss blows up here: NaN loss, +Inf grad norm
VAL_EVERY = 10


def train_loss(step: int) -> float:
    return math.nan if step == NAN_STEP else 4.0 * math.exp(-step / 8.0) + 0.3 + 0.05 * math.sin(step)


def record(root: Path) -> Path:
    """Record the training-shaped run under ``root``; return its directory."""
    run = root / "plots_train"
    with Recorder(run, name="golden", environment=False, summary=False, derive=False) as rec:
        rec.emit(Params(values={"learning_rate": 3e-4, "max_steps": STEPS, "seed": 7}))
        for step in range(STEPS):
            time.sleep(0.005)
            rec.emit(Metric("train/loss", train_loss(step), step))
            rec.emit(Metric("train/lr", 3e-4 * min(1.0, (step + 1) / 5), step))
            rec.emit(Metric("grad_norm", math.inf if step == NAN_STEP else 1.0 + 0.1 * (step % 4), step))
            if step % VAL_EVERY == VAL_EVERY - 1:
                rec.emit(Metric("val/loss", train_loss(step) + 0.2, step))
    return run


def test_the_golden_log_is_what_the_script_records() -> None:
    """Same metrics, steps and values (NaN and Inf in place) as a fresh recording; times differ."""
    metrics = [e for e in read_events(GOLDEN) if isinstance(e, Metric)]
    with tempfile.TemporaryDirectory() as tmp:
        fresh = [e for e in read_events(record(Path(tmp))) if isinstance(e, Metric)]

    def key(e: Metric) -> tuple[str, int | None, str]:
        return (e.name, e.step, repr(e.value))

    assert [key(e) for e in metrics] == [key(e) for e in fresh]
    assert sum(math.isnan(e.value) for e in metrics) == 1
    assert sum(math.isinf(e.value) for e in metrics) == 1


def test_the_golden_case_pins_one_png_per_metric() -> None:
    assert sorted(p.name for p in (GOLDEN / "plots").iterdir()) == [
        "grad_norm.png", "train%2Floss.png", "train%2Flr.png", "val%2Floss.png",
    ]


def main(case: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = record(Path(tmp))
        case.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run / "events.jsonl", case / "events.jsonl")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
