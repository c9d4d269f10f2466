"""The ranking as a table: Rich on a terminal, aligned plain text when piped (for grep and awk)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from .rows import as_bool, as_float, as_int

Cell = Callable[[Mapping[str, Any]], str]


def _num(field: str, fmt: str) -> Cell:
    return lambda r: format(as_float(r.get(field)), fmt)


def _int(field: str) -> Cell:
    return lambda r: str(as_int(r.get(field)))


#: (header, cell, right-aligned)
COLUMNS: tuple[tuple[str, Cell, bool], ...] = (
    ("#", _int("rank"), True),
    ("run", lambda r: str(r.get("run_tag") or ""), False),
    ("tier", lambda r: str(r.get("ant_tier") or ""), False),
    ("heads", _int("expert_heads"), True),
    ("batch", _int("batch"), True),
    ("steps", _int("token_budget_steps"), True),
    ("probe", lambda r: "PASS" if as_bool(r.get("probe_pass")) else "FAIL", False),
    ("vram", _num("vram_ratio_reserved", ".3f"), True),
    ("|vram-target|", _num("vram_target_abs_error", ".3f"), True),
    ("tok/s", _num("throughput_tokens_per_s", ".1f"), True),
    ("tok/s per vram", _num("tokens_per_vram_ratio", ".1f"), True),
    ("acc", _num("assoc_byte_disjoint_accuracy", ".4f"), True),
    ("acc per vram", _num("assoc_acc_per_vram_ratio", ".4f"), True),
    ("eval_n", _int("assoc_eval_n"), True),
    ("rankable", lambda r: "yes" if as_bool(r.get("rankable")) else "no", False),
)


def cells(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[cell(r) for _, cell, _ in COLUMNS] for r in rows]


def widths(grid: Sequence[Sequence[str]]) -> list[int]:
    return [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]


def plain_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Columns two spaces apart, numbers right-aligned, one line per row after the header."""
    grid = [[h for h, _, _ in COLUMNS], *cells(rows)]
    lines = []
    for line in grid:
        columns = zip(line, widths(grid), COLUMNS, strict=True)
        parts = [c.rjust(w) if right else c.ljust(w) for c, w, (_, _, right) in columns]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def print_ranking(rows: Sequence[Mapping[str, Any]], out: TextIO | None = None) -> None:
    """The ranked rows on ``out`` (stdout): a Rich table on a terminal wide enough for every column
    (Rich would crop or squash them), else :func:`plain_table`."""
    stream = out if out is not None else sys.stdout
    if not stream.isatty():
        stream.write(plain_table(rows))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream)
    body = cells(rows)
    col_widths = widths([[h for h, _, _ in COLUMNS], *body])
    if sum(col_widths) + 3 * len(COLUMNS) + 1 > console.width:
        stream.write(plain_table(rows))
        return
    table = Table(title="ant ratio ranking (rankable first, nearest the VRAM target first)")
    for (header, _, right), width in zip(COLUMNS, col_widths, strict=True):
        table.add_column(header, justify="right" if right else "left", no_wrap=True, min_width=width)
    for row, line in zip(rows, body, strict=True):
        table.add_row(*line, style=None if as_bool(row.get("rankable")) else "dim")
    console.print(table)
