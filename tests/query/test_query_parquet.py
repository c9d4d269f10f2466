"""metrics.parquet: derived by replay, the same bytes every time, covered by `vrx replay --check`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _query_runs import NAN, make_root, record, replay_with_query

from vrx_core.engine.replay import check
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_plugins.query.table import FORMAT, FORMAT_KEY, PARAMS_KEY, SUMMARY_KEY


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bytes_are_stable_across_replays_and_delete_then_replay(tmp_path: Path) -> None:
    runs = make_root(tmp_path)
    for path in runs.values():
        replay_with_query(path)
        parquet = path / "metrics.parquet"
        first = _sha(parquet)
        replay_with_query(path)
        assert _sha(parquet) == first
        parquet.unlink()
        replay_with_query(path)
        assert _sha(parquet) == first
        derived = json.loads((path / "derived.json").read_text())
        assert derived["files"]["metrics.parquet"] == {"plugin": "query", "sha256": first, "version": "0.1.0"}
        assert check(path, PluginSet.load(Selection(only={"query"})))[1] == []


def test_replay_check_notices_an_edited_parquet(tmp_path: Path) -> None:
    record(tmp_path / "r", lr=1e-3, losses=[1.0, NAN])
    replay_with_query(tmp_path / "r")
    parquet = tmp_path / "r" / "metrics.parquet"
    parquet.write_bytes(parquet.read_bytes()[:-8] + b"\0" * 8)
    _, drifts = check(tmp_path / "r", PluginSet.load(Selection(only={"query"})))
    assert [d.path for d in drifts] == ["metrics.parquet"]


def test_the_file_declares_its_columns_and_carries_params_and_summaries(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    import duckdb

    record(tmp_path / "r", lr=1e-3, losses=[2.0, NAN, 1.0])
    replay_with_query(tmp_path / "r")
    parquet = str(tmp_path / "r" / "metrics.parquet")
    con = duckdb.connect()
    schema = con.execute(
        "select column_name, column_type from (describe select * from read_parquet($1))", [parquet]
    )
    assert schema.fetchall() == [
        ("rank", "INTEGER"), ("seq", "BIGINT"), ("step", "BIGINT"), ("t", "DOUBLE"), ("name", "VARCHAR"),
        ("value", "DOUBLE"),
    ]  # fmt: skip
    kv = dict(
        con.execute("select decode(key), decode(value) from parquet_kv_metadata($1)", [parquet]).fetchall()
    )
    assert kv[FORMAT_KEY] == FORMAT
    assert json.loads(kv[PARAMS_KEY]) == {"lr": 1e-3, "batch": 32, "model": {"depth": 2}}
    assert json.loads(kv[SUMMARY_KEY]) == {
        "last": {"train/loss": 1.0, "train/acc": 0.5, "eval/loss": 1.5},
        "min": {"train/loss": 1.0, "train/acc": 0.5, "eval/loss": 1.5},
        "max": {"train/loss": 2.0, "train/acc": 0.5, "eval/loss": 1.5},
    }


def test_a_run_without_metrics_or_params_gets_no_file(tmp_path: Path) -> None:
    from vrx_core import Recorder

    with Recorder(tmp_path / "r", environment=False, durability="os", derive=False):
        pass
    replay_with_query(tmp_path / "r")
    assert not (tmp_path / "r" / "metrics.parquet").exists()
