"""Record a small training loop: params, per-step metrics, structlog logs and a checkpoint.

    python examples/record_training_loop.py runs/train-demo
    vrx events runs/train-demo --type metric | tail -3
    vrx replay runs/train-demo --plugins-dir examples/    # adds ema.json

The model is a two-parameter logistic regression trained by SGD in pure Python, so the example
runs anywhere; a torch loop records the same way.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import structlog

from vrx_core import Recorder, structlog_processor
from vrx_core.events import Checkpoint, Metric, Params


def make_data(n: int, rng: random.Random) -> list[tuple[float, int]]:
    return [(x, int(x + rng.gauss(0, 0.5) > 0.3)) for x in (rng.uniform(-2, 2) for _ in range(n))]


def main(run_dir: str) -> None:
    config = {"lr": 0.5, "epochs": 30, "batch": 16, "seed": 7}
    rng = random.Random(config["seed"])
    data = make_data(256, rng)
    with Recorder(run_dir, name="logistic regression demo") as rec:
        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog_processor(rec),
                structlog.dev.ConsoleRenderer(colors=False),
            ]
        )
        log = structlog.get_logger("train")
        rec.emit(Params(values=config))
        w = b = 0.0
        step = 0
        for epoch in range(config["epochs"]):
            rng.shuffle(data)
            for i in range(0, len(data), config["batch"]):
                batch = data[i : i + config["batch"]]
                grads = [(1 / (1 + math.exp(-(w * x + b))) - y, x) for x, y in batch]
                w -= config["lr"] * sum(g * x for g, x in grads) / len(batch)
                b -= config["lr"] * sum(g for g, _ in grads) / len(batch)
                step += 1
            loss = -sum(
                math.log(max(1e-12, p if y else 1 - p))
                for x, y in data
                for p in [1 / (1 + math.exp(-(w * x + b)))]
            ) / len(data)
            acc = sum((w * x + b > 0) == bool(y) for x, y in data) / len(data)
            rec.emit(Metric("train/loss", loss, step))
            rec.emit(Metric("train/acc", acc, step))
            if epoch % 10 == 9:
                log.info("epoch done", epoch=epoch, loss=round(loss, 4), acc=acc)
        ckpt = Path(run_dir) / "checkpoints" / "last.json"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_text(json.dumps({"w": w, "b": b}))
        rec.emit(Checkpoint(path="checkpoints/last.json", step=step, size_bytes=ckpt.stat().st_size))
    structlog.reset_defaults()
    print(f"recorded {run_dir}: final loss {loss:.4f}, acc {acc:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/train-demo")
