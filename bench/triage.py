"""Triage throughput (record + derive a 10-minute 240 fps capture) and manifest hashing speed.

1. A scenario of 600 000 ms at 240 fps (144 000 frames) through the sim backend: time to simulate,
   to record every frame as an event (Recorder.emit), and to derive the bundle by replay through
   frame_triage alone and through frame_triage + manifest; and ``vrx replay RUN`` end to end, one
   process with its start-up (``subprocess``, the ``vrx`` next to this Python, ``--cli-runs``
   times per round). Frames per second, median of rounds. ``--other-vrx PATH`` times another
   install's ``vrx`` (an older commit's venv, say) on the same log, interleaved with this one.
2. FNV-1a 64 (the compiled extension) against hashlib's sha256 on the same 1 GiB file, interleaved
   rounds, median MB/s and the ratio.

Prints a table and writes bench/results/triage.json.

    python bench/triage.py [--rounds 3] [--cli-runs 3] [--hash-mib 1024] [--other-vrx PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vrx_core.engine.replay import replay
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.log.reader import LogReader
from vrx_plugins.frame_triage.backends import SimBackend
from vrx_plugins.frame_triage.capture import ScenarioInput, record_capture
from vrx_plugins.manifest.fnv import COMPILED, fnv1a64_file

RESULTS = Path(__file__).resolve().parent / "results"
VRX = str(Path(sys.executable).with_name("vrx"))
# The CLI caches its bytecode as an installed vrx would (not so under PYTHONDONTWRITEBYTECODE).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
SCENARIO = {
    "schema_version": "1.0",
    "scenario_id": "bench_240fps_10min",
    "duration": {"duration_ms": 600_000},
    "camera": {"fps": 240, "width": 640, "height": 480, "trigger_mode": "free_run"},
    "sim_faults": {"seed": 42, "jitter_us": 200, "drop_percent": 1},
    "thresholds": {"min_avg_fps": 200.0, "max_drop_rate_percent": 5.0},
}


def time_cli(vrx: str, run: Path, runs: int, out: Path | None = None) -> list[float]:
    """Wall seconds of ``vrx replay RUN`` (into ``out`` when given), one subprocess each."""
    argv = [vrx, "replay", str(run), *(["--out", str(out)] if out is not None else [])]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=CHILD_ENV)
        times.append(time.perf_counter() - t0)
    return times


def triage_round(tmp: Path, n: int, cli_runs: int, other: str | None) -> dict[str, Any]:
    raw = json.dumps(SCENARIO, indent=2).encode()
    run = tmp / f"run{n}"
    everything = PluginSet.load(Selection(only={"frame_triage", "manifest"}))
    triage_only = PluginSet.load(Selection(only={"frame_triage"}))
    backend = SimBackend()
    t0 = time.perf_counter()
    frames = list(backend.frames(backend.configure(SCENARIO), 1_700_000_000 * 10**9))
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    count = record_capture(
        run,
        "bench",
        ScenarioInput(raw, SCENARIO, "bench"),
        backend,
        created_ns=time.time_ns(),
        registry=everything.registry,
    )
    t_record = time.perf_counter() - t0
    t0 = time.perf_counter()
    lines = sum(1 for _ in LogReader(run, registry=everything.registry))
    t_decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    replay(run, triage_only, out_dir=tmp / f"d{n}")
    t_derive = time.perf_counter() - t0
    t0 = time.perf_counter()
    replay(run, everything)
    t_full = time.perf_counter() - t0
    if n == 0:  # warm-up: .pyc files written, as for an installed vrx
        time_cli(VRX, run, 1)
        if other is not None:
            time_cli(other, run, 1, out=tmp / f"other{n}")
    cli: list[float] = []
    other_cli: list[float] = []
    for _ in range(cli_runs):  # interleaved, so both see the same machine
        cli += time_cli(VRX, run, 1)
        if other is not None:
            other_cli += time_cli(other, run, 1, out=tmp / f"other{n}")
    assert count == len(frames) == 144_000, count
    shutil.rmtree(run)
    return {
        "frames": count,
        "lines": lines,
        "simulate_s": t_sim,
        "record_s": t_record,
        "decode_s": t_decode,
        "derive_triage_s": t_derive,
        "derive_all_s": t_full,
        "vrx_replay_cli_s": statistics.median(cli),
        "vrx_replay_cli_runs_s": cli,
        "other_vrx_replay_cli_runs_s": other_cli,
    }


def hash_rounds(path: Path, rounds: int) -> dict[str, list[float]]:
    size = path.stat().st_size
    out: dict[str, list[float]] = {"fnv1a_64": [], "sha256": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        fnv1a64_file(path)
        out["fnv1a_64"].append(size / (time.perf_counter() - t0) / 1e6)
        t0 = time.perf_counter()
        with path.open("rb") as f:
            hashlib.file_digest(f, "sha256")
        out["sha256"].append(size / (time.perf_counter() - t0) / 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cli-runs", type=int, default=3, help="`vrx replay` subprocesses per round")
    ap.add_argument("--hash-mib", type=int, default=1024)
    ap.add_argument("--other-vrx", metavar="PATH", help="another install's vrx to time side by side")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vrx-bench-triage-"))
    try:
        rounds = [triage_round(tmp, i, args.cli_runs, args.other_vrx) for i in range(args.rounds)]
        big = tmp / "blob.bin"
        with big.open("wb") as f:
            chunk = os.urandom(1 << 20)
            for i in range(args.hash_mib):
                f.write(chunk[i % 251 :] + chunk[: i % 251])
        hashes = hash_rounds(big, args.rounds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(key: str) -> float:
        if key.endswith("_runs_s"):  # every subprocess of every round
            return statistics.median(t for r in rounds for t in r[key])
        return statistics.median(r[key] for r in rounds)

    frames = rounds[0]["frames"]
    rows = [
        ("simulate (sim backend)", med("simulate_s")),
        ("record (emit every frame)", med("record_s")),
        ("decode only (read + check log)", med("decode_s")),
        ("derive: replay through frame_triage", med("derive_triage_s")),
        ("derive: replay frame_triage + manifest", med("derive_all_s")),
        ("record + derive (all)", med("record_s") + med("derive_all_s")),
        ("`vrx replay RUN` end to end (subprocess)", med("vrx_replay_cli_runs_s")),
    ]
    if args.other_vrx:
        rows.append(("  the same with --other-vrx", med("other_vrx_replay_cli_runs_s")))
    print(
        f"{frames} frames (600 s at 240 fps), median of {args.rounds} rounds "
        f"({args.rounds * args.cli_runs} subprocesses for `vrx replay`)"
    )
    print(f"{'stage':<42}{'seconds':>10}{'frames/s':>12}")
    for label, secs in rows:
        print(f"{label:<42}{secs:>10.3f}{frames / secs:>12.0f}")
    fnv, sha = statistics.median(hashes["fnv1a_64"]), statistics.median(hashes["sha256"])
    print(f"\nhash of a {args.hash_mib} MiB file (page cache), median of {args.rounds} rounds:")
    print(f"  fnv1a_64 {'(compiled)' if COMPILED else '(PURE PYTHON FALLBACK)'}: {fnv:8.0f} MB/s")
    print(f"  sha256 (hashlib)      : {sha:8.0f} MB/s   ratio fnv/sha256 = {fnv / sha:.2f}")
    out = {
        "benchmark": "triage",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "frames": frames,
        "rounds": rounds,
        "frames_per_s": {label: round(frames / secs) for label, secs in rows},
        "hash_mb_per_s": {
            "fnv1a_64": round(fnv),
            "sha256": round(sha),
            "ratio": round(fnv / sha, 3),
            "compiled": COMPILED,
            "file_mib": args.hash_mib,
        },
        "command": "python bench/triage.py",
        "other_vrx": args.other_vrx,
        "targets": {
            "derive_at_least_200k_frames_per_s": frames / med("derive_triage_s") >= 200_000,
            "vrx_replay_end_to_end_at_least_100k_frames_per_s": frames / med("vrx_replay_cli_runs_s")
            >= 100_000,
            "fnv_at_least_half_of_sha256": fnv / sha >= 0.5,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "triage.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'triage.json'}")


if __name__ == "__main__":
    main()
