"""Input roots for the ant_ratio tests, written as the original VRAXION tools wrote them (no tests here).

- ``gpu_capacity_probe.py``: ``metrics.json`` (every contract key and extra), ``run_cmd.txt`` and
  ``env.json`` (``gpu_env_dump``'s v1 key set), JSON with sort_keys, indent 2, ASCII, newline;
- ``eval_ckpt_assoc_byte.py``: ``report.json`` in the shape of ORIGINS 2.6.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The upstream test vector (ORIGINS 2.5, ``test_ant_ratio_packet_v0.py``).
VECTOR_METRICS: dict[str, Any] = {
    "batch_size": 16,
    "seq_len": 256,
    "out_dim": 4,
    "precision": "fp16",
    "amp": 1,
    "throughput_tokens_per_s": 123.0,
    "throughput_samples_per_s": 0.5,
    "peak_vram_reserved_bytes": 8_500_000_000,
    "stability_pass": True,
    "had_oom": False,
    "had_nan": False,
    "had_inf": False,
    "fail_reasons": [],
    "workload_id": "wl_x",
    "probe_id": "probe_x",
}
VECTOR_ENV: dict[str, Any] = {"total_vram_bytes": 10_000_000_000}
VECTOR_RUN_CMD: dict[str, Any] = {
    "canonical_spec": {
        "ant_spec": {"ring_len": 2048, "slot_dim": 256},
        "colony_spec": {"batch_size": 16, "seq_len": 256},
    }
}
VECTOR_REPORT: dict[str, Any] = {
    "settings": {"eval_disjoint": True},
    "eval": {"eval_acc": 0.75, "eval_n": 1234},
}
VECTOR_TOKEN_BUDGET = 256 * 16 * 10


def dump(path: Path, obj: Any) -> None:
    """The original tools' JSON layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")


def vector_roots(base: Path) -> tuple[Path, Path]:
    """The upstream test's two roots (the test wrote json.dumps(..., sort_keys=True) files)."""
    probe, assoc = base / "probe", base / "assoc"
    dump(probe / "metrics.json", VECTOR_METRICS)
    dump(probe / "env.json", VECTOR_ENV)
    dump(probe / "run_cmd.txt", VECTOR_RUN_CMD)
    dump(assoc / "report.json", VECTOR_REPORT)
    return probe, assoc


def original_metrics(**over: Any) -> dict[str, Any]:
    """A real-tier metrics.json as gpu_capacity_probe.py wrote it on CUDA (all keys present)."""
    m: dict[str, Any] = {
        "batch_size": 12,
        "seq_len": 256,
        "warmup_steps": 5,
        "measure_steps": 50,
        "measure_wall_time_s": 6.0,
        "median_step_time_s": 0.118,
        "p95_step_time_s": 0.131,
        "throughput_samples_per_s": 100.0,
        "throughput_tokens_per_s": 25600.0,
        "peak_vram_reserved_bytes": 12_000_000_000,
        "peak_vram_allocated_bytes": 10_500_000_000,
        "had_oom": False,
        "had_nan": False,
        "had_inf": False,
        "stability_pass": True,
        "fail_reasons": [],
        "workload_id": "wl_v1_0123456789ab",
        "probe_id": "wl_v1_0123456789ab__E2__fp16_amp1",
        "synth_len": 256,
        "out_dim": 2,
        "device": "cuda",
        "precision": "fp16",
        "amp": 1,
        "vram_guard_ratio": 0.92,
        "heartbeat_stall_detected": False,
        "heartbeat_stall_threshold_s": 60.0,
        "heartbeat_last_progress_age_s": 0.12,
        "step_time_mode": "cuda_events",
        "runtime_exception_msg": None,
        "debug_stall_after_step": -1,
        "debug_stall_s": 0.0,
        "debug_stall_threshold_s": 0.0,
    }
    m.update(over)
    return m


def original_env() -> dict[str, Any]:
    """env.json with gpu_env_dump's exact v1 key set."""
    return {
        "env_schema_version": "v1",
        "tool_version": "gpu_env_dump/1.0",
        "generated_utc": "2026-02-07T12:00:00+00:00",
        "os": "Windows-11-10.0.26100-SP0",
        "python_version": "3.11.9",
        "torch_version": "2.5.1+cu124",
        "cuda_version": "12.4",
        "precision": "fp16",
        "amp": 1,
        "gpu_name": "NVIDIA GeForce RTX 4070 Ti SUPER",
        "total_vram_bytes": 15_000_000_000,
        "compute_capability": "8.9",
        "driver_version": "566.14",
        "cuda_driver_reported": "12.7",
        "driver_model": "WDDM",
        "nvidia_smi_query": "ok",
        "nvidia_smi_raw": "NVIDIA GeForce RTX 4070 Ti SUPER, 16376, 566.14",
        "git_commit": "3bb289f6",
        "git_dirty": 0,
        "git_error": None,
        "env_vars": {"CUDA_VISIBLE_DEVICES": None},
        "errors": [],
    }


def original_run_cmd() -> dict[str, Any]:
    canonical = {
        "schema_version": "workload_schema_v1",
        "ant_spec": {"ring_len": 8192, "slot_dim": 576, "ptr_dtype": "fp64", "precision": "fp16"},
        "colony_spec": {
            "seq_len": 256,
            "synth_len": 256,
            "batch_size": 12,
            "ptr_update_every": 1,
            "state_loop_samples": 0,
        },
    }
    return {
        "argv": [
            "Golden Draft/tools/gpu_capacity_probe.py",
            "--ant",
            "OD1_CANON_REAL",
            "--colony",
            "OD1_CANON_REAL",
            "--out-dim",
            "2",
            "--batch",
            "12",
        ],
        "contract_rel_golden_draft": "docs/gpu/objective_contract_v1.md",
        "contract_repo_path": "Golden Draft/docs/gpu/objective_contract_v1.md",
        "workload_schema_rel_golden_draft": "docs/gpu/workload_schema_v1.md",
        "workload_schema_repo_path": "Golden Draft/docs/gpu/workload_schema_v1.md",
        "resolved_spec": canonical,
        "canonical_spec": canonical,
        "workload_id": "wl_v1_0123456789ab",
        "probe_id": "wl_v1_0123456789ab__E2__fp16_amp1",
        "notes": ["seq_len is accounting (tokens/sec uses seq_len)."],
    }


def original_report(**eval_over: Any) -> dict[str, Any]:
    """report.json of eval_ckpt_assoc_byte.py (ORIGINS 2.6)."""
    ev: dict[str, Any] = {
        "eval_loss": 5.1,
        "eval_acc": 0.0078125,
        "eval_acc_d0": None,
        "eval_acc_d1": None,
        "eval_n": 4096,
        "eval_mi_bits": 0.01,
        "eval_mi_bits_shuffled": 0.0,
        "eval_ptr_flip_rate": 0.2,
        "eval_tei": 0.0,
        "mitosis_parent_expert": None,
        "mitosis_hot_addresses": [],
        "mitosis_expert_imbalance": None,
    }
    ev.update(eval_over)
    return {
        "benchmark": "eval_ckpt_assoc_byte",
        "run_root": "bench_vault/_tmp/vra78/real_E2_seed123",
        "git_rev": "3bb289f6",
        "platform": {"python": "3.11.9", "os": "Windows"},
        "settings": {
            "device": "cpu",
            "dtype": "fp32",
            "seed": 123,
            "model": "absolute_hallway",
            "ring_len": 8192,
            "slot_dim": 576,
            "expert_capacity_hidden_dims": None,
            "batch_size": 32,
            "seq_len": 256,
            "max_samples": 8192,
            "eval_samples": 4096,
            "lr": 0.0,
            "keys": 64,
            "pairs": 4,
            "val_range": 256,
            "assoc_unique_keys": True,
            "assoc_mq_dup": 1,
            "assoc_mq_grouped": 1,
            "eval_disjoint": True,
            "eval_split_source": "forced",
            "eval_seed_offset": 1000003,
            "eval_ptr_deterministic": False,
            "abort_after": 0,
            "abort_acc": 0.0,
        },
        "model_shape": {"ring_len": 8192, "slot_dim": 576, "num_classes": 256, "expert_heads": 2},
        "params": {"total": 1, "trainable": 1, "head": 1, "core": 0},
        "train": {"steps": 81, "loss_slope": -0.001},
        "eval_mid": None,
        "eval": ev,
        "notes": "postmortem eval from checkpoint (no additional training)",
    }


def original_roots(base: Path, *, metrics: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """A probe root and an assoc root (``seed123`` in its name) in the original tools' formats."""
    probe, assoc = base / "probe_real_E2_B12", base / "real_E2_seed123"
    dump(probe / "metrics.json", metrics if metrics is not None else original_metrics())
    dump(probe / "env.json", original_env())
    dump(probe / "run_cmd.txt", original_run_cmd())
    (probe / "metrics.csv").write_text("batch_size\r\n12\r\n")
    (probe / "summary.md").write_text("# GPU Capacity Probe Summary (VRA-32)\n- status: PASS\n")
    dump(assoc / "report.json", original_report())
    (assoc / "vraxion.log").write_text("[synth] mode=assoc_byte rows=8192 keys=64 vals=256 pairs=4 len=256\n")
    return probe, assoc
