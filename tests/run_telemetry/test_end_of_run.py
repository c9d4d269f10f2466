"""The end-of-run table (``vrx_end_of_run``): the rows, its title, nothing for a run without metrics,
and the whole path from ``Recorder.close`` on a terminal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from vrx_core.events import Environment, GitInfo, Metric, Params, TorchInfo
from vrx_core.log.writer import Recorder
from vrx_plugins import run_telemetry
from vrx_plugins.run_telemetry.console import flag_names, table_rows
from vrx_plugins.run_telemetry.summary import TelemetryFold, build_summary

ENV = Environment(
    git=GitInfo(commit_full="fedcba9876543210" * 2 + "fedcba98", branch="main", dirty=False),
    python={"executable": "/usr/bin/python3", "version": "3.11.7"},
    host={"hostname": "node1"},
    cwd="/src",
    torch=TorchInfo(version="2.13.0", cuda_available=True, devices=[{"name": "H200"}]),
)
PARAMS = {
    "tokens_per_step": 65536,
    "flops_per_token": 123456,
    "warmup_steps": 1,
    "max_steps": 3,
    "attention_type": "standard",
    "optimizer_type": "muon",
    "use_flex_attention": False,
    "compile": {"enabled": True, "backend": "inductor"},
    "summary_flags": ["lr", "missing", 3],
    "lr": 0.02,
}


def record(run_dir: Path, *, metrics: bool = True, summary: bool = False) -> Path:
    with Recorder(run_dir, environment=ENV, summary=summary) as rec:
        rec.emit(Params(values=PARAMS))
        if metrics:
            for step in range(3):
                rec.emit(Metric("loss", 3.0 - step, step))
            rec.emit(Metric("peak_memory_allocated_gb", 6.125, 2))
    return run_dir


def printed(run_dir: Path) -> str:
    out = io.StringIO()
    run_telemetry.vrx_end_of_run(run_dir=run_dir, console=Console(file=out, width=100, color_system=None))
    return out.getvalue()


def test_the_table_has_the_spec_rows(tmp_path: Path) -> None:
    text = printed(record(tmp_path / "train"))
    assert "train summary" in text  # no layout or topic: the run id
    for field, value in (
        ("Artifacts", str(tmp_path / "train")),
        ("Commit", "fedcba9 (clean)"),
        ("Device", "cuda"),
        ("Budget", "3 steps, 1 warmup, 65,536 tokens/step, 123,456 FLOPs/token"),
        ("Final loss", "1.0000"),
        ("Peak Mem (GB)", "6.12"),
        ("attention_type", "standard"),
        ("optimizer_type", "muon"),
        ("use_flex_attention", "False"),
        ("compile", "True"),
        ("lr", "0.02"),
    ):
        assert any(field in line and value in line for line in text.splitlines()), (field, value, text)
    assert "Tokens/s" in text
    assert "TFLOP/s (est)" in text
    assert "missing" not in text


def test_nothing_for_a_run_without_metrics(tmp_path: Path) -> None:
    assert printed(record(tmp_path / "run", metrics=False)) == ""


def rows_for(params: dict[str, Any], env: Environment | None = None) -> dict[str, str]:
    fold = TelemetryFold()
    if env is not None:
        fold.add(env)
    fold.add(Params(values=params))
    fold.add(Metric("loss", 2.0, 0, t=1.0))
    return dict(table_rows(build_summary(fold), "runs/[bold]x"))


def test_rows_for_unknowns() -> None:
    rows = rows_for({})
    assert rows["Commit"] == "unknown"
    assert rows["Device"] == "unknown"
    assert rows["Budget"] == "1 steps, 0 warmup, n/a tokens/step, n/a FLOPs/token"
    assert rows["Tokens/s"] == rows["TFLOP/s (est)"] == rows["Peak Mem (GB)"] == "n/a"
    assert "Final val loss" not in rows


def test_dirty_commit_and_flags_from_config() -> None:
    env = Environment(git=GitInfo(commit_full="1234567890", dirty=True), python={}, host={}, cwd="/")
    assert rows_for({}, env)["Commit"] == "1234567 (dirty)"
    assert flag_names({"hparams": {"summary_flags": ["a", "compile"]}, "config": {}})[-1] == "a"


def test_markup_in_values_is_printed_as_text(tmp_path: Path) -> None:
    run = record(tmp_path / "[bold]run")
    assert "[bold]run" in printed(run)


def test_recorder_close_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Recorder(summary=True) loads the installed plugins at close; this one prints its table."""
    record(tmp_path / "run", summary=True)
    out = capsys.readouterr().out
    assert "run summary" in out
    assert "Final loss" in out
