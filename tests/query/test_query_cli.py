"""`vrx query`'s command line: output formats, refused writes, bad SQL, a missing duckdb."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _query_runs import INF, NAN, record, replay_with_query

SQL = "select id, status, params, last, started from runs order by id"


@pytest.fixture
def top(tmp_path: Path) -> Path:
    record(tmp_path / "runs" / "a", lr=1e-3, losses=[2.0, NAN])
    record(tmp_path / "runs" / "b", lr=1e-2, losses=[1.0, INF])
    replay_with_query(tmp_path / "runs" / "a")
    return tmp_path / "runs"


def test_json_is_an_array_of_row_objects(cli: Callable[..., Any], top: Path) -> None:
    r = cli("query", SQL, str(top), "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert [list(row) for row in rows] == [["id", "status", "params", "last", "started"]] * 2
    assert rows[0]["params"] == {"lr": 1e-3, "batch": 32, "model": {"depth": 2}}  # JSON nested, not text
    assert rows[0]["last"] == {"train/loss": "NaN", "train/acc": 0.5, "eval/loss": "NaN"}
    assert rows[1]["last"]["train/loss"] == "Infinity"  # spelled as streamed JSON spells it
    assert rows[0]["started"].startswith("20")


def test_csv_has_a_header_and_one_line_per_row(cli: Callable[..., Any], top: Path) -> None:
    r = cli("query", "select run, step, name, value from metrics order by run, seq", str(top), "--csv")
    assert r.code == 0, r.err
    table = list(csv.reader(io.StringIO(r.out)))
    assert table[0] == ["run", "step", "name", "value"]
    assert table[1:4] == [
        ["a", "1", "train/loss", "2.0"],
        ["a", "2", "train/loss", "NaN"],
        ["a", "2", "train/acc", "0.5"],
    ]
    assert len(table) == 1 + 2 * 4
    assert ["b", "2", "train/loss", "Infinity"] in table


def test_the_default_is_an_aligned_table(cli: Callable[..., Any], top: Path) -> None:
    r = cli("query", "select id, ranks, params->>'lr' as lr, null as nothing from runs order by id", str(top))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines == ["id  ranks  lr     nothing", "a       1  0.001  NULL", "b       1  0.01   NULL"]


def test_json_and_csv_exclude_each_other(cli: Callable[..., Any], top: Path) -> None:
    assert cli("query", SQL, str(top), "--json", "--csv").code == 2


@pytest.mark.parametrize(
    "sql",
    [
        "copy runs to '{out}/x.csv'",
        "copy (select 1) to '{out}/x.csv' (format csv)",
        "select * from read_csv('/etc/passwd')",
        "select * from read_text('/etc/hostname')",
        "select * from read_parquet('{out}/other.parquet')",
        "select * from glob('/etc/*')",
        "attach '{out}/x.db' as x",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "set allowed_paths = ['/etc/passwd']",
        "create table t as select 1",
        "insert into runs (id) values ('x')",
        "delete from runs",
        "export database '{out}/exp'",
        "select 1; copy runs to '{out}/x.csv'",
    ],
)
def test_writes_and_file_access_are_refused(
    cli: Callable[..., Any], top: Path, tmp_path: Path, sql: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.parquet").write_bytes((top / "a" / "metrics.parquet").read_bytes())
    before = sorted(p.name for p in out.iterdir())
    r = cli("query", sql.format(out=out), str(top))
    assert r.code == 2, r.out
    assert r.out == ""
    assert r.err.startswith("vrx: query: ") and r.err.count("\n") == 1, r.err
    assert sorted(p.name for p in out.iterdir()) == before


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("selec 1", "Parser Error"),
        ("select nope from runs", "Binder Error"),
        ("select * from nowhere", "Catalog Error"),
        ("select 'x'::int", "Conversion Error"),
        ("", "expected one SQL statement, got 0"),
    ],
)
def test_bad_sql_is_one_line_and_exit_2(cli: Callable[..., Any], top: Path, sql: str, says: str) -> None:
    r = cli("query", sql, str(top))
    assert r.code == 2
    assert r.err.startswith("vrx: query: ") and says in r.err and r.err.count("\n") == 1, r.err
    assert "Traceback" not in r.err


def test_no_runs_and_missing_roots(cli: Callable[..., Any], tmp_path: Path) -> None:
    r = cli("query", "select count(*) as n from runs", str(tmp_path), "--json")
    assert (r.code, json.loads(r.out)) == (0, [{"n": 0}])
    assert f"vrx: no runs found under {tmp_path}" in r.err
    r = cli("query", "select count(*) as n from metrics", str(tmp_path), "--json")
    assert (r.code, json.loads(r.out)) == (0, [{"n": 0}])
    r = cli("query", "select 1", str(tmp_path / "missing"))
    assert r.code == 66 and "no such directory" in r.err


_NO_DUCKDB = """
import sys
sys.modules["duckdb"] = None  # as if the sql extra were not installed
from vrx_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_duckdb_query_exits_69_and_replay_still_derives(top: Path) -> None:
    def vrx(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-c", _NO_DUCKDB, *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    r = vrx("query", "select 1", str(top))
    assert r.returncode == 69
    assert r.stderr == "vrx: vrx query needs duckdb, which is not installed: pip install 'vrx-core[sql]'\n"
    r = vrx("replay", "-p", "no:web", "-p", "no:plots", str(top / "b"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("duckdb is not installed (pip install 'vrx-core[sql]')") == 1
    assert (top / "b" / "summary.json").exists() and not (top / "b" / "metrics.parquet").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_table_is_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    from vrx_plugins.query.output import write_table

    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "80")
    out = _Terminal()
    write_table(out, ["id", "value"], ["VARCHAR", "DOUBLE"], [("a", NAN), ("b\x1b[31m", 1.5), ("c", None)])
    lines = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()).splitlines()  # Rich's styles
    assert lines[0].split() == ["id", "value"]
    assert [line.split() for line in lines[1:]] == [["a", "NaN"], ["b\\x1b[31m", "1.5"], ["c", "NULL"]]


def test_a_tail_keeps_no_points() -> None:
    from vrx_core.events import core_registry
    from vrx_core.hooks.api import ReplayContext
    from vrx_plugins.query import vrx_deriver

    assert (
        vrx_deriver(context=ReplayContext(run_dir=Path("r"), out_dir=None, registry=core_registry())) is None
    )
    assert (
        vrx_deriver(context=ReplayContext(run_dir=None, out_dir=None, registry=core_registry())) is not None
    )
