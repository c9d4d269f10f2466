"""A writer process for the tail tests: records a deterministic mix of events into RUN_DIR.

    python _tail_writer.py RUN_DIR [--n N] [--interval S] [--start-delay S] [--heartbeat S]
                           [--more N] [--then close|hang|kill] [--plan TOTAL]

Emits N events (``--interval`` apart), then, with ``--more``, prints ``paused`` and waits for a
line on stdin before emitting N more; then ``--then``: ``close`` writes the run end (default),
``hang`` prints ``idle`` and keeps the run open (the heartbeat goes on) until killed, ``kill``
SIGKILLs itself (the lock file stays behind, no run end). ``--plan TOTAL`` records a ``plan``
first (the mix's metric steps are the event indices).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from vrx_core.events import Checkpoint, Event, Log, Metric, Params, Plan
from vrx_core.log.writer import Recorder


def event(i: int) -> Event:
    """The i-th event of the mix: metrics (a NaN now and then), params, logs, big logs, checkpoints."""
    if i % 50 == 49:
        return Metric(name="train/loss", value=float("nan"), step=i)
    if i % 37 == 36:
        return Log(msg="x" * 3000 + f" {i}", fields={"i": i})
    if i % 53 == 52:
        return Checkpoint(path=f"ckpt-{i}.pt", step=i, size_bytes=1234)
    if i % 7 == 3:
        return Params(values={"lr": 0.001 * i, "name": f"run-{i}", "nested": {"a": [i, i + 1]}})
    if i % 5 == 4:
        return Log(level="info", msg=f'step {i} é✓ "quoted"', fields={"i": i})
    return Metric(name="train/loss" if i % 2 else "train/acc", value=1.0 / (i + 1), step=i)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--more", type=int, default=0)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--start-delay", type=float, default=0.0)
    ap.add_argument("--heartbeat", type=float, default=0.2)
    ap.add_argument("--then", choices=["close", "hang", "kill"], default="close")
    ap.add_argument("--plan", type=int, default=None)
    args = ap.parse_args()
    time.sleep(args.start_delay)
    rec = Recorder(args.run_dir, heartbeat_s=args.heartbeat, fsync_every_s=0.5)
    if args.plan is not None:
        rec.emit(Plan(total=args.plan))
    i = 0
    for _ in range(args.n):
        rec.emit(event(i))
        i += 1
        if args.interval:
            time.sleep(args.interval)
    if args.more:
        print("paused", flush=True)
        sys.stdin.readline()
        for _ in range(args.more):
            rec.emit(event(i))
            i += 1
            if args.interval:
                time.sleep(args.interval)
    if args.then == "close":
        rec.close()
    elif args.then == "hang":
        print("idle", flush=True)
        while True:
            time.sleep(3600)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
