"""`vrx sweep` on the command line: the plan, usage errors, and a sweep killed with SIGKILL then resumed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sweep_standin import sweep_plugins

from vrx_core.events import Resumed
from vrx_core.log.reader import read_events
from vrx_core.testing import write_log
from vrx_plugins.ant_ratio.sweep_events import SweepConfigStarted
from vrx_plugins.ant_ratio.sweep_plan import PlanError, SweepSettings, plan

HERE = Path(__file__).resolve().parent
GRID = ("--tiers", "small,real", "--expert-heads", "1,2", "--batch", "4")
STANDIN = ("--runner", "sweep_standin:factory")
IDS = ["small_E1_B0004", "small_E2_B0004", "real_E1_B0004", "real_E2_B0004"]


def rows(run: Path) -> list[dict[str, str]]:
    with (run / "ant_ratio_summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_steps_follow_the_token_budget() -> None:
    s = SweepSettings()
    assert [s.steps_for_batch(b) for b in (1, 16, 128)] == [2000, 244, 50]  # clamp(1e6 // (B*256), 50, 2000)


def test_plan_from_batch_targets() -> None:
    targets = {"rows": [
        {"ant_tier": "small", "expert_heads": 1, "chosen_batch": 24, "unusable": False},
        {"ant_tier": "small", "expert_heads": 2, "chosen_batch": None, "unusable": True},
        {"ant_tier": "real", "expert_heads": 4, "chosen_batch": 8, "unusable": False},
        {"ant_tier": "real", "expert_heads": 4, "chosen_batch": 8, "unusable": False},
        {"ant_tier": "huge", "expert_heads": 1, "chosen_batch": 8},
        "not a row",
    ]}  # fmt: skip
    got = plan(SweepSettings(), targets)
    assert [(c.config_id, c.steps) for c in got] == [("small_E1_B0024", 162), ("real_E4_B0008", 488)]
    assert [c.config_id for c in plan(SweepSettings(expert_heads=(4,)), targets)] == ["real_E4_B0008"]
    with pytest.raises(PlanError, match="--batch"):
        plan(SweepSettings())
    with pytest.raises(PlanError, match="rows"):
        plan(SweepSettings(), {"schema_version": "x"})


def test_dry_run_lists_and_creates_nothing(cli: Callable[..., Any], tmp_path: Path) -> None:
    r = cli("sweep", "--run-dir", str(tmp_path / "s"), "--dry-run", *GRID)
    assert r.code == 0
    assert r.out.splitlines()[0].split()[:2] == ["1", "small_E1_B0004"]
    assert r.out.splitlines()[-1] == "4 configurations, 0 done"
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tiers", "small"), "--batch"),
        (("--tiers", "huge", "--batch", "4"), "--tiers"),
        (("--batch-targets", "missing.json"), "cannot read batch targets"),
        (("--batch", "4", "--runner", "nope"), "MODULE:FACTORY"),
        (("--batch", "4", "--runner", "no_such_module_x:f"), "no_such_module_x"),
        (("--batch", "4", "--min-steps", "9", "--max-steps", "3"), "--min-steps"),
    ],
)
def test_usage_errors_exit_2(
    cli: Callable[..., Any], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    r = cli("sweep", "--run-dir", str(tmp_path / "s"), *args)
    assert r.code == 2 and r.err.startswith("vrx sweep: ") and message in r.err


def test_a_run_dir_holding_another_run_is_refused(cli: Callable[..., Any], tmp_path: Path) -> None:
    write_log(tmp_path / "other", [])
    r = cli("sweep", "--run-dir", str(tmp_path / "other"), *GRID)
    assert r.code == 2 and "not a sweep" in r.err


def test_the_cli_with_a_stand_in_and_batch_targets(cli: Callable[..., Any], tmp_path: Path) -> None:
    targets = tmp_path / "targets.json"
    doc = {"schema_version": "ant_ratio_batch_targets_v0", "rows": [
        {"ant_tier": "small", "expert_heads": 1, "chosen_batch": 2, "unusable": False},
        {"ant_tier": "real", "expert_heads": 4, "chosen_batch": 3, "unusable": False},
    ]}  # fmt: skip
    targets.write_text(json.dumps(doc))
    run = tmp_path / "s"
    r = cli("sweep", *STANDIN, "--run-dir", str(run), "--batch-targets", str(targets))
    assert r.code == 0, r.err
    assert [(row["config"], row["status"]) for row in rows(run)] == [
        ("small_E1_B0002", "ok"),
        ("real_E4_B0003", "ok"),
    ]
    assert "[sweep 2/2] real_E4_B0003 ok" in r.err and "2 ok, 0 error" in r.out
    meta = json.loads((run / "sweep_meta.json").read_text())
    assert meta["batch_targets"] == str(targets.resolve())
    other_budget = ("--batch-targets", str(targets), "--token-budget", "5")
    resumed = cli("sweep", *STANDIN, "--run-dir", str(run), *other_budget)
    assert resumed.code == 2 and "token_budget" in resumed.err


def _sweep(run: Path) -> list[str]:
    return [sys.executable, "-m", "vrx_core", "sweep", *STANDIN, "--run-dir", str(run), *GRID]


def _env(calls: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "SWEEP_STANDIN_CALLS": str(calls), **extra}


def test_sweep_resumes_after_a_kill(tmp_path: Path) -> None:
    """SIGKILL while configuration 3 runs; the rerun skips 1-2, redoes 3, and all rows are there."""
    run, calls = tmp_path / "sweep", tmp_path / "calls.txt"
    blocked = Path(f"{calls}.blocked")
    child = subprocess.Popen(
        _sweep(run), env=_env(calls, SWEEP_STANDIN_BLOCK="real_E1_B0004"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not blocked.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the stand-in never reached configuration 3"
            time.sleep(0.05)
        assert [r["config"] for r in rows(run)] == IDS[:2]  # flushed before the kill
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        if child.stderr:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    done = subprocess.run(
        _sweep(run), env=_env(calls), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    probes = [line.split()[1] for line in calls.read_text().splitlines() if line.startswith("probe")]
    assert probes == [*IDS[:3], *IDS[2:]]  # 1 and 2 once; 3 again (it was interrupted); then 4
    assert [(r["config"], r["status"]) for r in rows(run)] == [(i, "ok") for i in IDS]
    assert "resuming" in done.stderr and "[sweep 3/4] real_E1_B0004 ok" in done.stderr
    events = list(read_events(run, registry=sweep_plugins().registry))
    assert any(isinstance(e, Resumed) for e in events)
    starts = [(e.config_id, e.attempt, e.set_aside) for e in events if isinstance(e, SweepConfigStarted)]
    assert starts[2:] == [
        ("real_E1_B0004", 1, None),
        ("real_E1_B0004", 2, "configs/real_E1_B0004.interrupted-1"),
        ("real_E2_B0004", 1, None),
    ]
    meta = json.loads((run / "sweep_meta.json").read_text())
    assert (meta["sessions"], meta["ok"], meta["pending"], meta["interrupted"]) == (2, 4, [], [])


@pytest.mark.parametrize("stage", ["probe", "assoc", "packet"])
def test_the_commands_the_sweep_runs_parse(stage: str, tmp_path: Path) -> None:
    """Every flag the runner passes exists in the command it runs (the public contracts)."""
    from vrx_core.cli.main import build_parser
    from vrx_core.hooks.manager import PluginSet
    from vrx_plugins.ant_ratio.sweep_runner import assoc_argv, packet_argv, probe_argv

    s = SweepSettings(batch=4, cap_force_disjoint=stage != "assoc")
    cfg = plan(s)[0]
    argv = {
        "probe": probe_argv(s, cfg, tmp_path / "p"),
        "assoc": assoc_argv(s, cfg, tmp_path / "a"),
        "packet": packet_argv(s, cfg, tmp_path / "p", tmp_path / "a", tmp_path / "packet.json"),
    }[stage]
    assert argv[1:3] == ["-m", "vrx_core"]
    parser = build_parser(PluginSet.from_argv(argv[3:]).command_adders())
    ns = parser.parse_args(argv[3:])
    assert ns.handler is not None
