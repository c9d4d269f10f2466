"""``vrx fleet replay|verify``: the table, --json, exit codes, usage errors, and Dask when missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from _fleet_harness import make_fleet, record

from vrx_core.hooks.discovery import Selection


def fleet_json(cli: Any, *args: str, code: int) -> dict[str, Any]:
    r = cli("fleet", *args, "--json")
    assert r.code == code, r.err
    data: dict[str, Any] = json.loads(r.out)
    return data


def test_replay_json_table_and_exit_codes(
    tmp_path: Path, selection: Selection, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_fleet(tmp_path / "f", good=2)
    monkeypatch.chdir(tmp_path)
    root = Path("f")  # relative: rows and reasons show paths as found under it
    pdir = str(selection.dirs[0])
    data = fleet_json(cli, "replay", str(root), "--plugins-dir", pdir, "-j", "1", code=1)
    assert data["counts"] == {"replayed": 2, "skipped": 0, "incomplete": 1, "failed": 1, "corrupt": 1}
    assert (data["command"], data["engine"], data["workers"], data["runs"], data["exit_code"]) == (
        "replay", "local", 1, 5, 1,
    )  # fmt: skip
    rows = {Path(r["path"]).name: r for r in data["rows"]}
    assert set(rows["run-00"]) == {"path", "status", "action", "files", "reason"}
    assert rows["run-00"]["path"] == str(root / "g0" / "run-00")  # as found under ROOT
    assert rows["bad-run"]["reason"].startswith("plugin 'fleetplug' failed in on_event at seq 3")
    assert rows["run-03-corrupt"]["reason"].startswith("f/g1/run-03-corrupt/events.jsonl:4 (byte ")
    r = cli("fleet", "replay", str(root), "--plugins-dir", pdir, "-j", "1")
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0].startswith(f"fleet replay: 5 run(s) under {root} in ")
    assert lines[1:6] == [
        "  replayed    0", "  skipped     2", "  incomplete  1", "  failed      1", "  corrupt     1",
    ]  # fmt: skip
    assert lines[6].split() == ["status", "path", "reason"]
    assert [line.split()[0] for line in lines[7:]] == ["failed", "incomplete", "corrupt"]
    assert "skipped: up to date" in lines[8]
    # without the failing plugin's run and the corrupt one: 3 (incomplete)
    (root / "g0" / "bad-run" / "events.jsonl").unlink()
    (root / "g1" / "run-03-corrupt" / "events.jsonl").unlink()
    assert cli("fleet", "replay", str(root), "--plugins-dir", pdir, "-j", "1").code == 3
    record(root / "g0" / "run-02-crashed")  # resumed and ended
    assert cli("fleet", "replay", str(root), "--plugins-dir", pdir, "-j", "1").code == 0


def test_check_and_verify_exit_codes(tmp_path: Path, selection: Selection, cli: Any) -> None:
    root = make_fleet(tmp_path / "f", good=2, crashed=False, broken=False, bad=False)
    pdir = str(selection.dirs[0])
    assert cli("fleet", "replay", str(root), "--plugins-dir", pdir, "-j", "2").code == 0
    data = fleet_json(cli, "replay", "--check", str(root), "--plugins-dir", pdir, "-j", "1", code=0)
    assert data["command"] == "check" and data["counts"]["ok"] == 2
    data = fleet_json(cli, "verify", str(root), "--plugins-dir", pdir, code=0)
    assert data["counts"] == {"ok": 2, "incomplete": 0, "failed": 0, "corrupt": 0}
    (root / "g0" / "run-00" / "count.json").write_text("{}\n")
    r = cli("fleet", "replay", "--check", str(root), "--plugins-dir", pdir, "-j", "1")
    assert r.code == 65 and "drift" in r.out and "count.json (differs)" in r.out
    assert cli("fleet", "verify", str(root), "--plugins-dir", pdir, "-j", "1").code == 65
    record(root / "g1" / "crashed", end=False)
    assert cli("fleet", "verify", str(root / "g1"), "--plugins-dir", pdir, "-j", "1").code == 3


def test_usage_errors_and_no_runs(tmp_path: Path, cli: Any) -> None:
    assert cli("fleet", "replay", str(tmp_path / "nope")).code == 66
    r = cli("fleet", "replay", str(tmp_path), "--address", "tcp://127.0.0.1:1", "--engine", "local")
    assert r.code == 2 and "--engine dask" in r.err
    assert cli("fleet", "replay", str(tmp_path), "--check", "--force").code == 2
    assert cli("fleet", "replay", str(tmp_path), "--jobs", "0").code == 2
    assert cli("fleet", "replay", str(tmp_path), "--engine", "spark").code == 2
    assert cli("fleet").code == 2
    r = cli("fleet", "verify", str(tmp_path), "--json")
    assert r.code == 0 and "no runs found" in r.err and json.loads(r.out)["runs"] == 0


def test_a_plugin_that_cannot_load_stops_the_fleet_before_it_starts(tmp_path: Path, cli: Any) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("from vrx_core import hookimpl\nimport no_such_module\n")
    record(tmp_path / "runs" / "a")
    r = cli("fleet", "replay", str(tmp_path / "runs"), "--plugins-dir", str(tmp_path / "plugins"))
    assert r.code == 69 and "broken could not be loaded" in r.err
    assert not (tmp_path / "runs" / "a" / "derived.json").exists()


def test_dask_not_installed_is_one_line_naming_the_extra(
    tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(tmp_path / "a")
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    r = cli("fleet", "replay", str(tmp_path), "--engine", "dask")
    assert r.code == 69
    assert r.err.strip().splitlines() == [
        "vrx: --engine dask needs Dask distributed (distributed is not installed): "
        "pip install 'vrx-core[fleet]'"
    ]
    assert not (tmp_path / "a" / "derived.json").exists()


def test_dask_engine_from_the_command_line(
    tmp_path: Path, selection: Selection, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine dask without --address: a LocalCluster (threads here, to start in milliseconds)."""
    distributed = pytest.importorskip("distributed")
    local_cluster = distributed.LocalCluster
    threads = {"processes": False}
    monkeypatch.setattr(distributed, "LocalCluster", lambda **kw: local_cluster(**(kw | threads)))
    root = make_fleet(tmp_path / "f", good=3)
    pdir = str(selection.dirs[0])
    data = fleet_json(cli, "replay", str(root), "--plugins-dir", pdir, "--engine", "dask", "-j", "2", code=1)
    assert (data["engine"], data["workers"]) == ("dask", 2)
    assert data["counts"] == {"replayed": 3, "skipped": 0, "incomplete": 1, "failed": 1, "corrupt": 1}
    r = cli("fleet", "verify", str(root), "--plugins-dir", pdir, "--engine", "dask", "-j", "1")
    assert r.code == 65 and "dask engine, 1 worker(s)" in r.out  # the corrupt run
