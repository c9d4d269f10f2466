"""Replay throughput and peak memory: decoding alone vs the example plugin vs all built-in plugins.

Variants, each in a fresh subprocess (so peak RSS is its own), interleaved over rounds:
  (a) decode: read and check every line (CRC, seq, hash chain) and decode it; no plugin;
  (b) example: (a) + examples/custom_metric_plugin.py through the replay engine;
  (c) builtins: (a) + every built-in plugin (entry points of vrx-core) through the replay engine.
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
VARIANTS = ("decode", "example", "builtins")


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


def child(variant: str, run: Path) -> None:
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
                ).stdout
                samples[(n, v)].append(json.loads(out.strip().splitlines()[-1]))
    rows = []
    for n in sizes:
        base = statistics.median(s["events"] / s["seconds"] for s in samples[(n, "decode")])
        for v in VARIANTS:
            rates = [s["events"] / s["seconds"] for s in samples[(n, v)]]
            rows.append(
                {
                    "log_events": n,
                    "variant": v,
                    "events_per_s": round(statistics.median(rates)),
                    "ratio_to_decode": round(statistics.median(rates) / base, 3),
                    "peak_rss_mib": round(
                        statistics.median(s["maxrss_kb"] for s in samples[(n, v)]) / 1024, 1
                    ),
                    "plugins": samples[(n, v)][0]["plugins"],
                    "log_mib": round((logs[n] / "events.jsonl").stat().st_size / 2**20, 1),
                }
            )
    print(f"{'log events':>11} {'variant':<10}{'events/s':>12}{'x decode':>10}{'peak RSS MiB':>14}  plugins")
    for r in rows:
        print(
            f"{r['log_events']:>11} {r['variant']:<10}{r['events_per_s']:>12}{r['ratio_to_decode']:>10}"
            f"{r['peak_rss_mib']:>14}  {','.join(r['plugins']) or '-'}"
        )
    big = {r["variant"]: r for r in rows if r["log_events"] == sizes[-1]}
    small = {r["variant"]: r for r in rows if r["log_events"] == sizes[0]}
    out = {
        "benchmark": "replay",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "rows": rows,
        "targets": {
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
