"""DuckDB, the optional dependency (the ``sql`` extra): importing it, loading columns, writing Parquet.

Small tables (the runs) enter DuckDB as typed list parameters unnested in one statement; metric
points as numpy columns that DuckDB scans in place (a list parameter costs about a kilobyte of
memory per value). No pandas, no CSV sniffing: every column's type is declared, so a NaN stays a
DOUBLE and never becomes text.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from vrx_core.errors import PluginUnavailable

from .table import COLUMNS, POINT_SELECT, MetricColumns

if TYPE_CHECKING:
    import duckdb

EXTRA_HINT: Final = "pip install 'vrx-core[sql]'"


class DuckDBMissing(PluginUnavailable):
    """duckdb is not installed (exit 69)."""


def import_duckdb(what: str) -> Any:
    """The duckdb module, or :class:`DuckDBMissing` naming ``what`` needs it and the extra."""
    try:
        import duckdb
    except ImportError:
        raise DuckDBMissing(f"{what} needs duckdb, which is not installed: {EXTRA_HINT}") from None
    return duckdb


def import_numpy(what: str) -> Any:
    """numpy (part of the ``sql`` extra: DuckDB reads metric points from its arrays)."""
    try:
        import numpy
    except ImportError:
        raise DuckDBMissing(f"{what} needs numpy, which is not installed: {EXTRA_HINT}") from None
    return numpy


def insert_points(con: duckdb.DuckDBPyConnection, table: str, points: Mapping[str, Any]) -> None:
    """Append ``points`` (:meth:`MetricColumns.points`, plus a ``run`` column when given) to
    ``table`` (its columns: :data:`COLUMNS`, and ``run``)."""
    names = ", ".join(name for name, _ in COLUMNS)
    run = "run, " if "run" in points else ""
    con.execute(f"INSERT INTO {table} ({run}{names}) SELECT {run}{POINT_SELECT} FROM points")


def run_points(runs: Sequence[tuple[str, MetricColumns]]) -> dict[str, Any]:
    """The points of several runs as one set of columns, with each point's run id in ``run``."""
    np = import_numpy("vrx query")
    parts = [columns.points(np) for _, columns in runs]
    joined = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    ids = np.array([run for run, _ in runs], dtype=object)
    joined["run"] = np.repeat(ids, [len(columns) for _, columns in runs])
    return joined


def connect(threads: int | None = 1) -> duckdb.DuckDBPyConnection:
    """An in-memory database; one thread by default, so what it writes is the same every time
    (None: DuckDB's default, every core)."""
    db = import_duckdb("the query plugin")
    config: dict[str, Any] = {} if threads is None else {"threads": threads}
    con: duckdb.DuckDBPyConnection = db.connect(":memory:", config=config)
    # Times shown and compared in UTC (now(), current_date, TIMESTAMP columns), on every machine.
    con.execute("SET TimeZone = 'UTC'")
    return con


def create_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[tuple[str, str]],
    values: Sequence[list[Any]],
) -> None:
    """``CREATE TABLE table`` with the declared ``columns`` (name, type), filled from ``values``
    (one Python list per column, of equal lengths)."""
    decl = ", ".join(f"{name} {kind}" for name, kind in columns)
    con.execute(f"CREATE TABLE {table} ({decl})")
    if not values or not values[0]:
        return
    # unnest of several lists in one SELECT zips them row by row
    cols = ", ".join(f"unnest(${i + 1}::{kind}[])" for i, (_, kind) in enumerate(columns))
    con.execute(f"INSERT INTO {table} SELECT {cols}", list(values))


def parquet_bytes(columns: MetricColumns) -> bytes:
    """``columns`` as Parquet (zstd), with the run's params and summaries as key-value metadata.

    Deterministic for a given duckdb version: one thread, insertion order kept, no timestamps.
    The file goes through a private temporary directory because DuckDB writes Parquet only to a path.
    """
    con = connect(threads=1)
    try:
        create_table(con, "m", COLUMNS, [])
        insert_points(con, "m", columns.points(import_numpy("the query plugin")))
        with tempfile.TemporaryDirectory(prefix="vrx-query-") as tmp:
            path = os.path.join(tmp, "metrics.parquet")
            con.execute(
                f"COPY m TO {quote(path)} (FORMAT parquet, COMPRESSION zstd, {kv(columns.metadata())})"
            )
            with open(path, "rb") as f:
                return f.read()
    finally:
        con.close()


def kv(metadata: Mapping[str, str]) -> str:
    """A COPY option ``KV_METADATA {...}`` (COPY options take literals only, not parameters)."""
    pairs = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in sorted(metadata.items()))
    return f"KV_METADATA {{{pairs}}}"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


__all__ = [
    "EXTRA_HINT",
    "DuckDBMissing",
    "connect",
    "create_table",
    "import_duckdb",
    "import_numpy",
    "insert_points",
    "parquet_bytes",
    "quote",
    "run_points",
]
