"""`vrx sweep` end to end with the real commands (probe, assoc, packet) on a tiny CPU configuration."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
COLONY = '{"seq_len": 16, "synth_len": 16, "batch_size": 2, "ptr_update_every": 1, "state_loop_samples": 0}'


@pytest.mark.slow
def test_one_real_configuration_on_cpu(tmp_path: Path) -> None:
    """About 30 s on 2 cores: the smallest tier's ring still has 2048 x 256 cells."""
    pytest.importorskip("torch")
    run = tmp_path / "sweep"
    argv = [
        sys.executable, "-m", "vrx_core", "sweep", "--run-dir", str(run),
        "--tiers", "small", "--expert-heads", "1", "--batch", "2",
        "--probe-colony", COLONY, "--probe-warmup-steps", "1", "--probe-measure-steps", "2",
        "--probe-device", "cpu", "--probe-telemetry-interval", "0",
        "--cap-device", "cpu", "--cap-synth-len", "16", "--cap-assoc-keys", "4", "--cap-assoc-pairs", "2",
        "--cap-assoc-val-range", "8", "--cap-max-samples", "64", "--cap-eval-samples", "32",
        "--min-steps", "1", "--max-steps", "2", "--probe-timeout-s", "300", "--cap-timeout-s", "300",
    ]  # fmt: skip
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "VRX_FORCE_DEVICE": "cpu"}
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    with (run / "ant_ratio_summary.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "ok", row["error"]
    # No VRAM ratio on a CPU.
    assert (row["probe_pass"], row["steps"], row["vram_ratio_reserved"]) == ("True", "2", "")
    packet = json.loads((run / "ant_ratio_packets.jsonl").read_text())
    assert packet["schema_version"] == "ant_ratio_packet_v0"
    assert (packet["ant_tier"], packet["expert_heads"]) == ("small", 1)
    assert packet["assoc_eval_n"] == 32 and packet["token_budget_steps"] == 2
    assert packet["cap_train_rc"] == 0 and packet["cap_eval_device"] == "cpu"
    assert not (tmp_path / "runs").exists()  # the packet run stays inside the sweep
