"""What recording costs the probe: throughput with and without the recorder, interleaved.

The floor is the simplest loop that does the probe's work with the same libraries: the training
step of spec section 4 on a fixed batch, timed with perf_counter (CUDA events on a GPU) and the
loss read to check it is finite. The recorded side is vrx's own measure loop (``ProbeLoop``):
the same steps, plus the heartbeat watchdog thread, one ``probe.step`` event per step into a real
``events.jsonl`` and the allocator figures on CUDA. Both sides build the same model from the same
seed; rounds interleave the sides (floor first in even rounds, recorded first in odd ones) and the
table reports median samples/s of each side and the median of the per-round ratios. Target: under
1% difference.

Prints a table and writes bench/results/probe_overhead.json.

    python bench/probe_overhead.py [--rounds 7] [--steps 40] [--device auto|cpu|cuda]
                                   [--shape small|od1_small]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.log.writer import Recorder
from vrx_plugins.gpu_probe.args import ProbeArgs
from vrx_plugins.gpu_probe.runner import ProbeLoop
from vrx_plugins.gpu_probe.watchdog import Heartbeat
from vrx_plugins.gpu_probe.workload import Workload, synthetic_batch
from vrx_plugins.workloads.ring import build_model

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {
    # A shape whose CPU step takes tens of ms, so a round of --steps finishes in seconds.
    "small": ({"ring_len": 256, "slot_dim": 64, "ptr_dtype": "fp64", "precision": "fp32"}, 32, 4),
    "od1_small": ({"ring_len": 2048, "slot_dim": 256, "ptr_dtype": "fp64", "precision": "fp32"}, 128, 4),
}


def make_model(ant: dict[str, Any], seed: int) -> Any:
    torch.manual_seed(seed)
    return build_model(ant, 1, variant="dense")


def floor_round(ant: dict[str, Any], synth_len: int, batch: int, steps: int, device: str) -> float:
    """Samples/s of the bare loop: no recorder, no watchdog."""
    model = make_model(ant, 0).to(device)
    model.train(True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = synthetic_batch(synth_len)(batch, device)
    cuda = device == "cuda"

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x)[0].float(), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    step()  # first-step allocations, as the recorded side's warmup step
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            value = step()
            end.record()
            start.elapsed_time(end)
        else:
            s0 = time.perf_counter()
            value = step()
            _ = time.perf_counter() - s0
        if not math.isfinite(value):
            break
    if cuda:
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def recorded_round(
    ant: dict[str, Any], synth_len: int, batch: int, steps: int, *, device: str, run_dir: Path
) -> float:
    """Samples/s of vrx's measure loop, recording every step into a real log."""
    plugins = PluginSet.load(Selection(only={"gpu_probe"}))
    args = ProbeArgs(
        ant="-", colony="-", out_dim=1, batch=batch, warmup_steps=1, measure_steps=steps,
        precision="fp32", amp=0, device=device,
    )
    with Recorder(run_dir, registry=plugins.registry, resume="never") as rec:
        hb = Heartbeat(lambda stall: None)
        hb.start()
        try:
            loop = ProbeLoop(rec, args, batch, hb)
            loop.run(torch, device, lambda: Workload(make_model(ant, 0), synthetic_batch(synth_len)))
        finally:
            hb.stop()
    wall = _measured_wall(run_dir / "events.jsonl")
    return steps * batch / wall


def _measured_wall(log: Path) -> float:
    for line in log.read_text().splitlines():
        ev = json.loads(line)
        if ev.get("type") == "probe.measured":
            return float(ev["wall_time_s"])
    raise RuntimeError(f"{log}: no probe.measured event")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ns = ap.parse_args()
    device = ns.device if ns.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    ant, synth_len, batch = SHAPES[ns.shape]
    floor: list[float] = []
    recorded: list[float] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(ns.rounds):
            # Alternate which side goes first, so neither always inherits a warmed allocator or cache.
            run_dir = Path(tmp) / f"run{n}"
            if n % 2:
                r = recorded_round(ant, synth_len, batch, ns.steps, device=device, run_dir=run_dir)
                f = floor_round(ant, synth_len, batch, ns.steps, device)
            else:
                f = floor_round(ant, synth_len, batch, ns.steps, device)
                r = recorded_round(ant, synth_len, batch, ns.steps, device=device, run_dir=run_dir)
            floor.append(f)
            recorded.append(r)
            ratios.append(r / f)
            print(f"round {n + 1}/{ns.rounds}: floor {f:.2f}  recorded {r:.2f} samples/s", file=sys.stderr)
    result = {
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "shape": ns.shape,
        "steps": ns.steps,
        "rounds": ns.rounds,
        "floor_samples_per_s_median": statistics.median(floor),
        "recorded_samples_per_s_median": statistics.median(recorded),
        "ratio_median": statistics.median(ratios),
        "overhead_percent": (1 - statistics.median(ratios)) * 100,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(f"\nprobe recording overhead ({device}, shape {ns.shape}, {ns.steps} steps x {ns.rounds} rounds)")
    print(f"{'side':<10} {'median samples/s':>18}")
    print(f"{'floor':<10} {result['floor_samples_per_s_median']:>18.2f}")
    print(f"{'recorded':<10} {result['recorded_samples_per_s_median']:>18.2f}")
    print(f"ratio recorded/floor (median of rounds): {result['ratio_median']:.4f}"
          f"  -> overhead {result['overhead_percent']:+.2f}%  (target < 1%)")
    RESULTS.mkdir(exist_ok=True)
    name = "probe_overhead.json" if device == "cpu" else f"probe_overhead_{device}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
