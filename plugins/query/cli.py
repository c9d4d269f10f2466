"""``vrx query SQL [ROOT...]``: SQL over the runs under some directories (DuckDB, the ``sql`` extra)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from vrx_core.errors import ExitCode
from vrx_core.hooks.host import Commands

from .sources import QueryRun, check_roots, find, read_log, verified_parquet

HELP = "SQL over runs: a runs table and a metrics table (DuckDB; read-only)"

DESCRIPTION = """\
Run one SQL query (DuckDB's dialect) over every run under the ROOTs (default: the current
directory; runs are found as `vrx ls` finds them) and print the result.

tables:
  runs     one row per run: id (its path relative to its ROOT), path, name, run_id, status,
           end_status, started, ended, last_event (TIMESTAMP, UTC), duration_s, ranks, params
           (JSON: params->>'lr'), last, min, max (MAP(VARCHAR, DOUBLE) of rank 0's metrics:
           last['loss']) and source (parquet, log or none)
  metrics  one row per metric point: run (= runs.id), rank, seq, step, t (Unix seconds),
           name, value

A run's metrics come from its metrics.parquet (derived by replay with the query plugin) when
derived.json is current for its log and records that file's sha256; otherwise from its log, read
through the CRC-checked reader (a live run's torn tail ends the read). `vrx fleet replay ROOT`
derives the files, so queries skip the logs.

The database is read-only: only SELECT (and EXPLAIN) statements run, and no statement can read
or write any file but the runs' verified metrics.parquet files.

exit codes: 0 the query ran (also when no run was found: a note on stderr); 2 usage, or SQL that
does not parse, bind or run, or that is not a query; 66 a ROOT does not exist; 69 duckdb is not
installed (pip install 'vrx-core[sql]').
"""


def add_query(commands: Commands) -> None:
    p = commands.add("query", help=HELP, description=DESCRIPTION, handler=cmd_query)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = "See docs/query.md."
    p.add_argument("sql", metavar="SQL", help='one SELECT statement, e.g. "select id, status from runs"')
    p.add_argument("roots", metavar="ROOT", nargs="*", help="directories to search (default: .)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON array of row objects")
    fmt.add_argument("--csv", action="store_true", help="print CSV with a header row")


def cmd_query(args: argparse.Namespace) -> int:
    from .database import check_sql
    from .duck import import_duckdb

    import_duckdb("vrx query")
    check_sql(args.sql)  # before finding any run: a typo costs nothing
    roots: list[str] = args.roots or ["."]
    check_roots(roots)
    runs = collect(roots, registry=args.pm_registry(), now=time.time())
    names, kinds, rows = answer(runs, args.sql)
    _report_sources(runs, roots)
    from .output import write_csv, write_json, write_table

    if args.json:
        write_json(sys.stdout, names, kinds, rows)
    elif args.csv:
        write_csv(sys.stdout, names, rows)
    else:
        write_table(sys.stdout, names, kinds, rows)
    return int(ExitCode.OK)


def collect(roots: Sequence[str], *, registry: Any, now: float) -> list[QueryRun]:
    """The runs under ``roots``, each with its source decided and its log read when needed."""
    from vrx_core.cli.ls import inspect_all
    from vrx_core.cli.progress import progress_bar

    found = find(roots)
    ids = {path: run_id for run_id, path in found}
    with progress_bar("reading runs", len(found) if len(found) >= 500 else 0, unit="runs") as update:
        infos = inspect_all([p for _, p in found], now=now, progress=update)
    from .database import read_footers

    runs = [QueryRun(id=ids[info.path], info=info) for info in infos]
    for run in runs:
        verified = verified_parquet(run.info.path)
        if verified is not None:
            run.source, run.parquet = verified
    for run in read_footers(runs):  # a file of another vrx version's format
        run.source, run.parquet = "log", None
    for run in runs:
        if run.source == "log":
            read_log(run, registry)
    return runs


def answer(runs: Sequence[QueryRun], sql: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """The result of ``sql`` over ``runs``: column names, DuckDB type names, rows."""
    from .database import build, run_query

    con = build(runs)
    try:
        return run_query(con, sql)
    finally:
        con.close()


def _report_sources(runs: Sequence[QueryRun], roots: Sequence[str]) -> None:
    """One line on stderr for the runs read from their logs (slow for many runs), one per bad log."""
    for run in runs:
        if run.problem:
            print(f"vrx: warning: query: {run.id}: metrics left out: {run.problem}", file=sys.stderr)
    if not runs:
        print(f"vrx: no runs found under {', '.join(roots)}", file=sys.stderr)
        return
    logged = sum(1 for r in runs if r.source == "log")
    if logged:
        live = sum(1 for r in runs if r.source == "log" and r.info.status == "running")
        which = f"{logged} of {len(runs)} run{'' if len(runs) == 1 else 's'}"
        running = f", {live} still running" if live else ""
        how = f"`vrx fleet replay {roots[0]}`" if len(roots) == 1 else "`vrx fleet replay ROOT` for each ROOT"
        print(
            f"vrx: query: {which} read from their logs (no current metrics.parquet{running}); "
            f"{how} derives it so queries skip the logs",
            file=sys.stderr,
        )
