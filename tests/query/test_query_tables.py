"""`vrx query`'s tables hold what the logs say, read directly, from verified parquet files or from logs."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _query_runs import INF, NAN, emit_steps, make_root, points, record, replay_with_query

from vrx_core import Recorder, read_events
from vrx_core.events import Metric, Params, RunStart

METRICS_SQL = "select run, rank, seq, step, t, name, value from metrics order by run, rank nulls first, seq"
RUNS_SQL = "select * from runs order by id"


def _query(cli: Callable[..., Any], sql: str, *roots: Path) -> tuple[list[dict[str, Any]], str]:
    r = cli("query", sql, *map(str, roots), "--json")
    assert r.code == 0, r.err
    return json.loads(r.out), r.err


def _expected(runs: dict[str, Path]) -> list[dict[str, Any]]:
    rows = [{"run": rid, **p} for rid, path in runs.items() for p in points(path)]
    return sorted(rows, key=lambda r: (r["run"], r["rank"] is not None, r["rank"] or 0, r["seq"]))


@pytest.fixture
def root(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    top = tmp_path / "runs"
    return top, make_root(top)


@pytest.mark.parametrize("replayed", [True, False], ids=["parquet", "log"])
def test_metrics_are_the_logs_metric_events(
    cli: Callable[..., Any], root: tuple[Path, dict[str, Path]], replayed: bool
) -> None:
    top, runs = root
    if replayed:
        for path in runs.values():
            replay_with_query(path)
    rows, err = _query(cli, METRICS_SQL, top)
    assert rows == _expected(runs)
    assert {r["rank"] for r in rows if r["run"] == "ddp"} == {0, 1}
    assert [r["value"] for r in rows if r["run"] == "nan" and r["name"] == "train/loss"] == [
        2.0, "NaN", "Infinity", "-Infinity", 3.0,
    ]  # fmt: skip
    sources, _ = _query(cli, "select id, source from runs order by id", top)
    assert {s["source"] for s in sources} == {"parquet" if replayed else "log"}
    if replayed:
        assert "read from their logs" not in err
    else:
        assert err.count("vrx: query: 4 of 4 runs read from their logs") == 1
        assert f"`vrx fleet replay {top}`" in err


@pytest.mark.parametrize("replayed", [True, False], ids=["parquet", "log"])
def test_runs_rows_match_the_logs(
    cli: Callable[..., Any], root: tuple[Path, dict[str, Path]], replayed: bool
) -> None:
    top, runs = root
    if replayed:
        for path in runs.values():
            replay_with_query(path)
    rows, _ = _query(cli, RUNS_SQL, top)
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == sorted(runs)
    for rid, path in runs.items():
        row, events = by_id[rid], list(read_events(path))
        start = next(e for e in events if isinstance(e, RunStart))
        params: dict[str, Any] = {}
        for e in events:
            if isinstance(e, Params):
                params.update(e.values)
        rank0 = [e for e in events if isinstance(e, Metric) and not e.rank]
        assert row["path"] == str(path.absolute())
        assert row["status"] == "ended" and row["end_status"] == "ok"
        assert row["started"] == datetime.fromtimestamp(start.t, UTC).replace(tzinfo=None).isoformat()
        assert row["params"] == params
        assert row["ranks"] == (2 if rid == "ddp" else 1)
        assert row["last"] == {
            n: _spell({e.name: e.value for e in rank0}[n]) for n in {e.name for e in rank0}
        }
        finite = [e for e in rank0 if not math.isnan(e.value)]
        assert row["min"] == {
            n: _spell(min(e.value for e in finite if e.name == n)) for n in {e.name for e in finite}
        }
        assert row["max"] == {
            n: _spell(max(e.value for e in finite if e.name == n)) for n in {e.name for e in finite}
        }
        assert row["duration_s"] == pytest.approx(
            max(e.t for e in events) - min(e.t for e in events if isinstance(e, RunStart)), abs=1e-3
        )


def _spell(v: float) -> Any:
    return v if math.isfinite(v) else ("NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity"))


def test_params_and_summaries_answer_natural_questions(
    cli: Callable[..., Any], root: tuple[Path, dict[str, Path]]
) -> None:
    top, runs = root
    for path in runs.values():
        replay_with_query(path)
    rows, _ = _query(cli, "select id from runs where (params->>'lr')::double = 1e-3 order by id", top)
    assert [r["id"] for r in rows] == ["ddp", "sweep/lr-1e-3"]
    rows, _ = _query(
        cli, "select id, last['train/loss'] as loss from runs where id like 'sweep/%' order by 2", top
    )
    assert rows == [{"id": "sweep/lr-1e-2", "loss": 0.95}, {"id": "sweep/lr-1e-3", "loss": 1.05}]
    rows, _ = _query(
        cli, "select min['train/loss'] as lo, max['train/loss'] as hi from runs where id = 'nan'", top
    )
    assert rows == [{"lo": "-Infinity", "hi": "Infinity"}]  # NaN is left out of min and max


def test_a_live_run_and_a_torn_tail_are_read_from_their_logs(cli: Callable[..., Any], tmp_path: Path) -> None:
    top = tmp_path / "runs"
    crashed = top / "crashed"
    record(crashed, lr=1e-3, losses=[1.0, 0.5, 0.25])
    log = crashed / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]) + lines[-2][: len(lines[-2]) // 2])  # run_end gone, a torn line
    with Recorder(top / "live", environment=False, durability="os", derive=False) as rec:
        emit_steps(rec, [3.0, 2.0])
        rows, err = _query(cli, METRICS_SQL, top)
        status, _ = _query(cli, "select id, status, source from runs order by id", top)
        expected = _expected({"crashed": crashed, "live": top / "live"})
    assert rows == expected
    assert [r["step"] for r in rows if r["run"] == "crashed" and r["name"] == "train/loss"] == [1, 2, 3]
    assert len([r for r in rows if r["run"] == "live"]) == 3
    assert status == [
        {"id": "crashed", "status": "crashed", "source": "log"},
        {"id": "live", "status": "running", "source": "log"},
    ]
    assert "2 of 2 runs read from their logs (no current metrics.parquet, 1 still running)" in err


def test_a_stale_or_edited_parquet_is_not_used(cli: Callable[..., Any], tmp_path: Path) -> None:
    top = tmp_path / "runs"
    with Recorder(top / "grew", environment=False, durability="os", derive=False) as rec:
        emit_steps(rec, [3.0, 2.0])
        replay_with_query(top / "grew")  # derived.json records the log as it was then
        emit_steps(rec, [1.0, 0.5], first=3)
    record(top / "edited", lr=1e-2, losses=[4.0, 3.0])
    replay_with_query(top / "edited")
    shutil.copyfile(top / "grew" / "metrics.parquet", top / "edited" / "metrics.parquet")
    rows, _ = _query(cli, METRICS_SQL, top)
    assert rows == _expected({"edited": top / "edited", "grew": top / "grew"})
    sources, _ = _query(cli, "select id, source from runs order by id", top)
    assert [s["source"] for s in sources] == ["log", "log"]
    os.remove(top / "edited" / "metrics.parquet")
    replay_with_query(top / "edited")
    sources, _ = _query(cli, "select id, source from runs order by id", top)
    assert [s["source"] for s in sources] == ["parquet", "log"]


def test_a_run_without_metrics_needs_no_log_read_once_replayed(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    with Recorder(tmp_path / "empty", environment=False, durability="os", derive=False):
        pass
    replay_with_query(tmp_path / "empty")
    assert not (tmp_path / "empty" / "metrics.parquet").exists()
    rows, err = _query(cli, "select id, params, last, source from runs", tmp_path)
    assert rows == [{"id": "empty", "params": None, "last": {}, "source": "none"}]
    assert "read from their logs" not in err


def test_ids_are_relative_to_each_root(cli: Callable[..., Any], tmp_path: Path) -> None:
    record(tmp_path / "a" / "x", lr=1e-3, losses=[1.0])
    record(tmp_path / "b" / "x", lr=1e-2, losses=[2.0])
    rows, _ = _query(
        cli, "select id from runs order by id", tmp_path / "a", tmp_path / "b", tmp_path / "a" / "x"
    )
    assert [r["id"] for r in rows] == [str(tmp_path / "b" / "x"), "x"]
    rows, _ = _query(cli, "select id, count(*) over () as n from runs", tmp_path / "a" / "x" / "events.jsonl")
    assert rows == [{"id": "x", "n": 1}]


def test_nan_is_a_double_not_text(cli: Callable[..., Any], tmp_path: Path) -> None:
    record(tmp_path / "r", lr=1e-3, losses=[NAN, INF])
    replay_with_query(tmp_path / "r")
    rows, _ = _query(cli, "select typeof(value) as k, count(*) as n from metrics group by 1", tmp_path)
    assert rows == [{"k": "DOUBLE", "n": 4}]
    rows, _ = _query(cli, "select count(*) as n from metrics where isnan(value)", tmp_path)
    assert rows == [{"n": 1}]


def test_a_parquet_of_another_format_version_is_not_used(cli: Callable[..., Any], tmp_path: Path) -> None:
    import duckdb

    record(tmp_path / "r", lr=1e-3, losses=[2.0, 1.0])
    replay_with_query(tmp_path / "r")
    parquet = tmp_path / "r" / "metrics.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{tmp_path / 'old.parquet'}'"
        " (FORMAT parquet, KV_METADATA {'vrx.format': 'vrx.query.metrics.v0'})"
    )
    con.close()
    shutil.copyfile(tmp_path / "old.parquet", parquet)
    os.remove(tmp_path / "old.parquet")
    derived = json.loads((tmp_path / "r" / "derived.json").read_text())
    derived["files"]["metrics.parquet"]["sha256"] = hashlib.sha256(parquet.read_bytes()).hexdigest()
    (tmp_path / "r" / "derived.json").write_text(json.dumps(derived))
    rows, err = _query(cli, "select id, source, params->>'lr' as lr from runs", tmp_path)
    assert rows == [{"id": "r", "source": "log", "lr": "0.001"}]
    assert "1 of 1 run read from their logs" in err
    rows, _ = _query(cli, METRICS_SQL, tmp_path)
    assert rows == _expected({"r": tmp_path / "r"})
