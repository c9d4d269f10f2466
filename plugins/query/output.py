"""``vrx query``'s output: an aligned table (Rich on a terminal, plain columns when piped), JSON or CSV.

Non-finite floats are spelled as in streamed JSON (``"NaN"``, ``"Infinity"``, ``"-Infinity"``,
:mod:`vrx_core.codec`) in every format; NULL is ``null`` in JSON, an empty CSV field and ``NULL``
in the table. MAP, STRUCT and LIST values are JSON text in the table and CSV, nested in JSON;
a JSON-typed column (``runs.params``) is nested in JSON too.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final, TextIO

import msgspec

from vrx_core.codec import json_safe, nonfinite_marker

_NUMERIC: Final = frozenset(
    {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "FLOAT",
        "DOUBLE",
    }
)
_ENCODER: Final = msgspec.json.Encoder(decimal_format="number", enc_hook=str)


def is_numeric(kind: str) -> bool:
    return kind in _NUMERIC or kind.startswith("DECIMAL")


def cell(value: Any, null: str = "NULL") -> str:
    """One value as table or CSV text."""
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else nonfinite_marker(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, dict | list | tuple):
        return _ENCODER.encode(json_safe(value)).decode()
    return str(value)


def write_json(
    out: TextIO, names: Sequence[str], kinds: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """One JSON array of row objects (keys in column order)."""
    docs = []
    for row in rows:
        doc = {}
        for name, kind, value in zip(names, kinds, row, strict=True):
            doc[name] = _json_value(value, kind)
        docs.append(doc)
    out.write(_ENCODER.encode(json_safe(docs)).decode() + "\n")


def _json_value(value: Any, kind: str) -> Any:
    if kind == "JSON" and isinstance(value, str):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            return value
    if isinstance(value, Decimal) and not value.is_finite():
        return str(value)
    return value


def write_csv(out: TextIO, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """RFC 4180 CSV with a header row; NULL is an empty field."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(names)
    for row in rows:
        w.writerow([cell(v, null="") for v in row])


def write_table(
    out: TextIO, names: Sequence[str], kinds: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """A Rich table on a terminal, else plain columns two spaces apart (never folded), numbers
    right-aligned."""
    grid = [[_printable(cell(v)) for v in row] for row in rows]
    right = [is_numeric(k) for k in kinds]
    if out.isatty() and os.environ.get("TERM") != "dumb":
        _rich_table(out, names, right, grid)
        return
    header = [_printable(n) for n in names]
    widths = [max(len(c) for c in col) for col in zip(header, *grid, strict=True)]
    for line in [header, *grid]:
        parts = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(line, widths, right, strict=True)]
        out.write("  ".join(parts).rstrip() + "\n")


def _rich_table(
    out: TextIO, names: Sequence[str], right: Sequence[bool], grid: Sequence[Sequence[str]]
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, highlight=False)
    for name, r in zip(names, right, strict=True):
        table.add_column(Text(name), justify="right" if r else "left", overflow="fold")
    for cells in grid:
        table.add_row(*(Text(c, style="dim") if c == "NULL" else Text(c) for c in cells))
    Console(file=out).print(table)


def _printable(text: str) -> str:
    """A value from the runs in one cell: control characters escaped, never interpreted."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


__all__ = ["cell", "is_numeric", "write_csv", "write_json", "write_table"]
