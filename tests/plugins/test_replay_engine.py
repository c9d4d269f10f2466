"""Replay: dispatch, failures, unknown kinds, provenance, --check drift, corrupt logs, determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from vrx_core import hookimpl
from vrx_core.engine.replay import check, replay
from vrx_core.errors import CorruptLog, PluginError
from vrx_core.events import AnyEvent, Event, EventRegistry, Metric, UnknownEvent, core_registry
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext, handles
from vrx_core.log.writer import Recorder
from vrx_core.testing import make_plugins, write_log


class Counter(Deriver):
    """Takes every event: ``on_event`` with the default ``consumes = None``."""

    outputs = frozenset({"counts.json"})

    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}

    def on_event(self, event: AnyEvent) -> None:
        tag = event.type if isinstance(event, UnknownEvent) else type(event).__struct_config__.tag
        self.kinds[str(tag)] = self.kinds.get(str(tag), 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return dict(self.kinds)

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("counts.json", self.kinds)


class CountPlugin:
    @hookimpl
    def vrx_deriver(self, context: ReplayContext) -> Deriver:
        return Counter()


class Boom(Deriver):
    outputs = frozenset({"boom.json"})

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        if event.step == 3:
            raise ZeroDivisionError("boom")

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("boom.json", {})


class BoomPlugin:
    @hookimpl
    def vrx_deriver(self, context: ReplayContext) -> Deriver:
        return Boom()


class Extra(Event, frozen=True, kw_only=True, tag="test.extra"):
    x: int


def metrics_run(tmp_path: Path, n: int = 5) -> Path:
    return write_log(tmp_path / "run", [Metric("loss", 1.0 / (i + 1), i) for i in range(n)])


def test_every_event_reaches_consume_all_derivers(tmp_path: Path) -> None:
    """A deriver with consumes=None sees every event, the writer's own kinds included."""
    ps = make_plugins(CountPlugin(), names=["count"])
    run = metrics_run(tmp_path)
    result = replay(run, ps)
    counts = json.loads((run / "counts.json").read_text())
    assert counts == {"run_start": 1, "metric": 5, "sync": 1, "run_end": 1}
    assert result.files == {"counts.json": "count"}
    assert result.exit_code == 0


def test_plugin_failure_is_reported_and_others_still_write(tmp_path: Path) -> None:
    """A raising plugin is named with its hook and seq; the other plugins' files are written."""
    ps = make_plugins(CountPlugin(), BoomPlugin(), names=["count", "boom"])
    run = metrics_run(tmp_path)
    result = replay(run, ps)
    assert [(f.plugin, f.hook, f.seq) for f in result.failures] == [("boom", "on_event", 4)]
    assert "ZeroDivisionError: boom" in result.failures[0].render()
    assert (run / "counts.json").exists() and not (run / "boom.json").exists()
    assert int(result.exit_code) == 70
    prov = json.loads((run / "derived.json").read_text())
    assert prov["failures"][0]["plugin"] == "boom"


def test_unknown_kinds_are_kept_and_reported(tmp_path: Path) -> None:
    """Events of a kind no plugin registers reach consume-all derivers as UnknownEvent, and are counted."""
    reg = core_registry()
    reg.register(Extra)
    with Recorder(tmp_path / "run", registry=reg) as rec:
        rec.emit(Extra(x=1))
        rec.emit(Extra(x=2))
    ps = make_plugins(CountPlugin(), names=["count"])
    result = replay(tmp_path / "run", ps)
    assert json.loads((tmp_path / "run" / "counts.json").read_text())["test.extra"] == 2
    assert result.report.unknown == {"test.extra": 2}
    assert json.loads((tmp_path / "run" / "derived.json").read_text())["log"]["unknown_kinds"] == {
        "test.extra": 2
    }


def test_plugin_registered_kind_decodes_typed(tmp_path: Path) -> None:
    """A kind registered through vrx_event_kinds decodes to its class during replay."""

    seen: list[Any] = []

    class Collect(Deriver):
        @handles(Extra)
        def on_extra(self, event: Extra) -> None:
            seen.append(event)

    class KindsPlugin:
        @hookimpl
        def vrx_event_kinds(self) -> list[type[Event]]:
            return [Extra]

        @hookimpl
        def vrx_deriver(self, context: ReplayContext) -> Deriver:
            return Collect()

    ps = make_plugins(KindsPlugin(), names=["kinds"])
    with Recorder(tmp_path / "run", registry=ps.registry) as rec:
        rec.emit(Extra(x=7))
    replay(tmp_path / "run", ps)
    assert seen == [Extra(x=7, seq=1, t=seen[0].t)]


def test_misspelled_hook_fails_loudly() -> None:
    """check_pending turns an unknown vrx_ hook into a PluginError naming the plugin."""

    class Typo:
        @hookimpl
        def vrx_derivr(self) -> None:
            return None

    with pytest.raises(PluginError) as err:
        make_plugins(Typo(), names=["typo"])
    assert "typo" in str(err.value) and "vrx_derivr" in str(err.value)


def test_clashing_kind_tags_are_rejected() -> None:
    """Two kinds with one tag cannot both register."""

    class Other(Event, frozen=True, kw_only=True, tag="test.extra"):
        y: int

    reg = EventRegistry([Extra])
    with pytest.raises(TypeError, match="registered twice"):
        reg.register(Other)


def test_corrupt_log_writes_nothing(tmp_path: Path) -> None:
    """A corrupt committed line before the durable point stops replay before any file is written."""
    run = write_log(tmp_path / "run", [Metric("m", float(i), i) for i in range(3)])
    raw = (run / "events.jsonl").read_bytes().replace(b'"value":1.0', b'"value":1.5')
    (run / "events.jsonl").write_bytes(raw)
    ps = make_plugins(CountPlugin(), names=["count"])
    with pytest.raises(CorruptLog) as err:
        replay(run, ps)
    assert err.value.line == 3
    assert not (run / "counts.json").exists() and not (run / "derived.json").exists()


def test_salvage_marks_the_outputs(tmp_path: Path) -> None:
    """--salvage skips damaged lines, lists them in derived.json and marks it salvaged."""
    run = write_log(tmp_path / "run", [Metric("m", float(i), i) for i in range(3)])
    raw = (run / "events.jsonl").read_bytes().replace(b'"value":1.0', b'"value":1.5')
    (run / "events.jsonl").write_bytes(raw)
    result = replay(run, make_plugins(CountPlugin(), names=["count"]), mode="salvage")
    prov = json.loads((run / "derived.json").read_text())
    assert prov["log"]["salvaged"] is True
    assert prov["log"]["skipped_lines"] == [
        {"kind": "crc", "line": 3, "offset": prov["log"]["skipped_lines"][0]["offset"]}
    ]
    assert json.loads((run / "counts.json").read_text())["metric"] == 2
    assert result.report.salvaged


def test_provenance_names_plugin_version_log_hash_and_last_seq(tmp_path: Path) -> None:
    """derived.json records plugin and version per file, and the sha256 and last seq of the log consumed."""
    import hashlib

    run = metrics_run(tmp_path)
    replay(run, make_plugins(CountPlugin(), names=["count"]))
    prov = json.loads((run / "derived.json").read_text())
    assert prov["files"]["counts.json"]["plugin"] == "count"
    assert (
        prov["files"]["counts.json"]["sha256"]
        == hashlib.sha256((run / "counts.json").read_bytes()).hexdigest()
    )
    assert prov["log"]["sha256"] == hashlib.sha256((run / "events.jsonl").read_bytes()).hexdigest()
    assert prov["log"]["last_seq"] == 7 and prov["log"]["complete"] is True


def test_check_reports_drift(tmp_path: Path) -> None:
    """replay --check finds a derived file edited after the fact, with a diff."""
    run = metrics_run(tmp_path)
    ps = make_plugins(CountPlugin(), names=["count"])
    replay(run, ps)
    assert check(run, ps)[1] == []
    (run / "counts.json").write_text(json.dumps({"metric": 99}))
    drifts = check(run, ps)[1]
    assert [d.path for d in drifts] == ["counts.json"]
    assert any("99" in line for line in drifts[0].diff)


def test_replay_does_not_touch_the_log(tmp_path: Path) -> None:
    """Replay only reads the log: its bytes are unchanged and no lock file is created."""
    run = metrics_run(tmp_path)
    before = (run / "events.jsonl").read_bytes()
    replay(run, make_plugins(CountPlugin(), names=["count"]), out_dir=tmp_path / "elsewhere")
    assert (run / "events.jsonl").read_bytes() == before
    assert not (run / "writer.lock").exists()
    assert msgspec.json.decode((tmp_path / "elsewhere" / "counts.json").read_bytes())["metric"] == 5
