"""Declared outputs: a deriver names the files it writes for a run; a clash stops replay before any write."""

from __future__ import annotations

import json
from collections.abc import Set
from pathlib import Path

import pytest

from vrx_core import hookimpl
from vrx_core.engine.replay import OutputConflict, check, replay
from vrx_core.events import Event, Log, Metric
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext, handles
from vrx_core.testing import make_plugins, write_log


class ProbeStart(Event, frozen=True, kw_only=True, tag="test.probe_start"):
    device: str


class Probe(Deriver):
    """Like the coming gpu_probe plugin: metrics.json, but only for runs of its own kind."""

    outputs = frozenset({"metrics.json", "probe.txt"})

    def __init__(self) -> None:
        self.device: str | None = None

    @handles(ProbeStart)
    def on_start(self, event: ProbeStart) -> None:
        self.device = event.device

    def run_outputs(self) -> Set[str]:
        return self.outputs if self.device is not None else frozenset()

    def finish(self, out: DerivedFiles) -> None:
        if self.device is not None:
            out.write_json("metrics.json", {"device": self.device})
            out.write_text("probe.txt", self.device + "\n")


class LossMetrics(Deriver):
    """Writes metrics.json for runs with a `loss` metric (a stand-in for frame_triage's capture runs)."""

    outputs = frozenset({"metrics.json"})

    def __init__(self) -> None:
        self.loss: float | None = None

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        if event.name == "loss":
            self.loss = event.value

    def run_outputs(self) -> Set[str]:
        return self.outputs if self.loss is not None else frozenset()

    def finish(self, out: DerivedFiles) -> None:
        if self.loss is not None:
            out.write_json("metrics.json", {"loss": self.loss})


class Sneaky(Deriver):
    outputs = frozenset({"declared.json"})

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("declared.json", {})
        out.write_json("undeclared.json", {})


class Plugin:
    def __init__(self, cls: type[Deriver]) -> None:
        self.cls = cls

    @hookimpl
    def vrx_event_kinds(self) -> list[type[Event]]:
        return [ProbeStart] if self.cls is Probe else []

    @hookimpl
    def vrx_deriver(self, context: ReplayContext) -> Deriver:
        return self.cls()


def test_one_file_for_different_kinds_of_run_is_fine(tmp_path: Path) -> None:
    """Two plugins may both write metrics.json, each for its own kind of run."""
    ps = make_plugins(Plugin(Probe), Plugin(LossMetrics), names=["probe", "loss"])
    probe_run = write_log(tmp_path / "probe", [ProbeStart(device="gpu0")], plugins=ps)
    loss_run = write_log(tmp_path / "loss", [Metric("loss", 0.5, 1)], plugins=ps)
    assert replay(probe_run, ps).files == {"metrics.json": "probe", "probe.txt": "probe"}
    assert replay(loss_run, ps).files == {"metrics.json": "loss"}
    assert json.loads((loss_run / "metrics.json").read_text()) == {"loss": 0.5}


def test_two_plugins_claiming_one_file_for_a_run_write_nothing(tmp_path: Path) -> None:
    """A run both plugins claim: OutputConflict names the file and both plugins; no file is written."""
    ps = make_plugins(Plugin(Probe), Plugin(LossMetrics), names=["probe", "loss"])
    run = write_log(tmp_path / "run", [ProbeStart(device="gpu0"), Metric("loss", 0.5, 1)], plugins=ps)
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(OutputConflict) as err:
        replay(run, ps)
    msg = str(err.value)
    assert "'loss'" in msg and "'probe'" in msg and "metrics.json" in msg
    assert err.value.clashes == [("metrics.json", "loss", "probe")]
    assert int(err.value.exit_code) == 70
    assert sorted(p.name for p in run.iterdir()) == before  # not even derived.json
    out = tmp_path / "out"
    with pytest.raises(OutputConflict):
        replay(run, ps, out_dir=out)
    assert list(out.iterdir()) == []
    with pytest.raises(OutputConflict):
        check(run, ps)


def test_the_cli_reports_a_clash_in_one_line(cli, tmp_path: Path) -> None:
    """`vrx replay` exits 70 with a message naming both plugins (loose plugin files)."""
    pdir = tmp_path / "plugins"
    pdir.mkdir()
    for name in ("first", "second"):
        (pdir / f"{name}.py").write_text(
            "from vrx_core import hookimpl\n"
            "from vrx_core.hooks.api import Deriver\n"
            "class D(Deriver):\n"
            "    outputs = frozenset({'same.json'})\n"
            "    def finish(self, out):\n"
            "        out.write_json('same.json', {})\n"
            "@hookimpl\n"
            "def vrx_deriver(context):\n"
            "    return D()\n"
        )
    run = write_log(tmp_path / "run", [Metric("m", 1.0, 1)])
    r = cli("replay", str(run), "--plugins-dir", str(pdir))
    assert r.code == 70
    assert "'first' and 'second' would both write same.json" in r.err
    assert not (run / "same.json").exists() and not (run / "derived.json").exists()


def test_writing_an_undeclared_file_fails_that_plugin(tmp_path: Path) -> None:
    """The failure names the plugin and the file; none of its files are written, the others' are."""
    ps = make_plugins(Plugin(Sneaky), Plugin(LossMetrics), names=["sneaky", "loss"])
    run = write_log(tmp_path / "run", [Metric("loss", 0.5, 1)], plugins=ps)
    result = replay(run, ps)
    assert [(f.plugin, f.hook) for f in result.failures] == [("sneaky", "finish")]
    rendered = result.failures[0].render()
    assert "'sneaky'" in rendered and "'undeclared.json'" in rendered and "did not declare" in rendered
    assert not (run / "declared.json").exists() and not (run / "undeclared.json").exists()
    assert result.files == {"metrics.json": "loss"}
    assert int(result.exit_code) == 70


def test_files_put_in_out_files_directly_are_checked_too(tmp_path: Path) -> None:
    class Direct(Deriver):
        def finish(self, out: DerivedFiles) -> None:
            out.files["direct.json"] = b"{}\n"

    ps = make_plugins(Plugin(Direct), names=["direct"])
    run = write_log(tmp_path / "run", [Metric("m", 1.0, 1)])
    result = replay(run, ps)
    assert "'direct.json', which it did not declare" in result.failures[0].render()
    assert not (run / "direct.json").exists()


@pytest.mark.parametrize("name", ["events.jsonl", "derived.json", "writer.lock", "events.jsonl.torn-12"])
def test_a_plugin_cannot_claim_the_cores_files(tmp_path: Path, name: str) -> None:
    class Greedy(Deriver):
        outputs = frozenset({name})

        def finish(self, out: DerivedFiles) -> None:
            out.write_bytes(name, b"oops")

    ps = make_plugins(Plugin(Greedy), names=["greedy"])
    run = write_log(tmp_path / "run", [Log(msg="x")])
    log = (run / "events.jsonl").read_bytes()
    result = replay(run, ps)
    assert [(f.plugin, f.hook) for f in result.failures] == [("greedy", "run_outputs")]
    assert "is a file vrx keeps for itself" in result.failures[0].message
    assert (run / "events.jsonl").read_bytes() == log


def test_a_raising_run_outputs_fails_only_that_plugin(tmp_path: Path) -> None:
    class Unsure(Deriver):
        def run_outputs(self) -> Set[str]:
            raise RuntimeError("cannot tell")

    ps = make_plugins(Plugin(Unsure), Plugin(LossMetrics), names=["unsure", "loss"])
    run = write_log(tmp_path / "run", [Metric("loss", 0.5, 1)], plugins=ps)
    result = replay(run, ps)
    assert [f.render() for f in result.failures] == [
        "plugin 'unsure' failed in run_outputs: RuntimeError: cannot tell"
    ]
    assert result.files == {"metrics.json": "loss"}


def test_a_declared_file_need_not_be_written(tmp_path: Path) -> None:
    """outputs says what a deriver may write; finish may leave some out."""

    class Quiet(Deriver):
        outputs = frozenset({"maybe.json"})

    ps = make_plugins(Plugin(Quiet), names=["quiet"])
    run = write_log(tmp_path / "run", [Metric("m", 1.0, 1)])
    result = replay(run, ps)
    assert result.failures == [] and result.files == {}


def test_derived_files_built_by_hand_allow_any_path(tmp_path: Path) -> None:
    out = DerivedFiles(plugin="p", out_dir=tmp_path)
    out.write_json("a.json", {})
    assert out.files == {"a.json": b"{}\n"}
    strict = DerivedFiles(plugin="p", out_dir=tmp_path, declared=frozenset({"a.json"}))
    with pytest.raises(ValueError, match=r"'p' wrote 'b\.json', which it did not declare"):
        strict.write_json("b.json", {})
