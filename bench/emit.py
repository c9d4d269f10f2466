"""Per-event cost of Recorder.emit(Metric(...)) against the minimal crash-safe line, side by side.

Raw baseline (the floor): the least code that still writes a crash-safe line, one per event:
msgspec-encode a struct ``{seq, t=time.time(), name, step, value}``, append a CRC-32 of those bytes
(8 hex digits) and ``\\n``, one ``os.write`` per line to an ``O_APPEND`` file. No envelope format,
no validation, no lock, no hash chain, no fsync.

Also shown, for where the cost goes: the project's own framing (``framing.frame``: envelope,
``%.6f`` clock, salted CRC) written the same way, and ``emit`` with each durability policy.
Variants run in interleaved batches whose order rotates every round (so machine noise hits them
all alike); the table shows the median over batches of microseconds per event and its ratio to
the raw baseline measured in the same rounds.

    python bench/emit.py [--events 300000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec

from vrx_core.events import Metric
from vrx_core.log.framing import frame
from vrx_core.log.writer import Recorder

RESULTS = Path(__file__).resolve().parent / "results"
RAW = "raw baseline (msgspec + crc32 + os.write)"
DEFAULT = "emit, durability=group (default)"


class RawLine(msgspec.Struct):
    seq: int
    t: float
    name: str
    step: int
    value: float


def raw_writer(path: Path) -> tuple[Callable[[int], None], Callable[[], int]]:
    """The floor: encode, CRC-32 suffix, one os.write per line."""
    encode = msgspec.json.Encoder().encode
    crc32 = zlib.crc32
    write = os.write
    now = time.time
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    state = {"seq": 0}

    def run(n: int) -> None:
        seq = state["seq"]
        for i in range(n):
            body = encode(RawLine(seq + i, now(), "train/loss", seq + i, 0.25 + i * 1e-6))
            write(fd, b"%s%08x\n" % (body, crc32(body)))
        state["seq"] = seq + n

    return run, lambda: os.fstat(fd).st_size


def framed_writer(path: Path) -> tuple[Callable[[int], None], Callable[[], int]]:
    """The same loop with the project's framing (framing.frame) instead of the minimal line."""
    encode = msgspec.json.Encoder().encode
    write = os.write
    now = time.time
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    state = {"seq": 0}

    def run(n: int) -> None:
        seq = state["seq"]
        for i in range(n):
            body = encode(Metric("train/loss", 0.25 + i * 1e-6, seq + i))
            write(fd, frame(seq + i, now(), 1, body, 0x1234))
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
    ap.add_argument("--events", type=int, default=300_000, help="events per variant")
    ap.add_argument("--batch", type=int, default=10_000, help="a multiple of 10 000: one group fsync each")
    ap.add_argument("--every-events", type=int, default=2_000, help="events for the fsync-every variant")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vrx-bench-emit-"))
    try:
        out = run_all(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "emit.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'emit.json'}")


def run_all(tmp: Path, args: argparse.Namespace) -> dict[str, object]:
    variants: dict[str, tuple[Callable[[int], None], Callable[[], int]]] = {
        RAW: raw_writer(tmp / "raw.jsonl"),
        "project framing + os.write (no Recorder)": framed_writer(tmp / "framed.jsonl"),
    }
    recorders = []
    for label, sub, kw in (
        (DEFAULT, "group", {}),
        ("emit, durability=os (no fsync)", "os", {"durability": "os"}),
    ):
        run, size, rec = recorder_writer(tmp / sub / "run", **kw)
        variants[label] = (run, size)
        recorders.append(rec)
    labels = list(variants)
    times: dict[str, list[float]] = {k: [] for k in labels}
    ratios: list[float] = []  # default / raw, per round
    rounds = max(1, args.events // args.batch)
    for r in range(rounds):
        this: dict[str, float] = {}
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            run = variants[label][0]
            t0 = time.perf_counter()
            run(args.batch)
            this[label] = (time.perf_counter() - t0) / args.batch * 1e6
            times[label].append(this[label])
        ratios.append(this[DEFAULT] / this[RAW])
    every_run, every_size, every_rec = recorder_writer(tmp / "every" / "run", durability="every")
    t0 = time.perf_counter()
    every_run(args.every_events)
    every_us = (time.perf_counter() - t0) / args.every_events * 1e6
    for rec in [*recorders, every_rec]:
        rec.close()
    base = statistics.median(times[RAW])
    n = rounds * args.batch
    rows = [
        {
            "variant": label,
            "events": n,
            "median_us": round(statistics.median(samples), 3),
            "ratio_to_raw": round(statistics.median(samples) / base, 2),
            "bytes_per_event": round(variants[label][1]() / n, 1),
        }
        for label, samples in times.items()
    ]
    rows.append(
        {
            "variant": "emit, durability=every (fsync per event)",
            "events": args.every_events,
            "median_us": round(every_us, 1),
            "ratio_to_raw": round(every_us / base, 1),
            "bytes_per_event": round(every_size() / args.every_events, 1),
        }
    )
    print(f"{'variant':<46}{'events':>9}{'median us/event':>17}{'x raw':>8}{'bytes/event':>13}")
    for row in rows:
        print(
            f"{row['variant']:<46}{row['events']:>9}{row['median_us']:>17}{row['ratio_to_raw']:>8}"
            f"{row['bytes_per_event']:>13}"
        )
    default = next(r for r in rows if r["variant"] == DEFAULT)
    per_round = statistics.median(ratios)
    print(
        f"default / raw: {default['ratio_to_raw']} (ratio of medians),"
        f" {per_round:.2f} (median of per-round ratios)"
    )
    return {
        "benchmark": "emit",
        "command": "python bench/emit.py",
        "machine": platform.node(),
        "python": platform.python_version(),
        "msgspec": msgspec.__version__,
        "cpus": os.cpu_count(),
        "batches": rounds,
        "batch": args.batch,
        "baseline": "msgspec encode of {seq, t, name, step, value}, CRC-32 hex suffix, one os.write a line",
        "rows": rows,
        "default_over_raw_median_of_round_ratios": round(per_round, 2),
        "target": "default policy at most 2x the raw baseline",
        "target_met": float(default["ratio_to_raw"]) <= 2.0,
    }


if __name__ == "__main__":
    main()
