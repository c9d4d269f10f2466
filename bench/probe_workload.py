"""Training-step time of the ring-pointer model: vrx's dense and compact variants against a reference.

The step is the probe's (spec section 4): Adam lr 1e-3, zero_grad(set_to_none=True),
cross_entropy(logits.float(), y), backward, step, on one fixed batch x = randn(B, T, 1),
y = randint(0, 256, (B,)). All sides start from the same weights.

The reference is ``tests/workloads/ring_reference.py``'s ``forward_batched``: the spec's equations
written straightforwardly and vectorised over the batch as the original is (one [B, R, D] state
rebuilt out of place each step, read with ``gather``, plain autograd), without the original's dead
work (telemetry, the unused per-step head call, host syncs). It is tested against a per-sample
reference and against vrx's model, so all sides compute the same function; it is a fairer and
faster baseline than the original itself (spec: 0.7-0.9 s per step at od1_small on 2 cores).

Sides run interleaved: each round runs --steps steps of every side in turn, the order rotating
from round to round, after --warmup steps each. The table reports the median step time per side
and the reference's median over each side's (ratio > 1: faster than the reference). "saved" is
the bytes autograd keeps for backward after one forward (unique storages): dense keeps the
original's per-step state copies (about 4 T B R D bytes), compact does not.

torch.compile is timed only with --compile (its first step compiles for a long time, and the ring
memory's autograd Functions are graph breaks; see docs/ring_model.md).

Prints a table and writes bench/results/probe_workload.json.

    python bench/probe_workload.py [--rounds 5] [--steps 2] [--warmup 2] [--quick] [--compile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vrx_plugins.workloads.ring import build_model, compile_problem

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "workloads"))
import ring_reference  # a test helper, importable from its own directory

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {
    "od1_small": {"ring_len": 2048, "slot_dim": 256, "synth_len": 128, "batch": 4},
    "quick": {"ring_len": 256, "slot_dim": 64, "synth_len": 32, "batch": 4},
}
SEED = 0


class Side:
    """One model with its own optimizer, timed on the shared batch."""

    def __init__(self, name: str, model: Any, x: torch.Tensor, y: torch.Tensor) -> None:
        self.name, self.model, self.x, self.y = name, model, x, y
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.times: list[float] = []
        self.first_step_s = 0.0

    def step(self) -> float:
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(self.x)[0].float(), self.y)
        loss.backward()
        self.opt.step()
        secs = time.perf_counter() - t0
        if not torch.isfinite(loss):
            raise RuntimeError(f"{self.name}: loss is not finite")
        return secs


def saved_bytes(model: Any, x: torch.Tensor) -> int:
    """Bytes of the unique storages autograd saves for backward in one forward pass."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    del out
    return sum(storages.values())


def build_sides(shape: dict[str, int], with_compile: bool) -> list[Side]:
    ant = {
        "ring_len": shape["ring_len"],
        "slot_dim": shape["slot_dim"],
        "ptr_dtype": "fp64",
        "precision": "fp32",
    }
    torch.manual_seed(SEED)
    x = torch.randn(shape["batch"], shape["synth_len"], 1)
    y = torch.randint(0, 256, (shape["batch"],))
    dense = build_model(ant, 1, variant="dense")
    weights = dense.state_dict()
    cfg = ring_reference.Config(shape["ring_len"], shape["slot_dim"], 1, torch.float64)
    sides = [
        Side("reference", ring_reference.ReferenceModel(weights, cfg), x, y),
        Side("dense", dense, x, y),
        Side("compact", _load(build_model(ant, 1, variant="compact"), weights), x, y),
    ]
    if with_compile:
        sides.append(Side("dense+compile", torch.compile(_load(build_model(ant, 1), weights)), x, y))
    return sides


def _load(model: Any, weights: dict[str, torch.Tensor]) -> Any:
    model.load_state_dict(weights, strict=True)
    return model


def run(sides: list[Side], rounds: int, steps: int, warmup: int, log: Callable[[str], None]) -> None:
    for side in sides:
        side.first_step_s = side.step()
        for _ in range(max(0, warmup - 1)):
            side.step()
        log(f"  warmed up {side.name} (first step {side.first_step_s:.2f} s)")
    for r in range(rounds):
        order = sides[r % len(sides) :] + sides[: r % len(sides)]
        for side in order:
            side.times.extend(side.step() for _ in range(steps))
        log(
            f"  round {r + 1}/{rounds}: "
            + ", ".join(f"{s.name} {statistics.median(s.times):.3f}" for s in sides)
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=2, help="steps of each side per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps of each side first")
    ap.add_argument("--quick", action="store_true", help="small shape (R=256, D=64, T=32, B=4): a smoke run")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the dense model")
    args = ap.parse_args()
    shape_name = "quick" if args.quick else "od1_small"
    shape = SHAPES[shape_name]
    problem = compile_problem("cpu") if args.compile else None
    if problem is not None:
        print(f"torch.compile skipped: {problem}")

    threads = torch.get_num_threads()
    print(f"{shape_name}: {shape}, E=1, fp64 pointer, {threads} threads, torch {torch.__version__}")
    sides = build_sides(shape, args.compile and problem is None)
    saved = {s.name: saved_bytes(s.model, s.x) for s in sides if "compile" not in s.name}
    run(sides, args.rounds, args.steps, args.warmup, print)

    ref = statistics.median(sides[0].times)
    print(f"\nmedian of {args.rounds} rounds x {args.steps} steps, after {args.warmup} warmup steps")
    print(f"{'side':<16}{'step s':>9}{'vs reference':>14}{'first step s':>14}{'saved MiB':>11}")
    rows = {}
    for side in sides:
        med = statistics.median(side.times)
        mib = saved.get(side.name)
        rows[side.name] = {
            "median_step_s": round(med, 4),
            "speedup_vs_reference": round(ref / med, 3),
            "first_step_s": round(side.first_step_s, 3),
            "saved_for_backward_bytes": mib,
            "step_times_s": [round(t, 4) for t in side.times],
        }
        mib_text = f"{mib / 2**20:>11.0f}" if mib is not None else f"{'-':>11}"
        print(f"{side.name:<16}{med:>9.3f}{ref / med:>13.2f}x{side.first_step_s:>14.2f}{mib_text}")
    out = {
        "benchmark": "probe_workload",
        "machine": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "shape": {"name": shape_name, **shape, "experts": 1, "ptr_dtype": "fp64"},
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "warmup": args.warmup,
        "sides": rows,
        "command": " ".join(["python bench/probe_workload.py", *sys.argv[1:]]),
        "targets": {"dense_no_slower_than_reference": rows["dense"]["speedup_vs_reference"] >= 1.0},
    }
    RESULTS.mkdir(exist_ok=True)
    name = "probe_workload_quick.json" if args.quick else "probe_workload.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
