"""`vrx sweep` (VRA-78) with a stand-in for its three commands: rows, failures, flush, resume, replay."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sweep_standin import StandIn, sweep_plugins

from vrx_core.engine.replay import replay
from vrx_core.hooks.api import ReplayContext
from vrx_core.log.reader import read_events
from vrx_core.testing import PluginContract, replay_to_dict
from vrx_plugins.ant_ratio.sweep import SweepSession, Tally, read_history, resume_problem, run_sweep
from vrx_plugins.ant_ratio.sweep_derive import AntRatioDeriver
from vrx_plugins.ant_ratio.sweep_events import SweepConfigResult, SweepConfigStarted, SweepStarted
from vrx_plugins.ant_ratio.sweep_formats import CSV_COLUMNS
from vrx_plugins.ant_ratio.sweep_plan import SweepSettings, plan

SETTINGS = SweepSettings(tiers=("small", "real"), expert_heads=(1, 2), batch=4)
IDS = ["small_E1_B0004", "small_E2_B0004", "real_E1_B0004", "real_E2_B0004"]
ONE = SweepSettings(tiers=("small",), expert_heads=(1,), batch=4)


def sweep(
    run_dir: Path,
    settings: SweepSettings = SETTINGS,
    *,
    fail: dict[str, str] | None = None,
    on_probe: Callable[[Any], None] | None = None,
) -> tuple[Tally, str, Path]:
    ps = sweep_plugins()
    calls = run_dir.parent / f"{run_dir.name}.calls"
    runner = StandIn(settings, fail=fail, calls=calls, on_probe=on_probe)
    err = io.StringIO()
    session = SweepSession(
        run_dir=run_dir, settings=settings, configs=plan(settings), runner=runner, registry=ps.registry,
        derive=lambda: replay(run_dir, ps), argv=["vrx", "sweep"], err=err,
    )
    return run_sweep(session), err.getvalue(), calls


def summary_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "ant_ratio_summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def results(run_dir: Path) -> list[SweepConfigResult]:
    ps = sweep_plugins()
    return [e for e in read_events(run_dir, registry=ps.registry) if isinstance(e, SweepConfigResult)]


def test_every_configuration_is_a_probe_an_assoc_and_a_packet(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    tally, err, calls = sweep(run)
    assert (tally.ran, tally.ok, tally.error) == (4, 4, 0)
    assert calls.read_text().splitlines()[:3] == [f"{s} small_E1_B0004" for s in ("probe", "assoc", "packet")]
    rows = summary_rows(run)
    assert [r["config"] for r in rows] == IDS and tuple(rows[0]) == CSV_COLUMNS
    assert {r["status"] for r in rows} == {"ok"} and rows[0]["probe_pass"] == "True"
    assert rows[0]["steps"] == str(SETTINGS.steps_for_batch(4)) == "976"
    packets = [json.loads(line) for line in (run / "ant_ratio_packets.jsonl").read_text().splitlines()]
    assert [p["ant_tier"] for p in packets] == ["small", "small", "real", "real"]
    assert packets[0]["cap_train_rc"] == 0 and packets[0]["cap_train_nonzero_rc"] is False
    assert packets[0]["cap_eval_device"] == "cuda"
    meta = json.loads((run / "sweep_meta.json").read_text())
    assert (meta["schema_version"], meta["configs_planned"], meta["ok"], meta["pending"]) == (
        "ant_ratio_sweep_v0", 4, 4, []
    )
    assert json.loads((run / "sweep_failures.json").read_text()) == {"failures": []}
    db = [json.loads(line) for line in (run / "db_v0.jsonl").read_text().splitlines()]
    assert len(db) == 4 and {r["run_tag"] for r in db} == {"sweep"} and {r["cap_seed"] for r in db} == {123}
    assert "[sweep 1/4] small_E1_B0004 ok: probe PASS, vram 0.840" in err
    assert (run / "configs" / "small_E1_B0004" / "assoc-seed123" / "report.json").exists()


def test_failures_are_rows_not_crashes(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    fail = {"small_E2_B0004": "probe_rc2", "real_E1_B0004": "assoc_rc1", "real_E2_B0004": "raise"}
    tally, err, _ = sweep(run, fail=fail)
    assert (tally.ok, tally.error) == (1, 3)
    rows = {r["config"]: r for r in summary_rows(run)}
    assert rows["small_E1_B0004"]["status"] == "ok"
    assert rows["small_E2_B0004"]["error"].startswith("probe harness rc=2 (invalid args or cannot write)")
    assert "probe output: ERROR: invalid args: stand-in refuses" in rows["small_E2_B0004"]["error"]
    assert rows["real_E1_B0004"]["error"].startswith("assoc rc=1 (run_root=")
    assert "RuntimeError: stand-in training diverged" in rows["real_E1_B0004"]["error"]
    assert rows["real_E1_B0004"]["probe_pass"] == "True"  # what is known is kept
    assert rows["real_E2_B0004"]["error"] == "RuntimeError: stand-in exploded"
    failures = json.loads((run / "sweep_failures.json").read_text())["failures"]
    assert [f["config"] for f in failures] == IDS[1:]
    assert len((run / "ant_ratio_packets.jsonl").read_text().splitlines()) == 1
    by_id = {r.config_id: r for r in results(run)}
    assoc = by_id["real_E1_B0004"].stages["assoc"]
    assert assoc == {"rc": 1, "timed_out": False, "seconds": assoc["seconds"], "attempts": 1}
    assert "error: probe harness rc=2" in err


def test_outputs_are_flushed_after_each_configuration(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    on_disk: list[int] = []

    def before_probe(cfg: Any) -> None:
        on_disk.append(len(summary_rows(run)))

    sweep(run, fail={"small_E2_B0004": "probe_rc2"}, on_probe=before_probe)
    assert on_disk == [0, 1, 2, 3]  # every finished row is on disk before the next one starts
    assert len(summary_rows(run)) == 4


@pytest.mark.parametrize(
    ("mode", "rc"), [("assoc_rc1_report", 1), ("assoc_timeout_report", 124)]
)
def test_a_report_json_is_the_truth_whatever_the_rc(tmp_path: Path, mode: str, rc: int) -> None:
    run = tmp_path / "sweep"
    settings = SweepSettings(tiers=("small",), expert_heads=(1,), batch=4)
    tally, _, _ = sweep(run, settings, fail={"small_E1_B0004": mode})
    assert tally.ok == 1
    row = summary_rows(run)[0]
    assert (row["status"], row["cap_train_rc"], row["cap_train_nonzero_rc"]) == ("ok", str(rc), "True")


def test_a_missing_report_is_retried_once(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    settings = SweepSettings(tiers=("small",), expert_heads=(1,), batch=4)
    sweep(run, settings, fail={"small_E1_B0004": "assoc_flaky"})
    row = summary_rows(run)[0]
    assert (row["status"], row["attempt_eval_count"]) == ("ok", "2")
    assert (run / "configs" / "small_E1_B0004" / "assoc-seed123.attempt-1").is_dir()
    no_retry = SweepSettings(tiers=("small",), expert_heads=(1,), batch=4, cap_retry_once=False)
    sweep(tmp_path / "once", no_retry, fail={"small_E1_B0004": "assoc_flaky"})
    assert summary_rows(tmp_path / "once")[0]["error"].startswith("missing report.json after assoc run")


def test_a_fail_probe_is_still_joined(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    sweep(run, ONE, fail={"small_E1_B0004": "probe_fail"})
    row = summary_rows(run)[0]
    assert (row["status"], row["probe_pass"]) == ("ok", "False")
    assert json.loads((run / "ant_ratio_packets.jsonl").read_text())["stability_pass"] is False


def test_a_missing_packet_is_an_error(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    sweep(run, ONE, fail={"small_E1_B0004": "packet_missing"})
    assert summary_rows(run)[0]["error"].startswith("packet rc=2: no packet in ")


def test_a_rerun_resumes_and_redoes_nothing(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    sweep(run, SweepSettings(tiers=("small",), expert_heads=(1, 2), batch=4))
    before = (run / "ant_ratio_summary.csv").read_bytes()
    tally, err, calls = sweep(run)  # the plan grew: real x (1, 2)
    assert (tally.skipped, tally.ran, tally.ok) == (2, 2, 4)
    assert "resuming" in err
    probes = [line.split()[1] for line in calls.read_text().splitlines() if line.startswith("probe")]
    assert probes == IDS  # the first session's two, then only the two new ones
    assert (run / "ant_ratio_summary.csv").read_bytes().startswith(before[: before.index(b"\r\n") + 2])
    assert [r["config"] for r in summary_rows(run)] == IDS
    assert sum(isinstance(e, SweepStarted) for e in read_events(run, registry=sweep_plugins().registry)) == 2
    again, _, _ = sweep(run)
    assert (again.ran, again.skipped) == (0, 4)


def test_an_interrupted_configuration_is_set_aside_and_run_again(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    settings = SweepSettings(tiers=("small",), expert_heads=(1,), batch=4)
    with pytest.raises(KeyboardInterrupt):
        sweep(run, settings, on_probe=lambda cfg: (_ for _ in ()).throw(KeyboardInterrupt))
    assert read_history(run, sweep_plugins().registry).done == {}
    tally, _, _ = sweep(run, settings)
    assert tally.ok == 1
    events = read_events(run, registry=sweep_plugins().registry)
    starts = [(e.attempt, e.set_aside) for e in events if isinstance(e, SweepConfigStarted)]
    assert starts == [(1, None), (2, "configs/small_E1_B0004.interrupted-1")]


def test_resume_refuses_other_settings_and_other_runs(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    sweep(run, ONE)
    h = read_history(run, sweep_plugins().registry)
    grown = SweepSettings(tiers=("real",), expert_heads=(1,), batch=8, probe_timeout_s=5)
    assert resume_problem(h, grown) is None  # the plan and the timeouts may change
    problem = resume_problem(h, SweepSettings(batch=4, token_budget=10))
    assert problem is not None and "token_budget" in problem
    h.name = "probe"
    assert "not a sweep" in (resume_problem(h, SETTINGS) or "")


def test_replay_rebuilds_the_outputs_byte_for_byte(tmp_path: Path) -> None:
    run = tmp_path / "sweep"
    sweep(run, fail={"real_E1_B0004": "assoc_rc1"})
    ps = sweep_plugins()
    names = ("ant_ratio_packets.jsonl", "ant_ratio_summary.csv", "sweep_failures.json", "sweep_meta.json",
             "sweep_summary.md", "db_v0.jsonl", "db_v0.csv")
    flushed = {n: (run / n).read_bytes() for n in names}
    again = replay_to_dict(run, ps, tmp_path / "again")
    assert {n: again[n] for n in names} == flushed


class TestSweepDeriverContract(PluginContract):
    """Replay twice == once; incremental == full; no clock, on a sweep's real events."""

    def plugins(self) -> Any:
        return sweep_plugins()

    def events(self) -> list[Any]:
        run = Path(self._tmp) / "source"
        sweep(run, fail={"small_E2_B0004": "probe_rc2"})
        events = read_events(run, registry=sweep_plugins().registry)
        sweep_events = (e for e in events if type(e).__name__.startswith("Sweep"))
        return [msgspec.structs.replace(e, seq=-1, t=0.0) for e in sweep_events]

    @pytest.fixture(autouse=True)
    def _tmp_dir(self, tmp_path: Path) -> None:
        self._tmp = str(tmp_path)


def test_one_deriver_for_packet_runs_and_sweep_runs(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "sweep"
    sweep(run, ONE)
    plugins = sweep_plugins()
    assert isinstance(plugins.derivers(ReplayContext(run, run, plugins.registry))[0][1], AntRatioDeriver)
    # A packet run of that configuration's roots gets exactly packet.json from the same deriver.
    monkeypatch.chdir(tmp_path)
    cfg = run / "configs" / "small_E1_B0004"
    r = cli("packet", "--probe-run-root", str(cfg / "probe"), "--assoc-run-root", str(cfg / "assoc-seed123"),
            "--run-dir", str(tmp_path / "packet"))
    assert r.code == 0, r.err
    files = replay_to_dict(tmp_path / "packet", plugins, tmp_path / "p")
    assert sorted(files) == ["derived.json", "packet.json"]
    assert files["packet.json"] == r.out.encode()
