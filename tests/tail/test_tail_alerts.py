"""Alerts come from the ``vrx_alert_rules`` hook: the core's NaN/OOM/error/stall rules are one
implementation; a plugin's rules flag its own events; all of them reach the stream and the CLI."""

from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _tail_harness import append, fake_lock, finished_log, json_lines, tail

from vrx_core.events import AnyEvent, Event, Log, Metric, UnknownEvent
from vrx_core.follow.alerts import AlertTable
from vrx_core.follow.core_alerts import CoreAlertRules
from vrx_core.follow.follower import Follower, Notice, follow
from vrx_core.hooks.api import Alert, AlertRules
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

ALERTS_DIR = Path(__file__).resolve().parent / "tail_plugins_alerts"


def _plugins(*names: str) -> PluginSet:
    return PluginSet.load(Selection(dirs=[ALERTS_DIR], only=set(names)), entry_points=False)


@functools.cache
def _with_kinds() -> PluginSet:
    """The plugins that register kinds, loaded once: a reload would define their classes again,
    and the recorder's process-wide registry refuses a second class for a tag."""
    return _plugins("tail_oom_kind", "tail_alerting")


def _kind(plugins: PluginSet, plugin: str, cls: str) -> Any:
    return getattr(plugins.pm.get_plugin(plugin), cls)


def _notices(run: Path, plugins: PluginSet | None = None) -> list[Notice]:
    items = follow(run, plugins=plugins, notices=True, timeout=20, dead_after_s=5)
    return [i for i in items if isinstance(i, Notice)]


def test_a_typed_oom_kind_of_a_plugin_alerts(tmp_path: Path) -> None:
    """A plugin registers ``gpu.oom`` as a typed kind (no alert rules of its own): the core's OOM
    rule flags it, typed or, without the plugin, unknown."""
    plugins = _with_kinds()
    gpu_oom = _kind(plugins, "tail_oom_kind", "GpuOom")
    run = tmp_path / "run"
    with Recorder(run) as rec:
        rec.emit(Metric(name="loss", value=1.0))
        seq = rec.emit(gpu_oom(device=3, requested_bytes=1 << 30))
    typed = [i for i in follow(run, plugins=plugins, timeout=20) if getattr(i, "seq", None) == seq]
    assert type(typed[0]).__name__ == "GpuOom"
    for with_plugin in (plugins, None):
        ooms = [n for n in _notices(run, with_plugin) if n.kind == "oom"]
        assert len(ooms) == 1, with_plugin
        assert ooms[0].seq == seq and ooms[0].level == "warning" and ooms[0].plugin is None
        assert ooms[0].message == 'gpu.oom: {"device":3,"requested_bytes":1073741824}'


def test_a_plugin_flags_its_own_event(tmp_path: Path) -> None:
    """A plugin's rules see only the kinds they consume and raise their own alert kind, named
    after the plugin; the core's alerts still come."""
    plugins = _with_kinds()
    temperature = _kind(plugins, "tail_alerting", "Temperature")
    run = tmp_path / "run"
    with Recorder(run) as rec:
        rec.emit(temperature(celsius=60.0))
        hot = rec.emit(temperature(celsius=95.5))
        nan = rec.emit(Metric(name="loss", value=float("nan"), step=7))
    notices = _notices(run, plugins)
    assert not [n for n in notices if n.kind == "plugin_failed"], notices
    (overheat,) = [n for n in notices if n.kind == "tail.overheat"]
    assert overheat == Notice("tail.overheat", "GPU at 95.5 C", hot, "warning", "tail_alerting")
    assert overheat.to_json()["plugin"] == "tail_alerting"
    (core,) = [n for n in notices if n.kind == "nan"]
    assert core.seq == nan and "plugin" not in core.to_json()


def test_failing_alert_rules_are_dropped_and_reported(tmp_path: Path) -> None:
    """Rules that raise: one plugin_failed notice naming plugin, hook and seq; every event is
    still yielded and the core's rules go on."""
    run = tmp_path / "run"
    with Recorder(run) as rec:
        for i in range(10):
            rec.emit(Metric(name="m", value=float(i) if i != 8 else float("inf"), step=i))
    items = list(follow(run, plugins=_plugins("tail_alert_boom"), notices=True, timeout=20, dead_after_s=5))
    failed = [i for i in items if isinstance(i, Notice) and i.kind == "plugin_failed"]
    assert len(failed) == 1
    assert "plugin 'tail_alert_boom' failed in on_event at seq 5: RuntimeError: boom" in failed[0].message
    events = [i for i in items if not isinstance(i, Notice)]
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.step for e in events if isinstance(e, Metric)] == list(range(10))
    assert [i.message for i in items if isinstance(i, Notice) and i.kind == "nan"] == [
        "metric m is Infinity at step 8"
    ]


def test_cli_shows_plugin_alerts(tmp_path: Path) -> None:
    """`vrx tail --json` prints a plugin's alert as a notice with its plugin; the plain output
    names the plugin; the quiet-spell rule fires once while the writer is alive."""
    temperature = _kind(_with_kinds(), "tail_alerting", "Temperature")
    run = tmp_path / "run"
    with Recorder(run) as rec:
        rec.emit(temperature(celsius=99.0))
    env = {"VRX_LOAD_PLUGINS": "tail_alerting"}
    t = tail(run, "--json", "--plugins-dir", str(ALERTS_DIR), env=env)
    assert t.wait() == 0, t.stderr
    notices = [o for o in json_lines(t.seen) if o["kind"] == "notice" and o["notice"] == "tail.overheat"]
    assert notices == [
        {
            "kind": "notice",
            "notice": "tail.overheat",
            "level": "warning",
            "seq": 1,
            "message": "GPU at 99 C",
            "plugin": "tail_alerting",
        }
    ]
    plain = tail(run, "--plain", "--plugins-dir", str(ALERTS_DIR), env=env)
    assert plain.wait() == 0, plain.stderr
    assert "! tail.overheat (tail_alerting): GPU at 99 C\n" in plain.seen


def test_core_rules_fire_once_per_condition() -> None:
    """NaN once per metric until finite again; a stall once per quiet spell, re-armed by on_idle(0)."""
    rules = CoreAlertRules(stall_after_s=2.0)
    nan = Metric(name="a", value=float("nan"), step=1, seq=1)
    assert [a.kind for a in rules.on_event(nan)] == ["nan"]
    assert rules.on_event(nan) == []
    assert rules.on_event(Metric(name="a", value=1.0, seq=2)) == []
    assert [a.kind for a in rules.on_event(nan)] == ["nan"]
    assert rules.on_idle(1.0) == []
    assert [a.kind for a in rules.on_idle(2.5)] == ["stall"]
    assert rules.on_idle(3.0) == []
    assert rules.on_idle(0.0) == []  # events resumed
    assert [a.message for a in rules.on_idle(61.0)] == [
        "no event for 61 s while the writer's heartbeat is alive"
    ]
    assert [a.kind for a in rules.on_event(Log(level="CRITICAL", msg="x", seq=3))] == ["error"]
    assert [a.kind for a in rules.on_event(Log(msg="CUDA out of memory", seq=4))] == ["oom"]


class _Counting(AlertRules):
    consumes = frozenset({Metric, "x.thing"})

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.got: list[int] = []

    def wants(self, tag: str, cls: type[Event] | None) -> bool:
        self.asked.append(tag)
        return super().wants(tag, cls)

    def on_event(self, event: AnyEvent) -> list[Alert]:
        self.got.append(event.seq)
        return [Alert("x.seen", "seen")] if event.seq == 2 else []


def test_the_table_asks_once_per_kind_and_dispatches_by_consumes() -> None:
    """The dispatch table is built per kind, once: per event only a lookup and the wanted calls."""
    rules = _Counting()
    table = AlertTable([("counting", rules)])
    events: list[AnyEvent] = [
        Metric(name="a", value=1.0, seq=0),
        Log(msg="hi", seq=1),
        Metric(name="a", value=2.0, seq=2),
        UnknownEvent(seq=3, t=0.0, type="x.thing", v=1, data={}),
        UnknownEvent(seq=4, t=0.0, type="x.other", v=1, data={}),
        UnknownEvent(seq=5, t=0.0, type="x.thing", v=1, data={}),
        Log(msg="again", seq=6),
    ]
    out = [n for ev in events for n in table.on_event(ev)]
    assert rules.asked == ["metric", "log", "x.thing", "x.other"]
    assert rules.got == [0, 2, 3, 5]
    assert out == [Notice("x.seen", "seen", 2, "warning", "counting")]


@pytest.mark.parametrize("bad", [42, [Alert("k", "m"), "not an alert"]])
def test_rules_returning_garbage_are_dropped(bad: Any) -> None:
    class Bad(AlertRules):
        def on_event(self, event: AnyEvent) -> Any:
            return bad

    table = AlertTable([("bad", Bad())])
    (failed,) = table.on_event(Metric(name="a", value=1.0, seq=0))
    assert failed.kind == "plugin_failed" and "'bad' failed in on_event at seq 0" in failed.message
    assert table.on_event(Metric(name="a", value=1.0, seq=1)) == []


def test_idle_rules_run_while_the_writer_is_alive(tmp_path: Path) -> None:
    """A quiet run whose heartbeat goes on: the core's stall and a plugin's quiet rule fire once;
    an event ends the spell with an `active` notice."""
    lines = finished_log(tmp_path, 12)
    run = tmp_path / "run"
    lock = fake_lock(run)
    append(run / LOG_NAME, b"".join(lines[:5]))
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(0.05):
            os.utime(lock)

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        with Follower(run, plugins=_with_kinds(), stall_after_s=0.6, check_s=0.05) as f:
            notices: list[Notice] = []
            deadline = time.monotonic() + 20
            while not {"stall", "tail.quiet"} <= {n.kind for n in notices} and time.monotonic() < deadline:
                notices += [i for i in f.read(timeout=0.2) if isinstance(i, Notice)]
            f.read(timeout=0.3)
            append(run / LOG_NAME, lines[5])
            later = [i for i in f.read(timeout=5) if isinstance(i, Notice)]
    finally:
        stop.set()
        beat.join()
    kinds = [n.kind for n in notices]
    assert kinds.count("stall") == 1 and kinds.count("tail.quiet") == 1
    (quiet,) = [n for n in notices if n.kind == "tail.quiet"]
    assert quiet.plugin == "tail_alerting" and quiet.level == "info" and quiet.seq == 4
    assert [n.kind for n in later] == ["active"]


def test_consumes_matches_like_a_derivers() -> None:
    """Classes match their subclasses too, UnknownEvent every unregistered kind, a tag its kind."""

    class SubMetric(Metric, frozen=True, tag="x.sub_metric"):
        pass

    class ByClass(AlertRules):
        consumes = frozenset({Metric, UnknownEvent})

    class ByTag(AlertRules):
        consumes = frozenset({"x.sub_metric"})

    assert ByClass().wants("x.sub_metric", SubMetric) and ByClass().wants("x.new", None)
    assert not ByClass().wants("log", Log)
    assert ByTag().wants("x.sub_metric", SubMetric) and ByTag().wants("x.sub_metric", None)
    assert not ByTag().wants("metric", Metric) and not ByTag().wants("x.new", None)
    assert AlertRules().wants("anything", None)
