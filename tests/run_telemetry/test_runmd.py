"""run.md: nanochat's sections in upstream's order and formats (ORIGINS.md 3.3), from summary.json."""

from __future__ import annotations

import math
from typing import Any

from vrx_core.events import Environment, GitInfo, Metric, Params, RunLayout, RunStart, WriterInfo
from vrx_plugins.run_telemetry.runmd import fmt, run_md
from vrx_plugins.run_telemetry.summary import TelemetryFold, build_summary

T0 = 1_767_268_800.0


def summary(params: dict[str, Any], *, layout: bool = True, warmup_losses: int = 4) -> dict[str, Any]:
    fold = TelemetryFold()
    fold.add(
        RunStart(
            run_id="x",
            format_major=1,
            format_minor=0,
            writer=WriterInfo(host="h", pid=1),
            argv=["python", "-m", "nanochat.train", "--depth", "4"],
            t=T0,
        )
    )
    if layout:
        fold.add(RunLayout(style="mgr", run_id="20260101_120000", kind="baseline", topic="nanochat", t=T0))
    git = GitInfo(commit_full="a" * 40, branch="main", dirty=True, message="m")
    fold.add(Environment(git=git, python={}, host={}, cwd="/", t=T0))
    fold.add(Params(values=params, t=T0))
    for i in range(warmup_losses):
        fold.add(Metric("loss", 4.0 - i, i, t=T0 + 10 + i))
    fold.add(Metric("val_loss", 1.23456, 3, t=T0 + 14))
    fold.add(Metric("peak_memory_allocated_gb", 6.12, 3, t=T0 + 14))
    return build_summary(fold)


FULL = {
    "tokens_per_step": 65536,
    "flops_per_token": 123456,
    "warmup_steps": 1,
    "compile": {
        "enabled": True,
        "backend": "inductor",
        "mode": "default",
        "fullgraph": False,
        "dynamic": None,
        "compile_flex_attention": True,
    },
    "check_numerics": False,
    "detect_anomaly": False,
    "val_interval": 250,
    "val_batches": 8,
}


def test_run_md_sections_and_values() -> None:
    assert run_md(summary(FULL)) == (
        "# nanochat run\n"
        "\n"
        "- Run ID: `20260101_120000`\n"
        "- Generated: 2026-01-01T12:00:14Z\n"
        "- Artifacts: `baseline/nanochat/20260101_120000`\n"
        f"- Commit: {'a' * 40} (dirty)\n"
        "\n"
        "## Command\n"
        "\n"
        "```bash\n"
        "python -m nanochat.train --depth 4\n"
        "```\n"
        "\n"
        "## Budget\n"
        "\n"
        "- steps: 4\n"
        "- warmup_steps: 1\n"
        "- tokens/step (global): 65,536\n"
        "- FLOPs/token (est): 123,456\n"
        "- FLOPs/step (est): 8,090,812,416\n"
        "- planned_total_FLOPs (est): 32,363,249,664\n"
        "\n"
        "## Compilation\n"
        "\n"
        "- torch.compile: True\n"
        "- compile_backend: 'inductor'\n"
        "- compile_mode: 'default'\n"
        "- compile_fullgraph: False\n"
        "- compile_dynamic: -\n"
        "- compile_flex_attention: True\n"
        "\n"
        "## Numerics (debug)\n"
        "\n"
        "- check_numerics: False\n"
        "- detect_anomaly: False\n"
        "- non_finite_losses: 0\n"
        "\n"
        "## Results (measured after warmup)\n"
        "\n"
        "- measured_steps: 3\n"
        "- measured_tokens: 196,608\n"
        "- measured_time_s: 3.000\n"
        "- tokens/s: 65,536\n"
        "- TFLOP/s (est): 0.01\n"
        "- peak_memory_allocated_gb: 6.12\n"
        "- final_train_ce: 1.0000\n"
        "- val_interval: 250\n"
        "- val_batches: 8\n"
        "- final_val_ce: 1.23456\n"
        "\n"
        "See `summary.json` for full details.\n"
    )


def test_unknown_values_read_na_and_compile_dash() -> None:
    text = run_md(summary({}, layout=False))
    assert text.startswith("# x run\n")  # no layout: the run id is the topic
    assert "- Artifacts: `baseline/x/x`\n" in text
    for line in (
        "- tokens/step (global): n/a",
        "- FLOPs/step (est): n/a",
        "- torch.compile: -",
        "- compile_backend: -",
        "- check_numerics: n/a",
        "- measured_tokens: n/a",
        "- tokens/s: n/a",
        "- TFLOP/s (est): n/a",
        "- val_interval: n/a",
    ):
        assert line + "\n" in text


def test_a_boolean_compile_flag_fills_torch_compile() -> None:
    assert "- torch.compile: False\n" in run_md(summary({"compile": False}))


def test_non_finite_losses_are_named() -> None:
    fold = TelemetryFold()
    fold.add(Metric("loss", 1.0, 0, t=T0))
    fold.add(Metric("loss", math.nan, 1, t=T0 + 1))
    text = run_md(build_summary(fold))
    assert "- non_finite_losses: 1 (first at step 1)\n" in text
    assert "- final_train_ce: n/a\n" in text  # NaN is null in summary.json


def test_fmt() -> None:
    assert fmt(None, ",") == "n/a"
    assert fmt(math.inf) == "n/a"
    assert fmt("x", ",") == "n/a"
    assert fmt(True) == "True"
    assert fmt(1234567, ",") == "1,234,567"
    assert fmt(0.5) == "0.5"
