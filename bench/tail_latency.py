"""Tail latency and idle CPU: how long an event takes from ``emit`` to ``follow`` in another process.

A writer process emits a ``metric`` every 10 ms for 10 s; each carries ``time.monotonic()`` taken
just before ``Recorder.emit`` (CLOCK_MONOTONIC: one clock for every process on the machine). A
follower process runs :func:`vrx_core.follow.follower.follow` and stamps each event on arrival. Latency is
arrival minus send, over every event. Rows: inotify (the default on a local disk), polling at
1 ms, polling at the 10 ms default (used where inotify is unavailable), and polling at 0.5 s (the
network file system default interval, run here on the local disk to show its cost).

Idle CPU: the follower watches a live but idle run (heartbeat every 1 s, no events) for 10 s;
CPU time used / wall time.

    python bench/tail_latency.py [--seconds 10] [--interval 0.01] [--idle 10] [--quick] [--dir DIR]

Prints a table and writes bench/results/tail_latency.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "tail_latency.json"

MODES: list[tuple[str, dict[str, Any]]] = [
    ("inotify (default, local disk)", {}),
    ("poll 1 ms", {"poll": True, "poll_interval": 0.001}),
    ("poll 10 ms (default without inotify)", {"poll": True}),
    ("poll 0.5 s (network fs default interval)", {"poll": True, "poll_interval": 0.5}),
]


def _follower(run_dir: str, opts: dict[str, Any], out: Any) -> None:
    from vrx_core.events import Metric
    from vrx_core.follow.follower import follow

    lat: list[float] = []
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    for ev in follow(run_dir, timeout=120, **opts):
        now = time.monotonic()
        if isinstance(ev, Metric) and ev.name == "bench/sent":
            lat.append(now - ev.value)
    out.put({"latency_s": lat, "cpu_s": time.process_time() - cpu0, "wall_s": time.monotonic() - wall0})


def _writer(run_dir: str, seconds: float, interval: float, warmup: float) -> None:
    from vrx_core.events import Metric
    from vrx_core.log.writer import Recorder

    with Recorder(run_dir) as rec:
        time.sleep(warmup)  # the follower finds the log and arms its watches
        n = round(seconds / interval)
        start = time.monotonic()
        for i in range(n):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            rec.emit(Metric(name="bench/sent", value=time.monotonic(), step=i))


def _idle_follower(run_dir: str, opts: dict[str, Any], seconds: float, out: Any) -> None:
    from vrx_core.follow.follower import Follower

    with Follower(run_dir, **opts) as f:
        while not f.caught_up:
            f.read(timeout=1.0)
        f.read(timeout=1.0)  # settle
        cpu0, wall0 = time.process_time(), time.monotonic()
        while time.monotonic() - wall0 < seconds:
            f.read(timeout=seconds - (time.monotonic() - wall0))
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        out.put({"cpu_s": cpu, "wall_s": wall, "mode": f.mode})


def _idle_writer(run_dir: str, seconds: float, ready: Any) -> None:
    from vrx_core.events import Metric
    from vrx_core.log.writer import Recorder

    with Recorder(run_dir) as rec:  # heartbeat every 1 s (the default)
        rec.emit(Metric(name="x", value=1.0))
        ready.set()
        time.sleep(seconds)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def latency_run(
    base: Path, name: str, opts: dict[str, Any], seconds: float, interval: float
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    run = base / f"lat-{len(list(base.iterdir()))}"
    q = ctx.Queue()
    follower = ctx.Process(target=_follower, args=(str(run), opts, q))
    follower.start()
    time.sleep(1.0)  # the follower is up and waiting for the run
    writer = ctx.Process(target=_writer, args=(str(run), seconds, interval, 0.5))
    writer.start()
    writer.join()
    res = q.get(timeout=120)
    follower.join()
    lat_ms = [x * 1000 for x in res["latency_s"]]
    expected = round(seconds / interval)
    return {
        "mode": name,
        "options": opts,
        "events": len(lat_ms),
        "expected": expected,
        "p50_ms": _pct(lat_ms, 0.50),
        "p90_ms": _pct(lat_ms, 0.90),
        "p99_ms": _pct(lat_ms, 0.99),
        "max_ms": max(lat_ms),
        "mean_ms": statistics.fmean(lat_ms),
        "cpu_pct_while_streaming": 100 * res["cpu_s"] / res["wall_s"],
    }


def idle_run(base: Path, name: str, opts: dict[str, Any], seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    run = base / f"idle-{len(list(base.iterdir()))}"
    q = ctx.Queue()
    ready = ctx.Event()
    writer = ctx.Process(target=_idle_writer, args=(str(run), seconds + 6, ready))
    writer.start()
    ready.wait(30)
    follower = ctx.Process(target=_idle_follower, args=(str(run), opts, seconds, q))
    follower.start()
    res = q.get(timeout=seconds + 60)
    follower.join()
    writer.terminate()
    writer.join()
    cpu_pct = 100 * res["cpu_s"] / res["wall_s"]
    return {"mode": name, "options": opts, "idle_s": res["wall_s"], "cpu_pct": cpu_pct}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="writer duration per mode (default 10)")
    ap.add_argument("--interval", type=float, default=0.01, help="seconds between events (default 0.01)")
    ap.add_argument("--idle", type=float, default=10.0, help="idle CPU measurement per mode (default 10)")
    ap.add_argument("--quick", action="store_true", help="skip the 0.5 s poll row and the 1 ms idle row")
    ap.add_argument("--dir", type=Path, default=None, help="where the runs are written (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    from vrx_core.follow.watch import fs_type

    base = Path(tempfile.mkdtemp(prefix="vrx-tail-bench-", dir=args.dir))
    modes = MODES[:3] if args.quick else MODES
    print(f"runs in {base} ({fs_type(base)}); {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(f"writer: one event every {args.interval * 1000:g} ms for {args.seconds:g} s per mode\n")
    latency = []
    for name, opts in modes:
        row = latency_run(base, name, opts, args.seconds, args.interval)
        latency.append(row)
        print(
            f"  {name:<42} n={row['events']:>5}/{row['expected']:<5} p50 {row['p50_ms']:7.2f} ms"
            f"  p99 {row['p99_ms']:7.2f} ms  max {row['max_ms']:7.2f} ms"
            f"  cpu {row['cpu_pct_while_streaming']:.1f}%",
            flush=True,
        )
    idle_modes = [m for m in MODES if m[0].startswith(("inotify", "poll 10 ms", "poll 1 ms", "poll 0.5 s"))]
    if args.quick:
        idle_modes = [m for m in idle_modes if not m[0].startswith(("poll 1 ms", "poll 0.5 s"))]
    print(f"\nidle follower (live writer, heartbeat 1 s, no events) for {args.idle:g} s:")
    idle = []
    for name, opts in idle_modes:
        row = idle_run(base, name, opts, args.idle)
        idle.append(row)
        print(f"  {name:<42} cpu {row['cpu_pct']:.3f}% of one core", flush=True)

    result = {
        "benchmark": "tail_latency",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "fs": fs_type(base),
        },
        "writer": {"interval_s": args.interval, "seconds": args.seconds},
        "clock": "time.monotonic() (CLOCK_MONOTONIC) on both sides; sent stamped just before Recorder.emit",
        "latency": latency,
        "idle": idle,
        "targets": {"p99_ms_local_inotify": 5.0, "idle_cpu_pct": 1.0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    idle_ok = all(r["cpu_pct"] < 1.0 for r in idle if r["mode"].startswith("inotify"))
    ok = latency[0]["p99_ms"] < 5.0 and idle_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
