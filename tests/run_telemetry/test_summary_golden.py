"""The golden case ``tests/golden/telemetry_train``: how its log was recorded, and a check that a fresh
recording by the same script derives the same summary up to what depends on the clock.

Re-record the golden log (then ``python tests/golden/regen.py telemetry_train`` and review the diff)::

    python tests/run_telemetry/test_summary_golden.py tests/golden/telemetry_train
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vrx_core.engine.replay import replay
from vrx_core.events import Checkpoint, Environment, GitInfo, Metric, Params, TorchInfo
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.log.layout import MgrLayout
from vrx_core.log.writer import Recorder

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "telemetry_train"

#: A fixed environment (not this machine's), so the golden files do not depend on where it was made.
ENVIRONMENT = Environment(
    git=GitInfo(
        commit_full="4b3aa1f0c0ffee00d15ea5e0123456789abcdef0",
        branch="main",
        dirty=True,
        message="train: fixed-FLOPs baseline",
    ),
    python={"executable": "/opt/venv/bin/python", "version": "3.11.7", "implementation": "CPython"},
    host={
        "hostname": "gpu-node-01",
        "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
        "machine": "x86_64",
        "cpu_count": 32,
        "memory_bytes": 256 * 1024**3,
        "user": "trainer",
    },
    cwd="/home/trainer/model_guided_research",
    packages={"torch": "2.13.0", "vrx-core": "0.2.0"},
    env_vars={"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "8"},
    torch=TorchInfo(
        version="2.13.0",
        cuda_version="12.8",
        cuda_available=True,
        devices=[{"name": "NVIDIA H200", "total_memory_bytes": 150_029_631_488, "capability": "9.0"}],
    ),
)
CONFIG = {"model": {"depth": 4, "n_embd": 256, "n_head": 4}, "sequence_len": 256, "batch_size": 8}
PARAMS: dict[str, Any] = {
    "tokens_per_step": 2048,
    "flops_per_token": 1_500_000,
    "warmup_steps": 2,
    "max_steps": 8,
    "seed": 1337,
    "learning_rate": 6e-4,
    "attention_type": "standard",
    "optimizer_type": "adamw",
    "use_flex_attention": False,
    "compile": {"enabled": False, "backend": "inductor", "mode": "default", "fullgraph": False},
    "dataset": {"name": "fineweb-edu-10b", "parquet_files_count": 2},
    "check_numerics": True,
    "detect_anomaly": False,
    "val_interval": 4,
    "val_batches": 2,
}
LOSSES = [10.8, 10.2, 9.9, 9.1, 8.7, math.nan, 8.1, 7.9]
VAL_LOSSES = {3: 9.4, 7: 8.3}


def record(root: Path) -> Path:
    """Record the training-shaped run under ``root`` (mgr layout); return its directory."""
    layout = MgrLayout(kind="baseline", topic="nanochat", tag="golden", root=root)
    with Recorder(layout=layout, config=CONFIG, environment=ENVIRONMENT, summary=False) as rec:
        rec.emit(Params(values=PARAMS))
        for step, value in enumerate(LOSSES):
            time.sleep(0.02)
            rec.emit(Metric("loss", value, step))
            rec.emit(Metric("lr", PARAMS["learning_rate"] * (step + 1) / len(LOSSES), step))
            if step in VAL_LOSSES:
                rec.emit(Metric("val_loss", VAL_LOSSES[step], step))
        rec.emit(Metric("peak_memory_allocated_gb", 0.75, len(LOSSES) - 1))
        rec.emit(Checkpoint(path="checkpoints/step_7.pt", step=7))
        return rec.run_dir


def derived_summary(run_dir: Path) -> dict[str, Any]:
    replay(run_dir, PluginSet.load(Selection(only={"telemetry"})))
    loaded: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    return loaded


def _without_clock(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary less what a new recording changes: times, rates, the run id and the command."""
    for key in ("run_id", "generated_at", "command", "command_argv", "argv"):
        summary["meta"].pop(key)
    for key in ("step_times_s", "measured_time_s", "tokens_per_second", "tflops_per_second_est"):
        summary["results"].pop(key)
    return summary


def test_the_golden_case_is_what_the_script_records(tmp_path: Path) -> None:
    golden = json.loads((GOLDEN / "summary.json").read_text())
    assert golden["results"]["losses"][5] is None  # the NaN loss
    assert golden["numerics"]["non_finite_losses"] == 1
    assert golden["meta"]["run_id"].endswith("_golden")
    fresh = derived_summary(record(tmp_path))
    assert _without_clock(fresh) == _without_clock(golden)


def main(case: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = record(Path(tmp))
        shutil.copyfile(run_dir / "events.jsonl", case / "events.jsonl")
    print(f"recorded {case / 'events.jsonl'}; now run: python tests/golden/regen.py {case.name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
