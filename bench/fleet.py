"""Replaying many runs: one process against ``vrx fleet replay``'s local pool and a Dask LocalCluster.

A tree of N small runs (default 10 000: one run of ``--events`` events recorded with the Recorder,
copied N times into ``g<k>/run-<n>`` directories) is built once and cached under $TMPDIR. Then,
over the same tree with a warm page cache, every run is replayed through the built-in plugins
(each writes its derived files and derived.json beside the run, fsynced, as ``vrx replay`` does):

  serial:  one process, a loop calling vrx_core.engine.replay.replay on each run;
  local:   run_fleet, engine local: a process pool of --jobs workers (--force: nothing skipped);
  dask:    run_fleet, engine dask: a LocalCluster(processes=True) of --jobs single-threaded
           workers (--force);
  skip:    run_fleet, engine local, without --force, after the others: every run is up to date,
           so this is the cost of deciding that (derived.json read, the log hashed).

Each fleet time is wall clock from the call to the last row, starting the workers included.
Prints a table (runs per second, ratio to serial) and writes bench/results/fleet.json.

    python bench/fleet.py [--runs 10000] [--events 60] [--jobs 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _trees import copied_tree

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VARIANTS = ("serial", "local", "dask", "skip")


def make_tree(runs: int, events: int) -> Path:
    """N copies of one recorded run's log (params, then two metrics a step), cached."""
    from vrx_core.events import Metric, Params

    def record(rec: Any) -> None:
        rec.emit(Params(values={"lr": 1e-3, "batch": 32}))
        for step in range(1, max(1, (events - 4) // 2) + 1):
            rec.emit(Metric(name="train/loss", value=1.0 / step, step=step))
            rec.emit(Metric(name="train/acc", value=1.0 - 1.0 / (step + 1), step=step))

    return copied_tree(f"fleet-{runs}x{events}", runs, record)


def serial(paths: list[str], plugins: Any) -> dict[str, int]:
    from vrx_core.engine.replay import replay

    for path in paths:
        replay(path, plugins)
    return {"replayed": len(paths)}


def fleet(paths: list[str], plugins: Any, *, engine: str, jobs: int, force: bool) -> dict[str, int]:
    from vrx_core.engine import plugincode
    from vrx_core.engine.fleet import FleetOptions, run_fleet
    from vrx_core.engine.plugincode import fingerprint
    from vrx_core.hooks.discovery import Selection

    # Hash the plugins' source as it is now, as a fresh `vrx fleet` would: the workers hash what
    # they load, and a source edited since (say, by a checkout) would make them refuse.
    plugincode.clear_cache()
    options = FleetOptions(
        op="replay",
        selection=Selection(),
        fingerprint=fingerprint(plugins),
        force=force,
        engine=engine,  # type: ignore[arg-type]
        jobs=jobs,
    )
    result = run_fleet(paths, options)
    failed = [r for r in result.rows if r.status == "failed"]
    if failed:
        first = failed[0]
        raise SystemExit(f"{engine}: {len(failed)} run(s) failed, the first: {first.path}: {first.reason}")
    return result.counts()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the tree (default 10000)")
    ap.add_argument("--events", type=int, default=60, help="events per run (default 60)")
    ap.add_argument("--jobs", type=int, default=2, help="workers for the pool and the cluster (default 2)")
    ap.add_argument("--quick", action="store_true", help="500 runs: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.runs = min(args.runs, 500)

    from vrx_core.engine.runinfo import find_runs
    from vrx_core.hooks.manager import PluginSet, Selection

    os.environ.pop("VRX_LOAD_PLUGINS", None)
    os.environ.pop("VRX_PLUGINS_DIR", None)
    t0 = time.perf_counter()
    tree = make_tree(args.runs, args.events)
    built = time.perf_counter() - t0
    paths = sorted(os.fspath(p) for p in find_runs(tree))
    assert len(paths) == args.runs, len(paths)
    plugins = PluginSet.load(Selection(), strict=False)
    log_bytes = (tree / "g000" / "run-00000" / "events.jsonl").stat().st_size
    fns: dict[str, Callable[[], dict[str, int]]] = {
        "serial": lambda: serial(paths, plugins),
        "local": lambda: fleet(paths, plugins, engine="local", jobs=args.jobs, force=True),
        "dask": lambda: fleet(paths, plugins, engine="dask", jobs=args.jobs, force=True),
        "skip": lambda: fleet(paths, plugins, engine="local", jobs=args.jobs, force=False),
    }
    want = {"serial": "replayed", "local": "replayed", "dask": "replayed", "skip": "skipped"}
    seconds: dict[str, float] = {}
    for v in VARIANTS:
        t = time.perf_counter()
        counts = fns[v]()
        seconds[v] = time.perf_counter() - t
        assert counts[want[v]] == args.runs, (v, counts)
        print(f"  {v}: {seconds[v]:.1f} s", file=sys.stderr)
    rows = [
        {
            "variant": v,
            "seconds": round(seconds[v], 2),
            "runs_per_s": round(args.runs / seconds[v], 1),
            "ms_per_run": round(seconds[v] / args.runs * 1e3, 2),
            "x_serial": round(seconds["serial"] / seconds[v], 2),
        }
        for v in VARIANTS
    ]
    print(
        f"{args.runs} runs of {args.events} events ({log_bytes} bytes each), {args.jobs} workers, "
        f"{os.cpu_count()} CPUs; tree built in {built:.1f} s (cached at {tree})"
    )
    print(f"{'variant':<8}{'seconds':>9}{'runs/s':>9}{'ms/run':>8}{'x serial':>10}")
    for r in rows:
        print(
            f"{r['variant']:<8}{r['seconds']:>9.2f}{r['runs_per_s']:>9.1f}{r['ms_per_run']:>8.2f}"
            f"{r['x_serial']:>10.2f}"
        )
    out = {
        "benchmark": "fleet",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": "python bench/fleet.py" + "".join(f" {a}" for a in sys.argv[1:]),
        "tree": os.fspath(tree),
        "runs": args.runs,
        "events_per_run": args.events,
        "log_bytes_per_run": log_bytes,
        "jobs": args.jobs,
        "plugins": sorted(plugins.infos),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "fleet_quick.json" if args.quick else "fleet.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
