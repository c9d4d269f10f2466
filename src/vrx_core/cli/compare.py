"""``vrx compare``: two or more runs side by side, differences marked.

Reading and folding the runs is :mod:`vrx_core.engine.runcompare`; this module is the command and
its table (Rich on a terminal, plain text with a ``*`` on every differing row otherwise) and JSON.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from vrx_core.errors import ExitCode, UsageError
from vrx_core.hooks.host import common_options

if TYPE_CHECKING:
    from vrx_core.engine.runcompare import Row, RunData

#: The sections of the table, in order, each under a heading line of its name.
SECTIONS = ("params", "config", "metrics")

_DESCRIPTION = """\
Compare two or more runs: their params (every params event merged, later values winning, nested
dicts flattened to dotted keys; a key holding a dot itself is quoted, ["opt.lr"]), their resolved
config (the config event, flattened the same way, rows config.KEY) and, for every metric, the last
value, the best value with the step it was reached at, and with --step N the value at step N. A
key a run lacks shows -, a recorded null shows null. Rows where the runs differ (status, events,
duration, params, config, metrics) are marked: `*` in the first column of plain text, highlighted
on a terminal.

Best is the lowest value for a metric whose name contains loss, err, ppl, perplexity, mse, mae
or latency (any case), the highest for any other; --lower-is-better GLOB and --higher-is-better
GLOB decide for matching names (lower first). NaN values are never best.

Each log is read in full and checked. exit codes: 0 compared; 2 usage (fewer than two runs);
65 a corrupt log (the message names the file and line); 66 no such run; 78 newer major format.
"""


def add_compare(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        parents=[common_options()],
        help="compare runs side by side: params and metrics (last, best, at a step), differences marked",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "runs", metavar="RUN", nargs="+", help="two or more run directories (or their events.jsonl)"
    )
    p.add_argument(
        "--step", type=_step, metavar="N", help="also show each metric's value at step N (N >= 0)"
    )
    p.add_argument(
        "--only-diff", action="store_true", help="show only the params, config and metrics rows that differ"
    )
    p.add_argument(
        "--lower-is-better",
        dest="lower",
        action="append",
        default=[],
        metavar="GLOB",
        help="metrics matching GLOB are best at their lowest (repeatable)",
    )
    p.add_argument(
        "--higher-is-better",
        dest="higher",
        action="append",
        default=[],
        metavar="GLOB",
        help="metrics matching GLOB are best at their highest (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_compare)


def _step(text: str) -> int:
    """``--step``: a step number, an integer >= 0 (anything else is a usage error)."""
    try:
        step = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if step < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; a step is >= 0")
    return step


def cmd_compare(args: argparse.Namespace) -> int:
    import msgspec

    from vrx_core.engine.runcompare import Better, compare_rows, load_run

    if len(args.runs) < 2:
        raise UsageError("compare needs two or more runs")
    better = Better(lower=tuple(args.lower), higher=tuple(args.higher))
    registry = args.pm_registry()
    runs = [load_run(r, registry=registry, better=better, step=args.step) for r in args.runs]
    statuses = [_status(r) for r in runs]
    rows = compare_rows(runs, better=better, step=args.step)
    if args.only_diff:
        rows = [r for r in rows if r.differs]
    if args.json:
        doc = to_json(runs, statuses, rows, step=args.step)
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
    else:
        print_comparison(runs, statuses, rows, step=args.step, out=sys.stdout)
    return int(ExitCode.OK)


def _status(run: RunData) -> str:
    """running/crashed/ended... by the listing's rule (the lock decides for a run without an end)."""
    from vrx_core.engine.runinfo import inspect_run

    try:
        return inspect_run(run.path).shown_status
    except Exception:  # the log was read in full a moment ago; a race here is not worth failing over
        return run.status


def to_json(
    runs: Sequence[RunData], statuses: Sequence[str], rows: Sequence[Row], *, step: int | None
) -> Any:
    from vrx_core.codec import json_safe
    from vrx_core.engine.runcompare import MISSING

    def keyed(section: str) -> list[dict[str, Any]]:
        return [
            {
                "key": row.key,
                "values": json_safe([None if v is MISSING else v for v in row.values]),
                "missing": [v is MISSING for v in row.values],
                "differs": row.differs,
            }
            for row in rows
            if row.section == section
        ]

    metrics: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.section != "metrics":
            continue
        m = metrics.setdefault(
            row.key, {"name": row.key, "better": "lower" if row.lower_is_better else "higher", "differs": []}
        )
        m[row.stat or ""] = json_safe(row.values)
        if row.differs:
            m["differs"].append(row.stat)
    for name, m in metrics.items():
        if "best" in m:
            m["best_step"] = [r.metrics[name].best_step if name in r.metrics else None for r in runs]
    return {
        "runs": [
            {
                "path": os.fspath(r.path),
                "name": r.name,
                "run_id": r.run_id,
                "status": status,
                "events": r.events,
                "start": r.start,
                "duration_s": None if r.start is None or r.last_t is None else r.last_t - r.start,
            }
            for r, status in zip(runs, statuses, strict=True)
        ],
        "step": step,
        "params": keyed("params"),
        "config": keyed("config"),
        "metrics": list(metrics.values()),
    }


# -- the table ----------------------------------------------------------------------------------


def _label(row: Row, step: int | None, width: int) -> str:
    """``lr``; ``loss  last``, ``loss  best (min)``, ``loss  @step 100`` (names padded to ``width``)."""
    if row.stat is None:
        return format_value(row.key)
    name = format_value(row.key).ljust(width)
    if row.stat == "best":
        return f"{name}  best ({'min' if row.lower_is_better else 'max'})"
    if row.stat == "at_step":
        return f"{name}  @step {step}"
    return f"{name}  {row.stat}"


def format_value(value: Any, limit: int = 40) -> str:
    """A value in one cell: numbers to 6 significant digits, JSON for containers, ``-`` for none,
    control characters escaped, cut to ``limit`` characters."""
    import msgspec

    from vrx_core.codec import json_safe

    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:.6g}"
    if isinstance(value, int):
        return str(value)
    text = value if isinstance(value, str) else msgspec.json.encode(json_safe(value)).decode()
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cells(row: Row, runs: Sequence[RunData]) -> list[str]:
    from vrx_core.engine.runcompare import MISSING

    if row.stat is None:  # params and config: "-" for a key the run lacks, "null" for a recorded null
        return ["-" if v is MISSING else "null" if v is None else format_value(v) for v in row.values]
    cells = [format_value(v) for v in row.values]
    if row.stat == "best":
        for i, r in enumerate(runs):
            stats = r.metrics.get(row.key)
            if stats is not None and stats.best is not None and stats.best_step is not None:
                cells[i] += f" (step {stats.best_step})"
    return cells


def _grid(
    runs: Sequence[RunData], statuses: Sequence[str], rows: Sequence[Row], step: int | None
) -> list[tuple[str, list[str], bool | None]]:
    """(label, cells, differs) lines; differs None for a section heading or the path line (paths
    always differ); status, events and duration differ as shown."""
    from vrx_core.cli.ls import format_duration

    durations = [None if r.start is None or r.last_t is None else r.last_t - r.start for r in runs]
    events = [str(r.events) for r in runs]
    shown_durations = [format_duration(d) for d in durations]
    lines: list[tuple[str, list[str], bool | None]] = [
        ("path", [format_value(os.fspath(r.path), 4096) for r in runs], None),
        ("status", list(statuses), len(set(statuses)) > 1),
        ("events", events, len(set(events)) > 1),
        ("duration", shown_durations, len(set(shown_durations)) > 1),
    ]
    for section in SECTIONS:
        part = [r for r in rows if r.section == section]
        if part:
            lines.append(("", [""] * len(runs), None))
            lines.append((section, [""] * len(runs), None))
            width = max(len(format_value(r.key)) for r in part)
            lines += [(_label(r, step, width), _cells(r, runs), r.differs) for r in part]
    return lines


def print_comparison(
    runs: Sequence[RunData], statuses: Sequence[str], rows: Sequence[Row], *, step: int | None, out: TextIO
) -> None:
    """Rich on a terminal wide enough (differing rows bold yellow), else plain text with ``*`` marks."""
    header = ["", *[format_value(r.name, 200) for r in runs]]
    lines = _grid(runs, statuses, rows, step)
    widths = [
        max(len(c) for c in col)
        for col in zip(header, *[[lab, *cells] for lab, cells, _ in lines], strict=True)
    ]
    if out.isatty() and os.environ.get("TERM") != "dumb":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console(file=out)
        if sum(widths) + 3 * len(widths) + 1 <= console.width:
            table = Table(box=None, pad_edge=False, highlight=False)
            for h in header:
                table.add_column(Text(h), no_wrap=True)
            for label, cells, differs in lines:
                style = "bold yellow" if differs else ("bold" if label in SECTIONS else None)
                table.add_row(*(Text(c) for c in [label, *cells]), style=style)
            console.print(table)
            return
    out.write(_plain_line(" ", header, widths))
    for label, cells, differs in lines:
        out.write(_plain_line("*" if differs else " ", [label, *cells], widths))


def _plain_line(mark: str, cells: list[str], widths: list[int]) -> str:
    return (mark + " " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip() + "\n"
