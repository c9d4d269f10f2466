"""``vrx packet publish|rank|frontier``: packets as public rows, their ranking, the frontier plot.

Each takes packets or rows wherever they are (see ``inputs``). Exit status: 0 done; 65 an input
that is not JSON objects; 66 an input that does not exist or holds no packet; 69 ``frontier``
without matplotlib (one line naming the ``plot`` extra); 73 an output that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode

from .rows import DB_CSV, DB_JSONL, MIN_RANKABLE_EVAL_N, MIN_RANKABLE_STEPS, VRAM_TARGET

INPUTS_HELP = "packet runs, packet files, packet JSON lines, database dirs or db_v0.jsonl files"
GATE = (f'rankable = status == "ok" and probe PASS and token_budget_steps >= {MIN_RANKABLE_STEPS} '
        f"and assoc_eval_n >= {MIN_RANKABLE_EVAL_N}")


def add_db_subcommands(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    pub = sub.add_parser(
        "publish", parents=parents, help="merge packets into DB/db_v0.csv and DB/db_v0.jsonl",
        description="Make each packet an ant_ratio_db_row_v0 row (no local paths; derived columns; "
        f"{GATE}) and merge the rows into DB: a row replaces the one with the same run tag, tier, "
        "heads and seed. Republishing the same inputs gives the same bytes.",
    )
    _add_inputs(pub)
    pub.add_argument("--db", required=True, metavar="DIR", help=f"database directory ({DB_CSV}, {DB_JSONL})")
    pub.add_argument("--rankable-only", action="store_true", help="publish only rankable rows")
    pub.set_defaults(handler=cmd_publish)

    rank = sub.add_parser(
        "rank", parents=parents, help="rank rows: rankable first, nearest the VRAM target, then efficiency",
        description="Rank rows: rankable rows first, then nearest the VRAM target (|vram_ratio_reserved - "
        "0.85|), then the most tokens_per_vram_ratio, then the most assoc_acc_per_vram_ratio. A table "
        f"(Rich on a terminal, plain text when piped) or JSON lines. {GATE}.",
    )
    _add_inputs(rank)
    rank.add_argument("--json", action="store_true", help="one JSON object per row, with its rank")
    rank.add_argument("--rankable-only", action="store_true", help="leave out rows that fail the gate")
    rank.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N rows (0: all)")
    rank.set_defaults(handler=cmd_rank)

    plot = sub.add_parser(
        "frontier", parents=parents, help="PNG plot: accuracy against tokens/s per VRAM ratio",
        description="Plot assoc accuracy against tokens/s per VRAM ratio: rankable rows by tier and "
        "heads, their Pareto frontier, the others as grey crosses. Same rows, same PNG bytes. Needs "
        "matplotlib (pip install 'vrx-core[plot]'; exit 69 without it).",
    )
    _add_inputs(plot)
    plot.add_argument("--out", required=True, metavar="FILE", help="the PNG file to write")
    plot.add_argument("--title", default="ant ratio frontier v0", help="the plot's title")
    plot.set_defaults(handler=cmd_frontier)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help=INPUTS_HELP)
    p.add_argument("--run-tag", metavar="TAG",
                   help="run tag of rows made from packets (default: the name of the packet's directory)")
    p.add_argument("--vram-target", type=float, default=VRAM_TARGET, metavar="R",
                   help=f"VRAM ratio target of rows made from packets (default {VRAM_TARGET})")


def _rows(ns: argparse.Namespace) -> list[dict[str, Any]] | int:
    from .inputs import InputsError, load_rows

    try:
        return load_rows(ns.inputs, run_tag=ns.run_tag, vram_target=ns.vram_target)
    except InputsError as exc:
        return _error(str(exc), int(exc.code))


def cmd_publish(ns: argparse.Namespace) -> int:
    from .rows import as_bool, write_db

    rows = _rows(ns)
    if isinstance(rows, int):
        return rows
    if ns.rankable_only:
        rows = [r for r in rows if as_bool(r.get("rankable"))]
    db = Path(ns.db)
    try:
        merged = write_db(rows, db)
    except OSError as exc:
        return _error(f"{db}: cannot write the database: {exc}", int(ExitCode.CANTCREAT))
    rankable = sum(1 for r in rows if as_bool(r.get("rankable")))
    print(f"published {len(rows)} row(s), {rankable} rankable, into {db}/{{{DB_CSV},{DB_JSONL}}} "
          f"({len(merged)} row(s) in all)")
    return int(ExitCode.OK)


def cmd_rank(ns: argparse.Namespace) -> int:
    from .rank import ranked
    from .view import print_ranking

    rows = _rows(ns)
    if isinstance(rows, int):
        return rows
    order = ranked(rows, rankable_only=ns.rankable_only)
    if ns.limit > 0:
        order = order[: ns.limit]
    if ns.json:
        for row in order:
            sys.stdout.write(json.dumps(row, sort_keys=True, ensure_ascii=True) + "\n")
    else:
        print_ranking(order)
    return int(ExitCode.OK)


def cmd_frontier(ns: argparse.Namespace) -> int:
    from vrx_core.log.atomic import atomic_write

    from .plot import PlotUnavailable, frontier_png

    rows = _rows(ns)
    if isinstance(rows, int):
        return rows
    try:
        png = frontier_png(rows, title=ns.title)
    except PlotUnavailable as exc:
        return _error(str(exc), int(ExitCode.UNAVAILABLE))
    try:
        atomic_write(Path(ns.out), png)
    except OSError as exc:
        return _error(f"{ns.out}: cannot write: {exc.strerror}", int(ExitCode.CANTCREAT))
    print(f"wrote {ns.out} ({len(rows)} row(s))")
    return int(ExitCode.OK)


def _error(message: str, code: int) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return code
