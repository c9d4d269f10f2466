"""SQL over many runs: ``vrx query`` from the derived metrics.parquet files, from the logs, and the floor.

A tree of N runs (default 1 000) is recorded once with the Recorder and cached under $TMPDIR: each
run has params (lr from five values, a seed) and ``--points`` metric points (four metric names:
train/loss, train/acc, grad_norm, lr, each at ``--points / 4`` steps, values differing per run),
then replayed with the query plugin only, so each run has a verified metrics.parquet. A second
tree holds the same logs without any derived file. Then, over ``--repeats`` rounds (medians shown),
with a warm page cache, the same question (each run's best train/loss) is answered by:

  floor:        DuckDB alone, one query over the parquet files by glob (read_parquet with
                filename=true); no run discovery, no verification: the least the same library does;
  query:        `vrx query` in this process (main(), stdout discarded): plugin loading, finding
                and inspecting the runs as `vrx ls` does, checking each derived.json and the
                parquet's sha256, building the locked database, the query, the JSON output;
  query-cli:    the same as a `vrx query` subprocess (interpreter start and imports included);
  query-logs:   `vrx query` in this process over the tree without derived files: every log read
                through the CRC-checked reader into the in-memory table;
  query-runs:   `vrx query` (parquet) for the best run per lr, through the runs table's params
                and summaries (read from the parquet footers) joined with nothing else.

Prints a table and writes bench/results/query.json.

    python bench/query.py [--runs 1000] [--points 200] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
NAMES = ("train/loss", "train/acc", "grad_norm", "lr")
METRICS_SQL = "select run, min(value) as best from metrics where name = 'train/loss' group by run"
FLOOR_SQL = (
    "select filename, min(value) as best from read_parquet({glob}, filename = true)"
    " where name = 'train/loss' group by filename"
)
RUNS_SQL = (
    "select params->>'lr' as lr, arg_min(id, last['train/loss']) as best_run,"
    " min(last['train/loss']) as best_loss from runs group by 1 order by 1"
)
VARIANTS = ("floor", "query", "query-cli", "query-logs", "query-runs")


def make_trees(runs: int, points: int) -> tuple[Path, Path]:
    """The replayed tree and a copy of its logs alone, cached (``.complete`` marks a whole tree)."""
    from vrx_core.engine.replay import replay
    from vrx_core.hooks.manager import PluginSet, Selection

    base = Path(tempfile.gettempdir()) / f"vrx-bench-query-{runs}x{points}"
    derived, logs = base / "derived", base / "logs"
    if (base / ".complete").exists():
        return derived, logs
    shutil.rmtree(base, ignore_errors=True)
    plugins = PluginSet.load(Selection(only={"query"}))
    for i in range(runs):
        run = derived / f"run-{i:05d}"
        _record(run, i, points)
        replay(run, plugins)
        (logs / run.name).mkdir(parents=True)
        shutil.copyfile(run / "events.jsonl", logs / run.name / "events.jsonl")
    (base / ".complete").write_text("")
    return derived, logs


def _record(run: Path, i: int, points: int) -> None:
    from vrx_core.events import Metric, Params
    from vrx_core.log.writer import Recorder

    lr = LRS[i % len(LRS)]
    with Recorder(run, environment=False, durability="os", derive=False) as rec:
        rec.emit(Params(values={"lr": lr, "seed": i, "batch": 32}))
        for step in range(1, points // len(NAMES) + 1):
            loss = 2.0 / (1.0 + lr * 1e3 * step) + (i % 7) * 1e-3
            for name, value in zip(NAMES, (loss, 1.0 - loss / 2.0, 1.0 / step, lr), strict=True):
                rec.emit(Metric(name=name, value=value, step=step))


def _in_process(sql: str, tree: Path) -> Callable[[], int]:
    from vrx_core.cli.main import main

    def go() -> int:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["query", sql, os.fspath(tree), "--json"])
        assert code == 0, err.getvalue()
        return len(json.loads(out.getvalue()))

    return go


def _cli(sql: str, tree: Path) -> Callable[[], int]:
    def go() -> int:
        r = subprocess.run(
            [sys.executable, "-m", "vrx_core", "query", sql, os.fspath(tree), "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        return len(json.loads(r.stdout))

    return go


def _floor(tree: Path) -> Callable[[], int]:
    import duckdb

    glob = "'" + os.path.join(os.fspath(tree), "*", "metrics.parquet") + "'"

    def go() -> int:
        con = duckdb.connect()
        try:
            return len(con.execute(FLOOR_SQL.format(glob=glob)).fetchall())
        finally:
            con.close()

    return go


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000, help="runs in the tree (default 1000)")
    ap.add_argument("--points", type=int, default=200, help="metric points per run (default 200)")
    ap.add_argument("--repeats", type=int, default=5, help="rounds, medians shown (default 5)")
    ap.add_argument("--quick", action="store_true", help="100 runs, 3 rounds: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.runs, args.repeats = min(args.runs, 100), min(args.repeats, 3)
    os.environ.pop("VRX_LOAD_PLUGINS", None)
    os.environ.pop("VRX_PLUGINS_DIR", None)
    t0 = time.perf_counter()
    derived, logs = make_trees(args.runs, args.points)
    built = time.perf_counter() - t0
    fns: dict[str, Callable[[], int]] = {
        "floor": _floor(derived),
        "query": _in_process(METRICS_SQL, derived),
        "query-cli": _cli(METRICS_SQL, derived),
        "query-logs": _in_process(METRICS_SQL, logs),
        "query-runs": _in_process(RUNS_SQL, derived),
    }
    want = {"query-runs": len(LRS)}
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for v in VARIANTS:  # interleaved, so drift in the machine's state hits every variant alike
            t = time.perf_counter()
            n = fns[v]()
            times[v].append(time.perf_counter() - t)
            assert n == want.get(v, args.runs), (v, n)
    rows = _rows(times, args.runs)
    _print(rows, args, built, derived.parent)
    _write(rows, args, derived.parent)


def _rows(times: dict[str, list[float]], runs: int) -> list[dict[str, Any]]:
    med = {v: statistics.median(ts) for v, ts in times.items()}
    return [
        {
            "variant": v,
            "seconds": round(med[v], 4),
            "min_s": round(min(times[v]), 4),
            "ms_per_run": round(med[v] / runs * 1e3, 3),
            "x_floor": round(med[v] / med["floor"], 1),
        }
        for v in VARIANTS
    ]


def _print(rows: list[dict[str, Any]], args: argparse.Namespace, built: float, tree: Path) -> None:
    print(
        f"{args.runs} runs x {args.points} metric points, {args.repeats} rounds (medians), "
        f"{os.cpu_count()} CPUs; trees built in {built:.1f} s (cached at {tree})"
    )
    print(f"{'variant':<12}{'seconds':>9}{'min s':>9}{'ms/run':>9}{'x floor':>9}")
    for r in rows:
        print(
            f"{r['variant']:<12}{r['seconds']:>9.3f}{r['min_s']:>9.3f}{r['ms_per_run']:>9.3f}{r['x_floor']:>9.1f}"
        )


def _write(rows: list[dict[str, Any]], args: argparse.Namespace, tree: Path) -> None:
    import duckdb

    out = {
        "benchmark": "query",
        "machine": platform.node(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "cpus": os.cpu_count(),
        "command": "python bench/query.py" + "".join(f" {a}" for a in sys.argv[1:]),
        "tree": os.fspath(tree),
        "runs": args.runs,
        "points_per_run": args.points,
        "repeats": args.repeats,
        "sql": {"metrics": METRICS_SQL, "floor": FLOOR_SQL, "runs": RUNS_SQL},
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    name = "query_quick.json" if args.quick else "query.json"
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
