"""The end-of-run table: a compact Rich view of ``summary.json`` (artifacts_layout_telemetry.md's
"Rich console summary"), printed by the ``vrx_end_of_run`` hook when a run ends on a terminal.

:func:`table_rows` is pure (the summary document in, ``(field, value)`` rows out); only
:func:`print_table` touches Rich, imported when it is called.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .runmd import compile_enabled, fmt, setting

#: The feature flags every table shows when the run set them (params, then config).
FLAGS: tuple[str, ...] = ("attention_type", "optimizer_type", "use_flex_attention", "compile")


def flag_names(summary: Mapping[str, Any]) -> list[str]:
    """:data:`FLAGS`, then the names listed in the ``summary_flags`` setting (a list of strings)."""
    names = list(FLAGS)
    extra = setting(summary, "summary_flags")
    if isinstance(extra, list):
        names += [n for n in extra if isinstance(n, str) and n not in names]
    return names


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        enabled = compile_enabled(value, None)
        if enabled is not None:
            return str(enabled)
    return json.dumps(value, sort_keys=True) if isinstance(value, Mapping | list) else str(value)


def table_rows(summary: Mapping[str, Any], run_dir: Path | str) -> list[tuple[str, str]]:
    """The table's rows for a ``summary.json`` document of the run in ``run_dir``."""
    meta: Mapping[str, Any] = summary["meta"]
    budget: Mapping[str, Any] = summary["budget"]
    results: Mapping[str, Any] = summary["results"]
    git: Mapping[str, Any] = meta["git"]
    dirty = git.get("dirty")
    state = "" if dirty is None else (" (dirty)" if dirty else " (clean)")
    rows = [
        ("Artifacts", str(run_dir)),
        ("Commit", f"{git.get('commit')}{state}"),
        ("Device", _show(meta.get("device"))),
        (
            "Budget",
            f"{budget['max_steps']} steps, {budget['warmup_steps']} warmup, "
            f"{fmt(budget['tokens_per_step_global'], ',')} tokens/step, "
            f"{fmt(budget['flops_per_token_est'], ',')} FLOPs/token",
        ),
        ("Final loss", fmt(results.get("final_loss"), ".4f")),
    ]
    if results.get("val_losses"):
        rows.append(("Final val loss", fmt(results.get("val_ce_final"), ".4f")))
    rows += [
        ("Tokens/s", fmt(results.get("tokens_per_second"), ",.0f")),
        ("TFLOP/s (est)", fmt(results.get("tflops_per_second_est"), ".2f")),
        ("Peak Mem (GB)", fmt(results.get("peak_memory_allocated_gb"), ".2f")),
    ]
    for name in flag_names(summary):
        value = setting(summary, name)
        if value is not None:
            rows.append((name, _show(value)))
    return rows


def print_table(console: Any, summary: Mapping[str, Any], run_dir: Path | str) -> None:
    """Print the table titled ``<topic> summary`` on ``console`` (a ``rich.console.Console``)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{summary['meta']['topic']} summary", box=box.ROUNDED)
    table.add_column("Field", style="cyan")
    table.add_column("Value")
    for name, value in table_rows(summary, run_dir):
        table.add_row(Text(name), Text(value))  # Text: a value is never read as Rich markup
    console.print(table)


__all__ = ["FLAGS", "flag_names", "print_table", "table_rows"]
