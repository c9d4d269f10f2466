"""The read-only DuckDB database ``vrx query`` answers from: the ``runs`` table and ``metrics`` view.

Built in memory, then locked before the user's SQL runs: external access off (no file, network,
extension or ATTACH access) except the verified parquet files the ``metrics`` view reads
(``allowed_paths``), extension autoloading off, and the configuration locked so no ``SET`` can
undo it. The user's statement must also be a query (SELECT or EXPLAIN): nothing it says can
write, not even to the in-memory tables.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from vrx_core.errors import UsageError

from .duck import connect, create_table, insert_points, quote, run_points
from .sources import QueryRun
from .table import (
    COLUMNS,
    FORMAT,
    FORMAT_KEY,
    PARAMS_KEY,
    SUMMARIES,
    SUMMARY_KEY,
    decode_summaries,
    encode,
)

if TYPE_CHECKING:
    import duckdb

_MAP: Final = "MAP(VARCHAR, DOUBLE)"
#: The ``runs`` table's columns and their declared types (docs/query.md).
RUN_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("id", "VARCHAR"),
    ("path", "VARCHAR"),
    ("name", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("status", "VARCHAR"),
    ("end_status", "VARCHAR"),
    ("started", "TIMESTAMP"),
    ("ended", "TIMESTAMP"),
    ("last_event", "TIMESTAMP"),
    ("duration_s", "DOUBLE"),
    ("ranks", "INTEGER"),
    ("params", "JSON"),
    ("last", _MAP),
    ("min", _MAP),
    ("max", _MAP),
    ("source", "VARCHAR"),
)
#: Statement types the user's SQL may be (duckdb.StatementType names).
ALLOWED: Final = frozenset({"SELECT", "EXPLAIN"})


class QueryError(UsageError):
    """The user's SQL failed to parse, bind or run, or it is not a query (exit 2)."""


def build(runs: Sequence[QueryRun], *, now: float | None = None) -> duckdb.DuckDBPyConnection:
    """The locked database over ``runs`` (their footers already read: :func:`read_footers`)."""
    con = connect(threads=None)  # the query may use every core
    for r in runs:
        if r.source == "log":
            r.params = encode(r.columns.params) if r.columns.has_params else None
            r.summaries = r.columns.summaries()
    parquet = [r for r in runs if r.source == "parquet" and r.parquet]
    _create_runs(con, _run_columns(runs, time.time() if now is None else now))
    _create_metrics(con, runs, parquet)
    _lock(con, [r.parquet for r in parquet if r.parquet])
    return con


def read_footers(runs: Sequence[QueryRun]) -> list[QueryRun]:
    """Params and summaries of the runs with a verified parquet, from the files' key-value
    metadata in one call (the rows stay unread). Returns the runs whose file is not of this
    version's format (:data:`FORMAT`): their logs must be read instead."""
    parquet = {r.parquet: r for r in runs if r.source == "parquet" and r.parquet}
    if not parquet:
        return []
    con = connect()
    try:
        rows = con.execute(
            "SELECT file_name, decode(key), decode(value) FROM parquet_kv_metadata($1::VARCHAR[])"
            " WHERE decode(key) IN ($2, $3, $4)",
            [list(parquet), FORMAT_KEY, PARAMS_KEY, SUMMARY_KEY],
        ).fetchall()
    finally:
        con.close()
    meta: dict[str, dict[str, str]] = {}
    for file, key, value in rows:
        meta.setdefault(file, {})[key] = value
    other = []
    for file, run in parquet.items():
        found = meta.get(file, {})
        if found.get(FORMAT_KEY) != FORMAT:
            other.append(run)
            continue
        params = found.get(PARAMS_KEY)
        run.params = None if params in (None, "null") else params
        run.summaries = decode_summaries(found.get(SUMMARY_KEY))
    return other


def _create_runs(con: duckdb.DuckDBPyConnection, columns: list[list[Any]]) -> None:
    """``runs`` from columns in :func:`_run_row`'s order: each map as a list of keys and a list of
    values, made MAPs in SQL (far faster than converting Python dicts)."""
    plain = [c for c in RUN_COLUMNS if c[1] != _MAP and c[0] != "source"]
    keys = [(f"{k}_keys", "VARCHAR[]") for k in SUMMARIES]
    values = [(f"{k}_values", "DOUBLE[]") for k in SUMMARIES]
    create_table(con, "_runs", [*plain, *keys, *values, ("source", "VARCHAR")], columns)
    select = ", ".join(
        f"map({name}_keys, {name}_values)::{kind} AS {name}" if kind == _MAP else name
        for name, kind in RUN_COLUMNS
    )
    con.execute(f"CREATE TABLE runs AS SELECT {select} FROM _runs")
    con.execute("DROP TABLE _runs")


def _run_columns(runs: Sequence[QueryRun], now: float) -> list[list[Any]]:
    rows = [_run_row(r, now) for r in runs]
    return [list(col) for col in zip(*rows, strict=True)] if rows else []


def _run_row(r: QueryRun, now: float) -> tuple[Any, ...]:
    info = r.info
    maps = [r.summaries.get(k, {}) for k in SUMMARIES]
    return (
        r.id,
        str(info.path.absolute()),
        info.name or None,
        info.run_id or None,
        info.status,
        info.end_status,
        _utc(info.start),
        _utc(info.end),
        _utc(info.last_t),
        info.duration(now),
        r.ranks,
        r.params,
        *(list(m) for m in maps),
        *(list(m.values()) for m in maps),
        r.source,
    )


def _utc(t: float | None) -> datetime | None:
    """A Unix time as the naive UTC datetime a TIMESTAMP column holds."""
    return None if t is None else datetime.fromtimestamp(t, UTC).replace(tzinfo=None)


def _create_metrics(
    con: duckdb.DuckDBPyConnection, runs: Sequence[QueryRun], parquet: Sequence[QueryRun]
) -> None:
    """``metrics``: the verified parquet files (joined to their run's id by file name) and the
    points read from logs, in one view of declared types."""
    create_table(con, "_log_metrics", [*COLUMNS, ("run", "VARCHAR")], [])
    logged = [(r.id, r.columns) for r in runs if r.source == "log"]
    if logged:
        insert_points(con, "_log_metrics", run_points(logged))
    # The file's own column types are the declared ones: its bytes are the query plugin's, verified
    # by sha256 (a cast here would only keep DuckDB from pushing filters into the scan).
    select = ", ".join(f"p.{name}" for name, _ in COLUMNS)
    parts = [f"SELECT run, {', '.join(name for name, _ in COLUMNS)} FROM _log_metrics"]
    if parquet:
        create_table(
            con,
            "_parquet_runs",
            [("file", "VARCHAR"), ("run", "VARCHAR")],
            [[r.parquet for r in parquet], [r.id for r in parquet]],
        )
        files = ", ".join(quote(r.parquet or "") for r in parquet)
        parts.insert(
            0,
            f"SELECT f.run, {select} FROM read_parquet([{files}], filename = true) AS p"
            " JOIN _parquet_runs AS f ON p.filename = f.file",
        )
    con.execute("CREATE VIEW metrics AS " + " UNION ALL ".join(parts))


def _lock(con: duckdb.DuckDBPyConnection, files: Sequence[str]) -> None:
    if files:
        con.execute(f"SET allowed_paths = [{', '.join(quote(f) for f in files)}]")
    for setting in (
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET lock_configuration = true",
    ):
        con.execute(setting)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """Column names, column types and rows of the user's one query; :class:`QueryError` for SQL
    that does not parse, bind or run, or that is not a query."""
    import duckdb

    check_sql(sql, con)
    try:
        cur = con.execute(sql)
        rows = cur.fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"query: {_one_line(str(exc))}") from None
    description = cur.description or []
    return [d[0] for d in description], [str(d[1]) for d in description], rows


def check_sql(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """:class:`QueryError` unless ``sql`` parses as exactly one SELECT or EXPLAIN statement."""
    import duckdb

    try:
        statements = (con or duckdb).extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"query: {_one_line(str(exc))}") from None
    if len(statements) != 1:
        raise QueryError(f"query: expected one SQL statement, got {len(statements)}")
    kind = statements[0].type.name
    if kind not in ALLOWED:
        raise QueryError(f"query: only queries (SELECT) are allowed, not {kind}: the database is read-only")


def _one_line(message: str) -> str:
    """DuckDB's message without the caret diagram it adds under a parser error's SQL."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(line for line in lines if not line.startswith("^") and not line.startswith("LINE "))


__all__ = ["ALLOWED", "RUN_COLUMNS", "QueryError", "build", "check_sql", "read_footers", "run_query"]
