"""``vrx_core.engine.fleet``: the same files as per-run replay, incremental skips that touch nothing,
one bad run never stopping the fleet, and workers refusing a plugin set that is not the client's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _fleet_harness import make_fleet, record, snapshot

from vrx_core.engine.fleet import FleetOptions, FleetResult, chunk_size, run_fleet
from vrx_core.engine.fleet_worker import Chunk, RunRow, difference, run_chunk
from vrx_core.engine.plugincode import fingerprint
from vrx_core.engine.replay import replay
from vrx_core.engine.runinfo import find_runs
from vrx_core.errors import ExitCode
from vrx_core.hooks.discovery import Selection
from vrx_core.hooks.manager import PluginSet
from vrx_core.testing import read_files


def options(selection: Selection, **kw: object) -> FleetOptions:
    prints = fingerprint(PluginSet.load(selection))
    return FleetOptions(selection=selection, fingerprint=prints, **kw)  # type: ignore[arg-type]


def fleet(root: Path, opts: FleetOptions) -> FleetResult:
    return run_fleet([str(p) for p in find_runs(root)], opts)


def statuses(result: FleetResult, root: Path) -> dict[str, str]:
    return {Path(r.path).relative_to(root).as_posix(): r.status for r in result.rows}


def test_fleet_writes_exactly_what_per_run_replay_writes(tmp_path: Path, selection: Selection) -> None:
    """Every file of every run, derived.json included, byte for byte: a pool of two against replay()."""
    a = make_fleet(tmp_path / "a", bad=False, broken=False)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    result = fleet(a, options(selection, jobs=2))
    assert result.engine == "local" and result.workers == 2
    plugins = PluginSet.load(selection)
    for run in find_runs(b):
        replay(run, plugins)
    runs = sorted(p.relative_to(b) for p in find_runs(b))
    assert len(runs) == 7
    for rel in runs:
        want = read_files(b / rel)
        assert {"count.json", "derived.json", "summary.json", "bundle_manifest.json"} <= set(want)
        assert read_files(a / rel) == want, rel
    assert result.counts() == {"replayed": 6, "skipped": 0, "incomplete": 1, "failed": 0, "corrupt": 0}


def test_up_to_date_runs_are_skipped_untouched_and_force_redoes_them(
    tmp_path: Path, selection: Selection
) -> None:
    root = make_fleet(tmp_path / "f", bad=False, broken=False)
    first = fleet(root, options(selection, jobs=1))
    assert first.exit_code == ExitCode.INCOMPLETE
    before = snapshot(root)
    again = fleet(root, options(selection, jobs=1))
    assert snapshot(root) == before  # not one byte, not one mtime
    assert again.counts() == {"replayed": 0, "skipped": 6, "incomplete": 1, "failed": 0, "corrupt": 0}
    crashed = next(r for r in again.rows if r.path.endswith("run-02-crashed"))
    assert crashed.action == "skipped" and "up to date" in (crashed.reason or "")
    assert all(r.files == 6 for r in again.rows if r.status == "skipped")  # + plots, metrics.parquet
    forced = fleet(root, options(selection, jobs=1, force=True))
    assert forced.counts()["replayed"] == 6 and forced.counts()["skipped"] == 0
    after = snapshot(root)
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}
    assert after["g0/run-00/derived.json"][0] > before["g0/run-00/derived.json"][0]


def test_what_makes_a_run_out_of_date(tmp_path: Path, selection: Selection) -> None:
    """Another plugin set, a missing derived file, a log that grew, a replay that recorded a failure."""
    root = tmp_path / "f"
    for name in ("same", "deleted", "grown", "failed"):
        record(root / name, end=name != "grown")
    fleet(root, options(selection, jobs=1))
    (root / "deleted" / "count.json").unlink()
    rec = __import__("vrx_core.log.writer", fromlist=["Recorder"]).Recorder(root / "grown", environment=False)
    rec.close()  # resumed and ended: the log grew
    (root / "failed" / "derived.json").write_bytes(
        (root / "failed" / "derived.json").read_bytes().replace(b'"failures": []', b'"failures": [{}]')
    )
    result = fleet(root, options(selection, jobs=1))
    assert statuses(result, root) == {
        "deleted": "replayed", "failed": "replayed", "grown": "replayed", "same": "skipped",
    }  # fmt: skip
    without = Selection(dirs=selection.dirs, block={"manifest"})
    assert fleet(root, options(without, jobs=1)).counts()["replayed"] == 4


def test_one_bad_run_never_stops_the_fleet(tmp_path: Path, selection: Selection) -> None:
    """A crashed run, a corrupt log and a plugin raising, among good runs, on a pool of two."""
    root = make_fleet(tmp_path / "f")
    result = fleet(root, options(selection, jobs=2))
    assert statuses(result, root) == {
        "g0/bad-run": "failed",
        "g0/run-00": "replayed",
        "g0/run-02": "replayed",
        "g0/run-02-crashed": "incomplete",
        "g0/run-04": "replayed",
        "g1/run-01": "replayed",
        "g1/run-03": "replayed",
        "g1/run-03-corrupt": "corrupt",
        "g1/run-05": "replayed",
    }
    rows = {Path(r.path).name: r for r in result.rows}
    bad = rows["bad-run"]
    assert "plugin 'fleetplug' failed in on_event at seq 3: ValueError: boom on bad-run" in (bad.reason or "")
    assert bad.action == "replayed" and (root / "g0" / "bad-run" / "summary.json").exists()
    assert not (root / "g0" / "bad-run" / "count.json").exists()
    assert "events.jsonl:4 (byte" in (rows["run-03-corrupt"].reason or "")
    assert not (root / "g1" / "run-03-corrupt" / "derived.json").exists()
    crashed = rows["run-02-crashed"]
    assert crashed.action == "replayed" and "replayed in recover mode to seq 10" in (crashed.reason or "")
    assert result.exit_code == ExitCode.FAILED
    # the failed run is replayed again next time (its derived.json records the failure)
    assert statuses(fleet(root, options(selection, jobs=1)), root)["g0/bad-run"] == "failed"


def test_a_run_that_kills_its_worker_fails_alone(tmp_path: Path, selection: Selection) -> None:
    """The pool breaks; the chunk is retried, then halved, until the killing run is alone."""
    root = make_fleet(tmp_path / "f", good=8, crashed=False, broken=False, bad=False)
    record(root / "g1" / "kill-run")
    result = fleet(root, options(selection, jobs=2))
    rows = {Path(r.path).name: r for r in result.rows}
    assert rows["kill-run"].status == "failed"
    assert "the worker died while on this run" in (rows["kill-run"].reason or "")
    # a run the dead worker had finished is up to date when its chunk runs again: skipped then
    counts = result.counts()
    assert counts["replayed"] + counts["skipped"] == 8 and counts["failed"] == 1 and result.retried >= 2
    assert len(list(root.rglob("count.json"))) == 8


def test_a_plugin_calling_sys_exit_fails_its_run_only(tmp_path: Path, selection: Selection) -> None:
    root = make_fleet(tmp_path / "f", good=2, crashed=False, broken=False, bad=False)
    record(root / "g0" / "exit-run")
    result = fleet(root, options(selection, jobs=1))  # in this process: the fleet goes on
    want = {"g0/exit-run": "failed", "g0/run-00": "replayed", "g1/run-01": "replayed"}
    assert statuses(result, root) == want
    assert result.rows[0].reason == "SystemExit: 4"


def test_a_worker_refuses_a_plugin_set_that_differs_from_the_clients(
    tmp_path: Path, selection: Selection
) -> None:
    root = make_fleet(tmp_path / "f", good=2, crashed=False, broken=False, bad=False)
    opts = options(selection, jobs=1)
    version, code = opts.fingerprint["fleetplug"]
    opts.fingerprint["fleetplug"] = (version, "9f8e" * 16)
    del opts.fingerprint["manifest"]
    result = fleet(root, opts)
    assert result.counts()["failed"] == 2 and result.exit_code == ExitCode.FAILED
    for row in result.rows:
        assert row.reason is not None and row.reason.startswith("worker plugin set differs (")
        assert (
            f"fleetplug 1 (code {code[:12]}) here, 1 (code 9f8e9f8e9f8e) on the client; "
            f"manifest {opts.fingerprint['runs'][0]} (code " in row.reason
        )
        assert row.reason.endswith("here, missing on the client")
    assert not list(root.rglob("derived.json"))


def test_difference_names_each_plugin() -> None:
    here = {"a": ("1", "aa" * 32), "b": ("2", "bb" * 32)}
    assert difference(here, dict(here)) is None
    assert difference(here, {"a": ("1", "cc" * 32), "c": ("3", "dd" * 32)}) == (
        "a 1 (code aaaaaaaaaaaa) here, 1 (code cccccccccccc) on the client; "
        "b 2 (code bbbbbbbbbbbb) here, missing on the client; "
        "c missing here, 3 (code dddddddddddd) on the client"
    )


def test_a_worker_that_cannot_load_the_plugins_fails_its_runs(tmp_path: Path) -> None:
    rows = run_chunk(Chunk("replay", ("/x/a", "/x/b"), Selection(dirs=[tmp_path / "missing"])))
    assert [r.status for r in rows] == ["failed", "failed"]
    assert "cannot load the plugins: UsageError: plugins directory does not exist" in (rows[0].reason or "")


def test_check_and_verify(tmp_path: Path, selection: Selection) -> None:
    root = make_fleet(tmp_path / "f", good=3, bad=False)
    fleet(root, options(selection, jobs=1))
    check = fleet(root, options(selection, jobs=1, op="check"))
    assert check.counts() == {"ok": 3, "drift": 0, "incomplete": 1, "failed": 0, "corrupt": 1}
    assert check.exit_code == ExitCode.DATAERR
    (root / "g1" / "run-01" / "count.json").write_text("{}\n")
    drift = {Path(r.path).name: r for r in fleet(root, options(selection, jobs=1, op="check")).rows}
    assert drift["run-01"].status == "drift" and "count.json (differs)" in (drift["run-01"].reason or "")
    verify = fleet(root, options(selection, jobs=1, op="verify"))
    assert verify.counts() == {"ok": 2, "incomplete": 1, "failed": 0, "corrupt": 2}
    rows = {Path(r.path).name: r for r in verify.rows}
    assert "count.json" in (rows["run-01"].reason or "")  # the bundle manifest's check
    assert "no run_end" in (rows["run-02-crashed"].reason or "")
    assert "crc: checksum mismatch" in (rows["run-03-corrupt"].reason or "")
    assert verify.exit_code == ExitCode.DATAERR
    shutil.rmtree(root / "g1" / "run-03-corrupt")
    fleet(root, options(selection, jobs=1, force=True))
    assert fleet(root, options(selection, jobs=1, op="verify")).exit_code == ExitCode.INCOMPLETE


def test_exit_code_precedence_and_chunks() -> None:
    def result(*statuses: str) -> FleetResult:
        rows = [RunRow(f"r{i}", s) for i, s in enumerate(statuses)]
        return FleetResult("replay", rows, "local", 1, 1, 0.0)

    assert result("replayed", "skipped").exit_code == ExitCode.OK
    assert result("replayed", "incomplete").exit_code == ExitCode.INCOMPLETE
    assert result("incomplete", "corrupt").exit_code == ExitCode.DATAERR
    assert result("corrupt", "failed", "incomplete").exit_code == ExitCode.FAILED
    assert result().exit_code == ExitCode.OK
    assert [chunk_size(n, 2) for n in (0, 1, 15, 16, 10_000, 1_000_000)] == [1, 1, 1, 1, 625, 1000]


def test_dask_local_cluster_gives_the_same_results(tmp_path: Path, selection: Selection) -> None:
    pytest.importorskip("distributed")
    a = make_fleet(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    local = fleet(a, options(selection, jobs=1))
    dask = fleet(b, options(selection, engine="dask", jobs=2, dask_processes=False))
    assert dask.engine == "dask" and dask.workers == 2
    assert [(Path(r.path).relative_to(b), r.status, r.files) for r in dask.rows] == [
        (Path(r.path).relative_to(a), r.status, r.files) for r in local.rows
    ]
    for run in find_runs(a):
        assert read_files(run) == read_files(b / run.relative_to(a))
    again = fleet(b, options(selection, engine="dask", jobs=2, dask_processes=False))
    assert again.counts()["skipped"] == 6
