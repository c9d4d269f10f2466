"""Whole-process start-up: what a training rank or a shell pays before vrx does anything.

Commands, each a fresh process, interleaved over rounds (order rotated every round) after one
warm-up run each (so .pyc files exist); the table shows the median wall time of each and its
ratio to the floor measured in the same rounds:

  floor              python -c "import msgspec"            (interpreter + vrx's one hard dependency)
  import Recorder    python -c "from vrx_core import Recorder"
  vrx --version      the installed ``vrx`` script
  vrx --help         the installed ``vrx`` script

Then ``python -X importtime`` of ``from vrx_core import Recorder`` and of ``-m vrx_core --version``:
the modules that dominate each import (cumulative and self time, median of a few runs), so the
CLI's lazy loading knows what to cut. Writes bench/results/startup.json.

    python bench/startup.py [--rounds 20] [--importtime-runs 5] [--top 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PY = sys.executable
VRX = str(Path(sys.executable).with_name("vrx"))
FLOOR = "python -c 'import msgspec'"
COMMANDS: dict[str, list[str]] = {
    FLOOR: [PY, "-c", "import msgspec"],
    "python -c 'from vrx_core import Recorder'": [PY, "-c", "from vrx_core import Recorder"],
    "vrx --version": [VRX, "--version"],
    "vrx --help": [VRX, "--help"],
}
TARGETS = ("python -c 'from vrx_core import Recorder'", "vrx --version")
IMPORTTIME: dict[str, list[str]] = {
    "from vrx_core import Recorder": [PY, "-X", "importtime", "-c", "from vrx_core import Recorder"],
    "python -m vrx_core --version": [PY, "-X", "importtime", "-m", "vrx_core", "--version"],
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE"):
        env.pop(key, None)
    return env


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    return time.perf_counter() - t0


def importtime(cmd: list[str]) -> dict[str, tuple[int, int]]:
    """module -> (self us, cumulative us) from one ``-X importtime`` run."""
    err = subprocess.run(cmd, check=True, capture_output=True, text=True, env=_env()).stderr
    out: dict[str, tuple[int, int]] = {}
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:") :].split("|", 2))
        out[name] = (int(self_us), int(cum_us))
    return out


def profile(cmd: list[str], runs: int, top: int) -> dict[str, object]:
    samples = [importtime(cmd) for _ in range(runs)]
    names = set().union(*samples)
    med = {
        n: (
            statistics.median(s.get(n, (0, 0))[0] for s in samples),
            statistics.median(s.get(n, (0, 0))[1] for s in samples),
        )
        for n in names
    }
    # Top-level packages and vrx's own modules, by cumulative time: what an import pulls in.
    heads = {n: c for n, (_, c) in med.items() if "." not in n or n.startswith(("vrx_core", "vrx_plugins"))}
    return {
        "modules": len(names),
        "total_ms": round(sum(s for s, _ in med.values()) / 1000, 1),
        "by_cumulative_ms": [
            [n, round(c / 1000, 2)] for n, c in sorted(heads.items(), key=lambda kv: -kv[1])[:top]
        ],
        "by_self_ms": [
            [n, round(s / 1000, 2)] for n, (s, _) in sorted(med.items(), key=lambda kv: -kv[1][0])[:top]
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--importtime-runs", type=int, default=5)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    labels = list(COMMANDS)
    for cmd in COMMANDS.values():
        wall(cmd)  # warm-up: .pyc files, page cache
    times: dict[str, list[float]] = {k: [] for k in labels}
    for r in range(args.rounds):
        for label in labels[r % len(labels) :] + labels[: r % len(labels)]:
            times[label].append(wall(COMMANDS[label]))
    floor = statistics.median(times[FLOOR])
    rows = [
        {
            "command": label,
            "median_ms": round(statistics.median(times[label]) * 1000, 1),
            "min_ms": round(min(times[label]) * 1000, 1),
            "ratio_to_floor": round(statistics.median(times[label]) / floor, 2),
        }
        for label in labels
    ]
    print(f"whole-process start-up, median of {args.rounds} interleaved runs")
    print(f"{'command':<44}{'median ms':>11}{'min ms':>9}{'x floor':>9}")
    for row in rows:
        print(f"{row['command']:<44}{row['median_ms']:>11}{row['min_ms']:>9}{row['ratio_to_floor']:>9}")
    profiles = {label: profile(cmd, args.importtime_runs, args.top) for label, cmd in IMPORTTIME.items()}
    for label, prof in profiles.items():
        print(f"\n-X importtime: {label}: {prof['modules']} modules, {prof['total_ms']} ms of imports")
        print("  by cumulative ms: " + ", ".join(f"{n} {ms}" for n, ms in prof["by_cumulative_ms"]))  # type: ignore[attr-defined]
        print("  by self ms:       " + ", ".join(f"{n} {ms}" for n, ms in prof["by_self_ms"]))  # type: ignore[attr-defined]
    out = {
        "benchmark": "startup",
        "command": "python bench/startup.py",
        "machine": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "rows": rows,
        "importtime": profiles,
        "target": "from vrx_core import Recorder and vrx --version each within 2x of the floor",
        "targets_met": {label: statistics.median(times[label]) / floor <= 2.0 for label in TARGETS},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'startup.json'}")


if __name__ == "__main__":
    main()
