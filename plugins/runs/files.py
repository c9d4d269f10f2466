"""The rvinci run files as pure functions of the recorded events (runs_and_artifacts.md, ORIGINS 5).

``run_manifest.json``'s ``schema_version`` is the integer 1: rvinci defines no value for run
manifests, and 1 (int) is the only precedent in its repository (its model and dataset manifests).
"""

from __future__ import annotations

import time
from typing import Any

from vrx_core.events import Checkpoint, Environment, Metric, RunLayout, RunStart

RUN_MANIFEST_SCHEMA_VERSION = 1


def run_manifest(
    *,
    layout: RunLayout,
    start: RunStart | None,
    env: Environment | None,
    has_config: bool,
    checkpoints: list[Checkpoint],
) -> dict[str, Any]:
    """``run_manifest.json``: rvinci's required keys, then its optional torch/CUDA/device facts."""
    torch = env.torch if env is not None else None
    git = env.git if env is not None else None
    return {
        "schema_version": RUN_MANIFEST_SCHEMA_VERSION,
        "project_name": layout.project,
        "run_id": layout.run_id,
        "git_hash": git.commit_full if git is not None else None,
        "git": None if git is None else {"branch": git.branch, "dirty": git.dirty, "error": git.error},
        "package_versions": env.packages if env is not None else {},
        "python_version": env.python.get("version") if env is not None else None,
        "torch_version": torch.version if torch is not None else None,
        "cuda_version": torch.cuda_version if torch is not None else None,
        "device_info": torch.devices if torch is not None else None,
        "host": env.host if env is not None else None,
        "created_utc": _utc(start.t) if start is not None else None,
        "argv": start.argv if start is not None else [],
        "config_resolved": "config_resolved.yaml" if has_config else None,
        "checkpoints": [_checkpoint(c) for c in checkpoints],
    }


def metrics_document(series: dict[str, list[tuple[int | None, float]]]) -> dict[str, Any]:
    """``metrics.json``: each metric's last value (``final``) and its ``[step, value]`` series, in
    recorded order. Non-finite values are null, as in every derived JSON file."""
    return {
        "final": {name: points[-1][1] for name, points in series.items()},
        "series": {name: [[step, value] for step, value in points] for name, points in series.items()},
    }


def add_metric(series: dict[str, list[tuple[int | None, float]]], metric: Metric) -> None:
    name = metric.name if not metric.rank else f"{metric.name}@rank{metric.rank}"
    series.setdefault(name, []).append((metric.step, metric.value))


def _checkpoint(c: Checkpoint) -> dict[str, Any]:
    return {"path": c.path, "step": c.step, "size_bytes": c.size_bytes, "sha256": c.sha256}


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


__all__ = ["RUN_MANIFEST_SCHEMA_VERSION", "add_metric", "metrics_document", "run_manifest"]
