"""Listing many runs: ``vrx ls``'s machinery against reading every log in full, and the I/O floor.

A tree of N small runs (default 10 000: one run of ``--events`` events recorded with the Recorder,
copied N times into ``g<k>/run-<n>`` directories, so every log is valid and the walk has two
levels) is built once and cached under $TMPDIR. Then, in one process, interleaved over
``--repeats`` rounds (medians shown), over the same tree with a warm page cache:

  walk:      find_runs alone (scandir of every directory);
  floor:     walk + for each log: open, read its first line (a 16 KiB read), seek to the last
             16 KiB and read them; no parsing, no checks: the least I/O the fast path can do;
  ls:        what `vrx ls` does: walk, inspect_run (head and tail checked: CRC, seq, counts;
             lock, derived.json) and every built-in plugin's vrx_run_verdict, then sort;
  ls-core:   ls without the plugin verdicts;
  full-read: walk + LogReader over every whole log (all checks, typed decode, the registry built
             once), folding the same facts: name, start, last metrics, run_end, liveness.

Prints a table and writes bench/results/ls.json.

    python bench/ls.py [--runs 10000] [--events 300] [--repeats 5] [--quick]
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

from _trees import copied_tree

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WINDOW = 16 * 1024
VARIANTS = ("walk", "floor", "ls-core", "ls", "full-read")


def make_tree(runs: int, events: int) -> Path:
    """N copies of one recorded run (params, then three metrics a step), cached."""
    from vrx_core.events import Metric, Params

    def record(rec: Any) -> None:
        rec.emit(Params(values={"lr": 1e-3, "batch": 32, "model": {"depth": 4, "width": 256}}))
        for step in range(1, max(1, (events - 4) // 3) + 1):
            rec.emit(Metric(name="train/loss", value=1.0 / step, step=step))
            rec.emit(Metric(name="train/acc", value=1.0 - 1.0 / (step + 1), step=step))
            rec.emit(Metric(name="lr", value=1e-3, step=step))

    return copied_tree(f"ls-{runs}x{events}", runs, record)


def walk(tree: Path) -> list[Path]:
    from vrx_core.engine.runinfo import find_runs

    return list(find_runs(tree))


def floor(tree: Path) -> int:
    """Walk, then the head read and the tail read of every log, nothing else."""
    n = 0
    for run in walk(tree):
        fd = os.open(run / "events.jsonl", os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            head = os.pread(fd, WINDOW, 0)
            head.find(b"\n")
            os.pread(fd, WINDOW, max(0, size - WINDOW))
        finally:
            os.close(fd)
        n += 1
    return n


def ls(tree: Path, verdicts: Callable[[Path], dict[str, str]] | None) -> int:
    from vrx_core.cli.ls import find_all, inspect_all, sort_runs

    now = time.time()
    runs = inspect_all(find_all([tree]), verdicts=verdicts, now=now)
    runs = sort_runs(runs, "start", now=now)
    assert all(r.status == "ended" and r.metrics for r in runs), "a run did not list as ended"
    return len(runs)


def full_read(tree: Path, registry: Any) -> int:
    """The same facts from every whole log (what a listing without the fast path would do)."""
    from vrx_core.engine.runinfo import Host
    from vrx_core.events import Metric
    from vrx_core.log.lock import holder_alive, read_lock
    from vrx_core.log.reader import LogReader

    host = Host()
    n = 0
    for run in walk(tree):
        reader = LogReader(run, registry=registry)
        metrics: dict[str, float] = {}
        last_t = None
        for ev in reader:
            last_t = ev.t
            if type(ev) is Metric:
                metrics[ev.name] = ev.value
        r = reader.report
        facts = (r.run_start.name if r.run_start else run.name, r.run_start, last_t, metrics, r.run_end)
        if not r.complete:
            holder, _ = read_lock(run)
            holder_alive(holder or {}, host=host.name, boot=host.boot)
        assert r.complete and facts[3], "a run did not read as ended"
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the tree (default 10000)")
    ap.add_argument("--events", type=int, default=300, help="events per run (default 300)")
    ap.add_argument("--repeats", type=int, default=5, help="rounds; medians are shown (default 5)")
    ap.add_argument("--quick", action="store_true", help="1000 runs, 3 rounds: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.repeats = min(args.runs, 1000), min(args.repeats, 3)

    from vrx_core.hooks.manager import PluginSet, Selection

    t0 = time.perf_counter()
    tree = make_tree(args.runs, args.events)
    built = time.perf_counter() - t0
    plugins = PluginSet.load(Selection(), strict=False)
    log_bytes = (tree / "g000" / "run-00000" / "events.jsonl").stat().st_size
    fns: dict[str, Callable[[], int]] = {
        "walk": lambda: len(walk(tree)),
        "floor": lambda: floor(tree),
        "ls-core": lambda: ls(tree, None),
        "ls": lambda: ls(tree, plugins.run_verdicts),
        "full-read": lambda: full_read(tree, plugins.registry),
    }
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for v in VARIANTS:
            t = time.perf_counter()
            n = fns[v]()
            samples[v].append(time.perf_counter() - t)
            assert n == args.runs, (v, n)
    med = {v: statistics.median(samples[v]) for v in VARIANTS}
    rows = [
        {
            "variant": v,
            "seconds": round(med[v], 3),
            "runs_per_s": round(args.runs / med[v]),
            "us_per_run": round(med[v] / args.runs * 1e6, 1),
            "x_floor": round(med[v] / med["floor"], 2),
            "x_ls": round(med[v] / med["ls"], 2),
        }
        for v in VARIANTS
    ]
    print(
        f"{args.runs} runs of {args.events} events ({log_bytes} bytes each), tree built in {built:.1f} s"
        f" (cached at {tree}); medians of {args.repeats} rounds"
    )
    print(f"{'variant':<10}{'seconds':>9}{'runs/s':>10}{'us/run':>9}{'x floor':>9}{'x ls':>7}")
    for r in rows:
        print(
            f"{r['variant']:<10}{r['seconds']:>9.3f}{r['runs_per_s']:>10}{r['us_per_run']:>9.1f}"
            f"{r['x_floor']:>9.2f}{r['x_ls']:>7.2f}"
        )
    out = {
        "benchmark": "ls",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": "python bench/ls.py" + " ".join(f" {a}" for a in sys.argv[1:]),
        "runs": args.runs,
        "events_per_run": args.events,
        "log_bytes_per_run": log_bytes,
        "repeats": args.repeats,
        "plugins": sorted(plugins.infos),
        "rows": rows,
        "targets": {
            "ls_10k_runs_in_seconds": med["ls"] * 10_000 / args.runs < 10.0,
            "ls_faster_than_full_read": med["ls"] < med["full-read"],
        },
    }
    RESULTS.mkdir(exist_ok=True)
    name = "ls_quick.json" if args.quick else "ls.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
