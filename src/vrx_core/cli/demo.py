"""``vrx demo``: record a small training run, verify it, replay it, and show what came out.

The demo fits ``y = 3x - 1`` by gradient descent in pure Python, so it needs no torch; it records
params, per-step metrics, structlog entries and a checkpoint, exactly as a real script would.
Plugins add their own demo runs through the ``vrx_demo`` hook (e.g. a simulated camera capture).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

import structlog

from vrx_core.engine.replay import replay
from vrx_core.engine.verify import verify_log
from vrx_core.errors import ExitCode
from vrx_core.events import Checkpoint, Metric, Params, event_tag
from vrx_core.hooks.manager import PluginSet
from vrx_core.integrations.structlog_sink import structlog_processor
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import RunDir
from vrx_core.log.writer import Recorder


def record_training(run_dir: Path, steps: int = 60, seed: int = 0) -> None:
    """A tiny SGD loop recorded the way a user's script records one."""
    rng = random.Random(seed)
    data = [(x, 3 * x - 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(64))]
    lr = 0.1
    with Recorder(run_dir, name="demo: fit y = 3x - 1") as rec:
        log = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[structlog.processors.add_log_level, structlog_processor(rec)],
        )
        rec.emit(Params(values={"lr": lr, "steps": steps, "seed": seed, "model": "linear"}))
        w, b = 0.0, 0.0
        for step in range(1, steps + 1):
            gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
            gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
            w, b = w - lr * gw, b - lr * gb
            loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
            rec.emit(Metric("train/loss", loss, step))
            if step % 20 == 0:
                rec.emit(Metric("weight/w", w, step))
                log.info("progress", step=step, loss=round(loss, 5))
        ckpt = run_dir / "checkpoints" / "last.json"
        ckpt.parent.mkdir(exist_ok=True)
        ckpt.write_text(json.dumps({"w": w, "b": b}) + "\n")
        rec.emit(Checkpoint(path="checkpoints/last.json", step=steps, size_bytes=ckpt.stat().st_size))
        log.info("done", w=round(w, 4), b=round(b, 4))


def run_demo(args: argparse.Namespace) -> int:
    plugins: PluginSet = args.plugins
    parent = Path(args.out)
    run_dir = RunDir.fresh(parent, "demo").root
    print(f"recording a demo training run into {run_dir} ...")
    record_training(run_dir)
    verdict = verify_log(run_dir, registry=plugins.registry)
    print(f"verify: {verdict.headline()}")
    reader = LogReader(run_dir, registry=plugins.registry)
    kinds: Counter[str] = Counter()
    last: dict[str, float] = {}
    for ev in reader:
        kinds[event_tag(ev)] += 1
        if isinstance(ev, Metric):
            last[ev.name] = ev.value
    print("recorded: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    for name, value in sorted(last.items()):
        print(f"  last {name} = {value:.6g}")
    result = replay(run_dir, plugins)
    print(f"derived by replay ({', '.join(sorted(plugins.infos)) or 'no plugins'}):")
    for rel, plugin in sorted(result.files.items()):
        print(f"  {run_dir / rel}  ({plugin})")
    print(f"  {run_dir / 'derived.json'}  (provenance)")
    for line in plugins.demo(parent):
        print(line)
    print(f"try: vrx events {run_dir} --type metric | tail -3; vrx replay --check {run_dir}")
    code = max(int(verdict.exit_code), int(result.exit_code))
    return int(ExitCode.OK) if code == 0 else code

