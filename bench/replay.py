"""Replay throughput and peak memory: the floor of reading, read_events, decoding alone, the example
plugin and all built-in plugins.

Variants, each in a fresh subprocess (so peak RSS is its own), interleaved over rounds:
  floor: the least code doing the reading's work: for every line of the file, ``zlib.crc32`` and
         a typed msgspec decode (a Decoder over the core kinds); no seq, no envelope, no hash chain;
  read_events: ``sum(1 for _ in vrx_core.read_events(run))``, as a user calls it (default
         registry, built in the call, included);
  decode: LogReader with the plugins' registry (loaded before the clock starts): read and check
         every line (CRC, envelope, seq, hash chain) and decode it; no plugin;
  example: decode + examples/custom_metric_plugin.py through the replay engine;
  builtins: decode + every built-in plugin (entry points of vrx-core) through the replay engine.
Logs of 250k and 1M metric events are generated once (cached under $TMPDIR) to show that memory
is flat in the size of the log. Prints a table (median of rounds) and writes bench/results/replay.json.

    python bench/replay.py [--events 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VARIANTS = ("floor", "read_events", "decode", "example", "builtins")
# Children cache their bytecode as an installed vrx would (PYTHONDONTWRITEBYTECODE would make each
# one compile every module changed since its .pyc was written, inside the timed read_events call).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_log(n: int) -> Path:
    from vrx_core.events import Metric
    from vrx_core.log.writer import Recorder

    run = Path(tempfile.gettempdir()) / f"vrx-bench-replay-{n}"
    if (run / "events.jsonl").exists() and (run / ".complete").exists():
        return run
    if run.exists():
        import shutil

        shutil.rmtree(run)
    with Recorder(run, durability="os") as rec:
        for i in range(n - 2):
            rec.emit(Metric(f"m{i % 8}", 1.0 / (1 + i % 1000), i))
    (run / ".complete").write_text("")
    return run


def floor(run: Path) -> int:
    """Every line: CRC-32 and a typed decode. The simplest code doing the reading's work."""
    import functools
    import operator
    import zlib

    import msgspec

    from vrx_core.events import CORE_KINDS

    decode = msgspec.json.Decoder(functools.reduce(operator.or_, CORE_KINDS)).decode
    crc32 = zlib.crc32
    n = 0
    with (run / "events.jsonl").open("rb") as f:
        for line in f:
            crc32(line)
            decode(line)
            n += 1
    return n


def child(variant: str, run: Path) -> None:
    if variant in ("floor", "read_events"):
        from vrx_core import read_events

        t0 = time.perf_counter()
        n = floor(run) if variant == "floor" else sum(1 for _ in read_events(run))
        dt = time.perf_counter() - t0
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"events": n, "seconds": dt, "maxrss_kb": rss_kb, "plugins": []}))
        return
    from vrx_core.engine.replay import Replayer
    from vrx_core.hooks.api import ReplayContext
    from vrx_core.hooks.manager import PluginSet, Selection
    from vrx_core.log.reader import LogReader

    if variant == "decode":
        ps = PluginSet.load(Selection(only=set()))
    elif variant == "example":
        ps = PluginSet.load(Selection(only={"custom_metric_plugin"}, dirs=[ROOT / "examples"]))
    else:
        ps = PluginSet.load(Selection())
    t0 = time.perf_counter()
    reader = LogReader(run, registry=ps.registry)
    if variant == "decode":
        n = sum(1 for _ in reader)
    else:
        replayer = Replayer(ps.derivers(ReplayContext(run_dir=run, out_dir=None, registry=ps.registry)))
        replayer.feed(reader)
        n = replayer.events
    dt = time.perf_counter() - t0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"events": n, "seconds": dt, "maxrss_kb": rss_kb, "plugins": sorted(ps.infos)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "RUN"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    sizes = sorted({args.events // 4, args.events})
    logs = {n: make_log(n) for n in sizes}
    samples: dict[tuple[int, str], list[dict[str, float]]] = {(n, v): [] for n in sizes for v in VARIANTS}
    for _ in range(args.rounds):
        for n in sizes:
            for v in VARIANTS:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", v, str(logs[n])],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=CHILD_ENV,
                ).stdout
                samples[(n, v)].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for n in sizes:
        base = statistics.median(s["events"] / s["seconds"] for s in samples[(n, "decode")])
        floor_rate = statistics.median(s["events"] / s["seconds"] for s in samples[(n, "floor")])
        for v in VARIANTS:
            rates = [s["events"] / s["seconds"] for s in samples[(n, v)]]
            rows.append(
                {
                    "log_events": n,
                    "variant": v,
                    "events_per_s": round(statistics.median(rates)),
                    "ratio_to_floor": round(statistics.median(rates) / floor_rate, 3),
                    "ratio_to_decode": round(statistics.median(rates) / base, 3),
                    "peak_rss_mib": round(
                        statistics.median(s["maxrss_kb"] for s in samples[(n, v)]) / 1024, 1
                    ),
                    "plugins": samples[(n, v)][0]["plugins"],
                    "log_mib": round((logs[n] / "events.jsonl").stat().st_size / 2**20, 1),
                }
            )
    print(
        f"{'log events':>11} {'variant':<12}{'events/s':>12}{'x floor':>9}{'x decode':>10}"
        f"{'peak RSS MiB':>14}  plugins"
    )
    for r in rows:
        print(
            f"{r['log_events']:>11} {r['variant']:<12}{r['events_per_s']:>12}{r['ratio_to_floor']:>9}"
            f"{r['ratio_to_decode']:>10}{r['peak_rss_mib']:>14}  {','.join(r['plugins']) or '-'}"
        )
    big = {r["variant"]: r for r in rows if r["log_events"] == sizes[-1]}
    small = {r["variant"]: r for r in rows if r["log_events"] == sizes[0]}
    out = {
        "benchmark": "replay",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "command": "python bench/replay.py",
        "rows": rows,
        "targets": {
            "read_events_at_least_half_of_floor": big["read_events"]["ratio_to_floor"] >= 0.5,
            "example_at_least_half_of_decode": big["example"]["ratio_to_decode"] >= 0.5,
            "memory_flat_in_log_size_mib": {
                v: round(big[v]["peak_rss_mib"] - small[v]["peak_rss_mib"], 1) for v in VARIANTS
            },
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "replay.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'replay.json'}")


if __name__ == "__main__":
    main()
