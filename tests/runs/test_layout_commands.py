"""`vrx probe run`, `vrx assoc run` and `vrx triage run` with --layout: the run goes into a new
directory the layout names below the directory option, records the `layout` event, derives the
command's usual files there and names the directory on stdout."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_core import read_events
from vrx_core.capture import environment
from vrx_core.events import Config, Environment, RunLayout
from vrx_plugins import frame_triage

RVINCI_NAME = re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_([0-9a-f]{7}|nogit)(-\d+)?")
MGR_NAME = re.compile(r"\d{8}_\d{6}_smoke(-\d+)?")

# The tiny shapes the plugins' own CLI tests use: a CPU probe and an assoc run of a second or two.
PROBE_ANT = json.dumps({"ring_len": 32, "slot_dim": 16, "ptr_dtype": "fp32", "precision": "fp32"})
PROBE_COLONY = json.dumps(
    {"seq_len": 8, "synth_len": 4, "batch_size": 2, "ptr_update_every": 1, "state_loop_samples": 0}
)
PROBE_FILES = ("run_cmd.txt", "env.json", "metrics.json", "metrics.csv", "summary.md")
ASSOC_ANT = '{"ring_len": 16, "slot_dim": 8, "ptr_dtype": "fp64", "precision": "fp32"}'
ASSOC_TINY = (
    "--ant", ASSOC_ANT, "--keys", "4", "--pairs", "2", "--val-range", "4", "--seq-len", "8",
    "--max-samples", "64", "--eval-samples", "40", "--eval-batch-size", "16", "--batch", "8", "--steps", "2",
)  # fmt: skip
SCENARIO = str(Path(frame_triage.__file__).resolve().parent / "scenarios" / "sim_baseline.json")
MGR = ("--layout", "mgr", "--kind", "bench", "--topic", "cmd", "--tag", "smoke")
NO_PROJECT = ("--layout", "rvinci")

Cli = Callable[..., Any]


@pytest.fixture(autouse=True)
def _cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_FORCE_DEVICE", "cpu")


def probe(root: Path, *layout: str) -> tuple[str, ...]:
    return (
        "probe", "run", "--ant", PROBE_ANT, "--colony", PROBE_COLONY, "--out-dim", "1", "--batch", "2",
        "--warmup-steps", "1", "--measure-steps", "2", "--precision", "fp32", "--amp", "0",
        "--telemetry-interval", "0", "--output-dir", str(root), *layout,
    )  # fmt: skip


def assoc(root: Path, *layout: str) -> tuple[str, ...]:
    return ("assoc", "run", "--output-dir", str(root), *ASSOC_TINY, *layout)


def triage(root: Path, *layout: str) -> tuple[str, ...]:
    return ("triage", "run", SCENARIO, "--out", str(root), *layout)


def _only_run_below(parent: Path) -> Path:
    (run,) = parent.iterdir()
    return run


def _layout_event(run: Path) -> RunLayout:
    events = list(read_events(run))
    assert [type(e) for e in events[1:3]] == [RunLayout, Environment]  # right after run_start
    layout = events[1]
    assert isinstance(layout, RunLayout) and layout.run_id == run.name
    return layout


def test_probe_run_into_an_mgr_layout(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    r = cli(*probe(root, *MGR))
    assert r.code == 0, r.err
    run = _only_run_below(root / "bench" / "cmd")
    assert MGR_NAME.fullmatch(run.name), run.name
    layout = _layout_event(run)
    assert (layout.style, layout.kind, layout.topic) == ("mgr", "bench", "cmd")
    for name in PROBE_FILES:
        assert (run / name).is_file(), name
    # the "artifacts:" line names the directory the layout chose
    assert f"artifacts: {shlex.quote(str(run))}/{{metrics.json," in r.out


def test_probe_collects_git_and_torch_once_with_a_layout_and_records_a_config(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for name in ("read_git", "torch_facts"):
        real = getattr(environment, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(environment, name, counted)
    cfg = tmp_path / "probe.yaml"
    cfg.write_text("batch: 2\nnote: ${batch}\n")
    root = tmp_path / "artifacts"
    assert cli(*probe(root, *MGR, "--config", str(cfg))).code == 0
    assert sorted(calls) == ["read_git", "torch_facts"]
    run = _only_run_below(root / "bench" / "cmd")
    (config,) = [e for e in read_events(run) if isinstance(e, Config)]
    assert config.resolved == {"batch": 2, "note": 2}
    assert (run / "config_resolved.yaml").is_file()


@pytest.mark.parametrize("command", ["probe", "triage"])
def test_a_probe_or_capture_in_the_rvinci_layout_keeps_its_own_metrics_json(
    cli: Cli, tmp_path: Path, command: str
) -> None:
    """The runs plugin writes metrics.json only for runs that record core metrics: a probe's is the
    objective contract's, a capture's the bundle's, and the replay has one owner for it."""
    root = tmp_path / "runs"
    make = probe if command == "probe" else triage
    r = cli(*make(root, "--layout", "rvinci", "--project", "p"))
    assert r.code == 0, r.err
    run = _only_run_below(root / "p")
    assert RVINCI_NAME.fullmatch(run.name), run.name
    owners = json.loads((run / "derived.json").read_text())["files"]
    assert owners["metrics.json"]["plugin"] == ("gpu_probe" if command == "probe" else "frame_triage")
    assert owners["run_manifest.json"]["plugin"] == "runs"
    assert cli("replay", "--check", str(run)).code == 0


def test_assoc_run_into_an_rvinci_layout(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    r = cli(*assoc(root, "--layout", "rvinci", "--project", "assoc"))
    assert r.code == 0, r.err
    run = _only_run_below(root / "assoc")
    assert RVINCI_NAME.fullmatch(run.name), run.name
    layout = _layout_event(run)
    assert (layout.style, layout.project) == ("rvinci", "assoc")
    for name in ("report.json", "checkpoint.pt", "run_manifest.json"):
        assert (run / name).is_file(), name
    # the report's run_root is the directory the layout chose, not the root given
    assert json.loads((run / "report.json").read_text())["run_root"] == run.resolve().as_posix()
    assert f"report: {shlex.quote(str(run / 'report.json'))}" in r.out
    assert cli("replay", "--check", str(run)).code == 0


def test_assoc_run_into_an_mgr_layout_next_to_an_earlier_run(cli: Cli, tmp_path: Path) -> None:
    """The root may hold anything (another run included): the guard is for the new directory."""
    root = tmp_path / "artifacts"
    assert cli(*assoc(root)).code == 0  # a plain run in the root itself
    r = cli(*assoc(root, *MGR))
    assert r.code == 0, r.err
    run = _only_run_below(root / "bench" / "cmd")
    assert MGR_NAME.fullmatch(run.name) and (run / "report.json").is_file()


def test_triage_run_into_an_mgr_layout(cli: Cli, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    r = cli(*triage(root, *MGR))
    assert r.code == 0, r.err
    run = _only_run_below(root / "bench" / "cmd")
    assert MGR_NAME.fullmatch(run.name), run.name
    assert _layout_event(run).style == "mgr"
    for name in ("scenario.json", "run.json", "metrics.csv", "metrics.json", "summary.md"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["run_id"] == run.name  # the bundle's id
    assert f"bundle: {run}" in r.out.splitlines()
    assert r.out.startswith(f"recording run {run.name} ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*MGR, "--run-id", "r1"), "--run-id names a bundle directory inside --out"),
    ],
)
def test_triage_refuses_what_conflicts_with_a_layout(
    cli: Cli, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    r = cli(*triage(tmp_path / "root", *args))
    assert r.code == 2 and message in r.err
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("command", [probe, assoc, triage], ids=["probe", "assoc", "triage"])
def test_a_missing_project_is_a_usage_error_and_creates_nothing(
    cli: Cli, tmp_path: Path, command: Callable[..., tuple[str, ...]]
) -> None:
    r = cli(*command(tmp_path / "root", *NO_PROJECT))
    assert r.code == 2
    assert "--layout rvinci needs --project NAME" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("command", [probe, assoc, triage], ids=["probe", "assoc", "triage"])
def test_layout_options_without_layout_are_refused(
    cli: Cli, tmp_path: Path, command: Callable[..., tuple[str, ...]]
) -> None:
    r = cli(*command(tmp_path / "root", "--kind", "bench"))
    assert r.code == 2 and "--kind requires --layout" in r.err
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("command", [probe, assoc, triage], ids=["probe", "assoc", "triage"])
def test_the_command_derives_its_run_once_with_its_own_plugins(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: Callable[..., tuple[str, ...]]
) -> None:
    """A recorder placed by a layout derives at close by default (with every installed plugin);
    these commands derive afterwards themselves, with the plugins the command line selected."""
    import vrx_core.log.writer

    finished: list[bool] = []
    real = vrx_core.log.writer.finish_run

    def spy(run_dir: Path, *, derive: bool, summary: bool) -> None:
        finished.append(derive)
        real(run_dir, derive=derive, summary=summary)

    monkeypatch.setattr(vrx_core.log.writer, "finish_run", spy)
    root = tmp_path / "artifacts"
    r = cli(*command(root, *MGR))
    assert r.code == 0, r.err
    assert finished == [False]
    assert cli("replay", "--check", str(_only_run_below(root / "bench" / "cmd"))).code == 0
