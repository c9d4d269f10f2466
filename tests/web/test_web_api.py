"""The JSON API and the pages of ``vrx serve``: runs list, run detail, runs stream, static files."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from _web_helpers import Served, record_run, sse_messages


def test_runs_list_has_the_ls_rows_with_ids(
    serve_app: Callable[..., Served], runs_root: Path, cli: Callable[..., Any]
) -> None:
    s = serve_app([runs_root])
    data = httpx.get(f"{s.url}/api/runs").json()
    assert data["roots"] == [{"label": "runs", "path": str(runs_root)}]
    by_id = {r["id"]: r for r in data["runs"]}
    assert set(by_id) == {"runs/a", "runs/sweep/b"}
    ls = {r["path"]: r for r in json.loads(cli("ls", "--json", "-p", "no:frame_triage", str(runs_root)).out)}
    for row in data["runs"]:
        expected = ls[row["path"]]
        for key in ("name", "run_id", "status", "end_status", "start", "end", "lines", "bytes", "metrics"):
            assert row[key] == expected[key], key
    assert by_id["runs/a"]["status"] == "ended"
    assert by_id["runs/a"]["metrics"]["train/loss"] == 0.1


def test_run_detail_has_params_and_ranks(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    run = httpx.get(f"{s.url}/api/run/runs/sweep/b").json()
    assert run["id"] == "runs/sweep/b"
    assert run["ranks"] == []
    assert run["params"] == {"lr": 0.001, "model": {"depth": 4}}
    assert run["status"] == "ended"


def test_a_root_that_is_a_run_and_duplicate_labels(serve_app: Callable[..., Served], tmp_path: Path) -> None:
    one = record_run(tmp_path / "x" / "runs", 2)
    two = record_run(tmp_path / "y" / "runs" / "inner", 2)
    s = serve_app([one, tmp_path / "y" / "runs"])
    ids = sorted(r["id"] for r in httpx.get(f"{s.url}/api/runs").json()["runs"])
    assert ids == ["runs", "runs-2/inner"]
    assert httpx.get(f"{s.url}/api/run/runs-2/inner").json()["path"] == str(two.resolve())


def test_multi_rank_detail(serve_app: Callable[..., Served], tmp_path: Path) -> None:
    for rank in (0, 1):
        record_run(tmp_path / "runs" / "ddp", 3, rank=rank, world_size=2)
    s = serve_app([tmp_path / "runs"])
    run = httpx.get(f"{s.url}/api/run/runs/ddp").json()
    assert run["ranks"] == [0, 1]
    assert run["params"]["lr"] == 0.001


def test_pages_and_their_dom_hooks(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    runs = httpx.get(f"{s.url}/")
    assert runs.status_code == 200 and runs.headers["content-type"].startswith("text/html")
    for hook in (
        'id="runs"',
        'id="filter"',
        "data-sort=",
        'id="compare"',
        "/static/app.js",
        "uPlot.iife.min.js",
    ):
        assert hook in runs.text
    run = httpx.get(f"{s.url}/run/runs/sweep/b")
    assert run.status_code == 200
    for hook in ('id="status"', 'id="progress"', 'id="params"', 'id="alerts"', 'id="rank"', 'id="snapshots"'):
        assert hook in run.text
    assert httpx.get(f"{s.url}/compare?run=runs/a&run=runs/sweep/b").status_code == 200
    assert httpx.head(f"{s.url}/").status_code == 200


def test_static_files(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    js = httpx.get(f"{s.url}/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{s.url}/static/uPlot.min.css").headers["content-type"].startswith("text/css")
    assert httpx.get(f"{s.url}/static/uPlot.LICENSE").status_code == 200
    assert httpx.get(f"{s.url}/static/nope.js").status_code == 404
    assert httpx.get(f"{s.url}/static/../app.py").status_code == 404


def test_unknown_runs_are_404(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    api = httpx.get(f"{s.url}/api/run/runs/nope")
    assert api.status_code == 404 and "error" in api.json()
    page = httpx.get(f"{s.url}/run/runs/nope")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert httpx.get(f"{s.url}/api/run/runs/nope/stream").status_code == 404
    assert httpx.get(f"{s.url}/api/nothing").json() == {"error": "Not Found"}
    compare = httpx.get(f"{s.url}/compare", params=[("run", "runs/a"), ("run", "runs/../runs/a")])
    assert compare.status_code == 404  # every compared run must be one


def test_runs_stream_sends_the_list_then_changes(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    with httpx.Client(timeout=10) as client, client.stream("GET", f"{s.url}/api/runs/stream") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(r.iter_lines())
        first = next(messages)
        assert first["event"] == "runs"
        assert {row["id"] for row in first["data"]["runs"]} == {"runs/a", "runs/sweep/b"}
        threading.Thread(target=record_run, args=(runs_root / "c", 2)).start()
        second = next(messages)
        assert "runs/c" in {row["id"] for row in second["data"]["runs"]}


def test_head_of_a_stream_answers_at_once(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    for path in ("/api/runs/stream", "/api/run/runs/a/stream"):
        r = httpx.head(f"{s.url}{path}", timeout=5)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert not s.state.feeds
