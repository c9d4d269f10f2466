"""The telemetry plugin through replay: summary.json and run.md for a run with metrics, nothing for
one without, byte-exact replays, ``vrx replay --check``, and the plugin's hooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vrx_core.engine.replay import replay
from vrx_core.events import Config, Event, Log, Metric, Params
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.log.writer import Recorder
from vrx_core.testing import PluginContract, make_plugins, replay_to_dict, write_log
from vrx_plugins import run_telemetry
from vrx_plugins.run_telemetry.derive import TelemetryDeriver


class TestTelemetryContract(PluginContract):
    plugin = run_telemetry

    def events(self) -> list[Event]:
        events: list[Event] = [
            Config(composed={"n": 1}, resolved={"n": 1, "warmup_steps": 1}),
            Params(values={"tokens_per_step": 256, "flops_per_token": 1000, "seed": 1}),
        ]
        for step in range(6):
            events.append(Metric("loss", 3.0 / (step + 1), step))
            events.append(Metric("lr", 1e-3, step))
        events += [Metric("val_loss", 1.0, 5), Metric("peak_memory_allocated_gb", 0.5, 5)]
        return events


def test_a_run_with_metrics_gets_summary_and_run_md(tmp_path: Path) -> None:
    ps = make_plugins(run_telemetry, names=["telemetry"])
    run = write_log(tmp_path / "run", [Params(values={"seed": 7}), Metric("loss", 2.0, 0)], plugins=ps)
    files = replay_to_dict(run, ps, tmp_path / "out")
    assert sorted(files) == ["derived.json", "run.md", "summary.json"]
    summary = json.loads(files["summary.json"])
    assert summary["results"]["losses"] == [2.0]
    assert summary["meta"]["seed"] == 7
    assert files["run.md"].decode().startswith("# run run\n")
    assert files["summary.json"].endswith(b"}\n")


def test_a_run_without_metrics_gets_neither_file(tmp_path: Path) -> None:
    ps = make_plugins(run_telemetry, names=["telemetry"])
    run = write_log(tmp_path / "run", [Params(values={"a": 1}), Log(msg="hi")], plugins=ps)
    assert sorted(replay_to_dict(run, ps, tmp_path / "out")) == ["derived.json"]


def test_non_finite_values_are_null_in_summary_json(tmp_path: Path) -> None:
    ps = make_plugins(run_telemetry, names=["telemetry"])
    events = [
        Metric("loss", 1.0, 0),
        Metric("loss", float("nan"), 1),
        Metric("peak_memory_allocated_gb", 1e9),
    ]
    run = write_log(tmp_path / "run", events, plugins=ps)
    summary = json.loads(replay_to_dict(run, ps, tmp_path / "out")["summary.json"])
    assert summary["results"]["losses"] == [1.0, None]
    assert summary["results"]["train_ce_final"] is None
    assert summary["results"]["final_loss"] == 1.0
    assert summary["numerics"]["non_finite_losses"] == 1


def test_the_installed_plugin_derives_and_check_is_clean(tmp_path: Path, cli: Callable[..., Any]) -> None:
    """With every installed plugin (the entry point ``telemetry``), then ``vrx replay --check``."""
    with Recorder(tmp_path / "run", config={"warmup_steps": 1}, environment=False, summary=False) as rec:
        rec.emit(Params(values={"tokens_per_step": 8}))
        for step in range(3):
            rec.emit(Metric("loss", 1.0 / (step + 1), step))
    result = replay(tmp_path / "run", PluginSet.load(Selection()))
    assert result.files["summary.json"] == result.files["run.md"] == "telemetry"
    checked = cli("replay", "--check", str(tmp_path / "run"))
    assert checked.code == 0, checked.out + checked.err


def test_the_deriver_declares_both_files_only_for_runs_with_metrics() -> None:
    deriver = TelemetryDeriver()
    assert deriver.run_outputs() == frozenset()
    deriver.on_metric(Metric("x", 1.0))
    assert deriver.run_outputs() == {"summary.json", "run.md"}


def test_the_plugin_loads_by_its_entry_point_with_its_hooks(cli: Callable[..., Any]) -> None:
    ps = PluginSet.load(Selection(only={"telemetry"}))
    hooks = {impl.function.__name__ for impl in ps.pm.hook.vrx_deriver.get_hookimpls()}
    assert hooks == {"vrx_deriver"}
    assert [i.plugin_name for i in ps.pm.hook.vrx_end_of_run.get_hookimpls()] == ["telemetry"]
    assert [i.plugin_name for i in ps.pm.hook.vrx_add_commands.get_hookimpls()] == ["telemetry"]
    helped = cli("regressions", "--help")
    assert helped.code == 0
    assert "--baseline" in helped.out


def test_run_md_places_an_rvinci_run_under_its_project(tmp_path: Path) -> None:
    """An RvinciLayout run lies at runs/<project>/<run_id>: run.md says ``<project>/<run_id>``,
    not mgr's ``kind/topic/run_id`` (which does not exist for it)."""
    from vrx_core.log.layout import RvinciLayout

    layout = RvinciLayout(project="detector", root=tmp_path / "runs")
    with Recorder(layout=layout, environment=False, summary=False) as rec:
        rec.emit(Metric("loss", 1.0, 0))
        run_dir = rec.run_dir
    assert run_dir.parent == tmp_path / "runs" / "detector"
    result = replay(run_dir, PluginSet.load(Selection(only={"telemetry"})))
    assert result.files["run.md"] == "telemetry"
    text = (run_dir / "run.md").read_text()
    assert f"- Artifacts: `detector/{run_dir.name}`\n" in text
    assert "baseline/" not in text
