"""The runs plugin: config.yaml, config_resolved.yaml, run_manifest.json and metrics.json by replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from vrx_core import MgrLayout, Recorder, RvinciLayout
from vrx_core.events import Environment, GitInfo, Metric, TorchInfo

ENV = Environment(
    git=GitInfo(commit_full="a" * 40, branch="main", dirty=False, message="train"),
    python={"executable": "/usr/bin/python3", "version": "3.11.2", "implementation": "CPython"},
    host={"hostname": "h", "platform": "Linux", "machine": "x86_64", "cpu_count": 2},
    cwd="/work",
    packages={"numpy": "2.4.6", "torch": "2.13.0"},
    torch=TorchInfo(version="2.13.0", cuda_version="12.8", cuda_available=True, devices=[{"name": "H200"}]),
)
RVINCI_FILES = ("config.yaml", "config_resolved.yaml", "run_manifest.json", "metrics.json")


def _record(root: Path, layout: RvinciLayout | MgrLayout | None = None) -> Path:
    cfg = OmegaConf.create({"model": {"dim": 64}, "head": {"dim": "${model.dim}"}, "lr": 0.001})
    kwargs: dict[str, Any] = {"config": cfg, "environment": ENV, "summary": False}
    with Recorder(root / "plain", **kwargs) if layout is None else Recorder(layout=layout, **kwargs) as rec:
        for step, loss in enumerate([2.0, 1.5, float("nan"), 1.0]):
            rec.emit(Metric(name="loss", value=loss, step=step))
        rec.emit(Metric(name="acc", value=0.9, step=3))
    return rec.run_dir


def test_rvinci_run_files_are_derived(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = _record(tmp_path, RvinciLayout(project="detector", root=tmp_path / "runs"))
    assert cli("replay", str(run)).code == 0
    assert (run / "config.yaml").read_text() == 'model:\n  dim: 64\nhead:\n  dim: "${model.dim}"\nlr: 0.001\n'
    assert (run / "config_resolved.yaml").read_text() == "model:\n  dim: 64\nhead:\n  dim: 64\nlr: 0.001\n"
    assert "${" not in (run / "config_resolved.yaml").read_text()
    manifest = json.loads((run / "run_manifest.json").read_text())
    assert manifest["schema_version"] == 1
    assert manifest["project_name"] == "detector"
    assert manifest["git_hash"] == "a" * 40
    assert manifest["package_versions"] == {"numpy": "2.4.6", "torch": "2.13.0"}
    assert (manifest["torch_version"], manifest["cuda_version"]) == ("2.13.0", "12.8")
    assert manifest["device_info"] == [{"name": "H200"}]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["final"] == {"loss": 1.0, "acc": 0.9}
    assert metrics["series"]["loss"] == [[0, 2.0], [1, 1.5], [2, None], [3, 1.0]]


@pytest.mark.parametrize("style", ["rvinci", "mgr"])
def test_derived_files_are_rebuilt_byte_for_byte(tmp_path: Path, cli: Callable[..., Any], style: str) -> None:
    layout = (
        RvinciLayout(project="p", root=tmp_path)
        if style == "rvinci"
        else MgrLayout(kind="baseline", topic="t", root=tmp_path)
    )
    run = _record(tmp_path, layout)
    assert cli("replay", str(run)).code == 0
    derived = json.loads((run / "derived.json").read_text())
    files = {rel: (run / rel).read_bytes() for rel in _derived_files(derived)}
    assert "config.yaml" in files
    assert ("run_manifest.json" in files) == (style == "rvinci")
    for rel in files:
        (run / rel).unlink()
    assert cli("replay", str(run)).code == 0
    assert {rel: (run / rel).read_bytes() for rel in files} == files
    assert cli("replay", "--check", str(run)).code == 0


def _derived_files(provenance: dict[str, Any]) -> list[str]:
    return sorted(provenance["files"])


def test_a_run_outside_rvinci_gets_config_files_only(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = _record(tmp_path)
    assert cli("replay", str(run)).code == 0
    assert (run / "config.yaml").exists()
    assert not (run / "run_manifest.json").exists()
    assert not (run / "metrics.json").exists()
