"""Per-event cost of Recorder.emit(Metric(...)) against a raw baseline, side by side in one process.

Raw baseline: the same framed line built with msgspec + CRC-32 (framing.frame) and written with
os.write to an O_APPEND file; no validation, no lock, no hash chain, no fsync. Variants are timed in
interleaved batches (so machine noise hits all of them alike); the table shows the median over
batches of microseconds per event, and the ratio to the baseline measured in the same rounds.

    python bench/emit.py [--events 200000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from vrx_core.events import Metric
from vrx_core.log.framing import frame
from vrx_core.log.writer import Recorder

RESULTS = Path(__file__).resolve().parent / "results"


def raw_writer(path: Path) -> tuple[Callable[[int], None], Callable[[], int]]:
    enc = msgspec.json.Encoder()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    state = {"seq": 0}

    def run(n: int) -> None:
        seq = state["seq"]
        for i in range(n):
            body = enc.encode(Metric("train/loss", 0.25 + i * 1e-6, seq + i))
            os.write(fd, frame(seq + i, time.time(), 1, body, 0x1234))
        state["seq"] = seq + n

    return run, lambda: os.fstat(fd).st_size


def recorder_writer(path: Path, **kw: object) -> tuple[Callable[[int], None], Callable[[], int], Recorder]:
    rec = Recorder(path, **kw)  # type: ignore[arg-type]
    state = {"step": 0}

    def run(n: int) -> None:
        step = state["step"]
        emit = rec.emit
        for i in range(n):
            emit(Metric("train/loss", 0.25 + i * 1e-6, step + i))
        state["step"] = step + n

    return run, lambda: rec.path.stat().st_size, rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--every-events", type=int, default=2_000, help="events for the fsync-every variant")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vrx-bench-emit-"))
    raw_run, raw_size = raw_writer(tmp / "raw.jsonl")
    variants: dict[str, tuple[Callable[[int], None], Callable[[], int]]] = {
        "raw baseline": (raw_run, raw_size)
    }
    recorders = []
    for label, kw in (
        ("emit, durability=group (default)", {}),
        ("emit, durability=os (no fsync)", {"durability": "os"}),
    ):
        run, size, rec = recorder_writer(tmp / label.split()[1].strip(",=()") / "run", **kw)
        variants[label] = (run, size)
        recorders.append(rec)
    times: dict[str, list[float]] = {k: [] for k in variants}
    rounds = max(1, args.events // args.batch)
    for _ in range(rounds):
        for label, (run, _) in variants.items():
            t0 = time.perf_counter()
            run(args.batch)
            times[label].append((time.perf_counter() - t0) / args.batch * 1e6)
    every_run, every_size, every_rec = recorder_writer(tmp / "every" / "run", durability="every")
    t0 = time.perf_counter()
    every_run(args.every_events)
    every_us = (time.perf_counter() - t0) / args.every_events * 1e6
    for rec in [*recorders, every_rec]:
        rec.close()
    base = statistics.median(times["raw baseline"])
    rows = []
    for label, samples in times.items():
        med = statistics.median(samples)
        n = rounds * args.batch
        rows.append(
            {
                "variant": label,
                "events": n,
                "median_us": round(med, 3),
                "ratio_to_raw": round(med / base, 2),
                "bytes_per_event": round(variants[label][1]() / n, 1),
            }
        )
    rows.append(
        {
            "variant": "emit, durability=every (fsync per event)",
            "events": args.every_events,
            "median_us": round(every_us, 1),
            "ratio_to_raw": round(every_us / base, 1),
            "bytes_per_event": round(every_size() / args.every_events, 1),
        }
    )
    print(f"{'variant':<44}{'events':>9}{'median us/event':>17}{'x raw':>8}{'bytes/event':>13}")
    for r in rows:
        print(
            f"{r['variant']:<44}{r['events']:>9}{r['median_us']:>17}{r['ratio_to_raw']:>8}{r['bytes_per_event']:>13}"
        )
    RESULTS.mkdir(exist_ok=True)
    out = {
        "benchmark": "emit",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "batches": rounds,
        "batch": args.batch,
        "rows": rows,
        "target": "default policy at most 2x the raw baseline",
        "target_met": rows[1]["ratio_to_raw"] <= 2.0,
    }
    (RESULTS / "emit.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'emit.json'}")


if __name__ == "__main__":
    main()
