"""Typed subscriptions: @handles(EventClass) methods, tag strings for unknown kinds, on_event + consumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vrx_core import hookimpl
from vrx_core.engine import dispatch
from vrx_core.engine.replay import Replayer, replay
from vrx_core.events import AnyEvent, Event, Log, Metric, Params, UnknownEvent, core_registry
from vrx_core.hooks.api import Deriver, ReplayContext, consumed_kinds, handles
from vrx_core.log.writer import Recorder
from vrx_core.testing import make_plugins, write_log


class Extra(Event, frozen=True, kw_only=True, tag="test.extra"):
    x: int


class SubMetric(Metric, frozen=True, tag="test.sub_metric"):
    pass


class Typed(Deriver):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @handles(Metric)
    def on_metric(self, event: Metric) -> None:
        self.seen.append(("metric", event.name))

    @handles(Params, Log)
    def on_params_or_log(self, event: Params | Log) -> None:
        self.seen.append(("params|log", type(event).__name__))

    @handles("test.extra")
    def on_extra_tag(self, event: AnyEvent) -> None:
        self.seen.append(("tag", type(event).__name__))

    @handles(UnknownEvent)
    def on_unknown(self, event: UnknownEvent) -> None:
        self.seen.append(("unknown", event.type))


def _feed(derivers: list[tuple[str, Deriver]], events: list[AnyEvent]) -> Replayer:
    r = Replayer(derivers)
    r.feed(events)
    return r


def _unknown(tag: str, seq: int) -> UnknownEvent:
    return UnknownEvent(seq=seq, t=0.0, type=tag, v=1, data={})


def test_handlers_receive_their_classes_only() -> None:
    """Each handler gets the classes it names; a tag matches typed and unknown events of that kind."""
    d = Typed()
    _feed(
        [("typed", d)],
        [
            Metric("loss", 1.0, 1, seq=1),
            Params(values={}, seq=2),
            Log(msg="hi", seq=3),
            Extra(x=1, seq=4),
            _unknown("test.extra", 5),
            _unknown("other.kind", 6),
        ],
    )
    assert d.seen == [
        ("metric", "loss"),
        ("params|log", "Params"),
        ("params|log", "Log"),
        ("tag", "Extra"),
        ("tag", "UnknownEvent"),
        ("unknown", "test.extra"),
        ("unknown", "other.kind"),
    ]


def test_a_class_subscription_takes_subclasses() -> None:
    """@handles(Metric) receives a kind derived from Metric: it is a Metric, as the handler expects."""
    d = Typed()
    _feed([("typed", d)], [SubMetric("acc", 0.5, 1, seq=1)])
    assert d.seen == [("metric", "acc")]


def test_consumes_none_on_event_takes_everything_and_classes_or_tags_select() -> None:
    """The untyped path stays: on_event with consumes None (all), or classes and/or tags."""

    class All(Deriver):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_event(self, event: AnyEvent) -> None:
            self.seen.append(type(event).__name__)

    class Some(All):
        consumes = frozenset({Params, "test.extra"})

    events: list[AnyEvent] = [Metric("m", 1.0, 1, seq=1), Params(values={}, seq=2), _unknown("test.extra", 3)]
    a, s = All(), Some()
    _feed([("all", a), ("some", s)], events)
    assert a.seen == ["Metric", "Params", "UnknownEvent"]
    assert s.seen == ["Params", "UnknownEvent"]


def test_handlers_and_on_event_together_each_called_once() -> None:
    """A deriver may have typed handlers and an on_event; a handler matching twice is called once."""

    class Both(Deriver):
        consumes = frozenset({Metric})

        def __init__(self) -> None:
            self.seen: list[str] = []

        @handles(Metric, "metric")
        def on_metric(self, event: AnyEvent) -> None:
            self.seen.append("handler")

        def on_event(self, event: AnyEvent) -> None:
            self.seen.append("on_event")

    d = Both()
    _feed([("both", d)], [Metric("m", 1.0, 1, seq=1)])
    assert d.seen == ["handler", "on_event"]


def test_an_override_keeps_the_subscription() -> None:
    """A subclass overriding a handler without the decorator still receives the same kinds."""

    class Louder(Typed):
        def on_metric(self, event: Metric) -> None:
            self.seen.append(("louder", event.name))

    d = Louder()
    _feed([("louder", d)], [Metric("loss", 1.0, 1, seq=1)])
    assert d.seen == [("louder", "loss")]
    assert [name for name, _ in Louder.__vrx_handlers__] == [
        "on_metric",
        "on_params_or_log",
        "on_extra_tag",
        "on_unknown",
    ]


def test_the_table_is_built_once_per_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Routes are computed the first time a kind is seen, not per event."""
    calls: list[str] = []
    real = dispatch.routes

    def counting(name: str, d: Deriver, tag: str, cls: type[Event] | None) -> Any:
        calls.append(tag)
        return real(name, d, tag, cls)

    monkeypatch.setattr(dispatch, "routes", counting)
    events: list[AnyEvent] = [Metric("m", float(i), i, seq=i) for i in range(100)]
    events += [_unknown("x.y", 100 + i) for i in range(10)]
    r = _feed([("a", Typed()), ("b", Typed())], events)
    assert sorted(calls) == ["metric", "metric", "x.y", "x.y"]
    assert r.events == 110


def test_kinds_lists_what_a_deriver_receives() -> None:
    """What `vrx plugins` shows: tags (class names for untagged classes), None for everything."""

    class All(Deriver):
        def on_event(self, event: AnyEvent) -> None:
            pass

    assert consumed_kinds(Typed) == ["UnknownEvent", "log", "metric", "params", "test.extra"]
    assert consumed_kinds(All) is None
    assert consumed_kinds(Deriver) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"consumes": frozenset({Metric})}, "only routes events to on_event"),
        ({"consumes": frozenset({int})}, "is not an event class"),
        ({"consumes": frozenset({""})}, "is not an event class"),
        ({"outputs": frozenset({"../x.json"})}, "plain relative path"),
        ({"outputs": frozenset({"/abs.json"})}, "plain relative path"),
    ],
)
def test_bad_declarations_fail_when_the_class_is_defined(body: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        type("Bad", (Deriver,), body)


def test_handles_needs_event_classes_or_tags() -> None:
    with pytest.raises(TypeError, match="at least one"):
        handles()
    with pytest.raises(TypeError, match="is not an event class"):
        handles(dict)  # type: ignore[call-overload]


def test_typed_handlers_in_a_real_replay(tmp_path: Path) -> None:
    """A plugin's own kind and a kind nobody registers, through the reader and the engine."""
    reg = core_registry()
    reg.register(Extra)
    with Recorder(tmp_path / "run", registry=reg) as rec:
        rec.emit(Extra(x=1))
        rec.emit(Metric("loss", 0.5, 1))
    d = Typed()

    class P:
        @hookimpl
        def vrx_deriver(self, context: ReplayContext) -> Deriver:
            return d

    result = replay(tmp_path / "run", make_plugins(P(), names=["p"]))
    assert result.exit_code == 0
    assert d.seen == [("tag", "UnknownEvent"), ("unknown", "test.extra"), ("metric", "loss")]


def test_a_failing_handler_is_reported_as_on_event(tmp_path: Path) -> None:
    """Whatever the handler's name, the failure reads `failed in on_event at seq N`."""

    class Bad(Deriver):
        @handles(Metric)
        def on_metric(self, event: Metric) -> None:
            raise ValueError("no")

    class P:
        @hookimpl
        def vrx_deriver(self, context: ReplayContext) -> Deriver:
            return Bad()

    run = write_log(tmp_path / "run", [Metric("m", 1.0, 1)])
    result = replay(run, make_plugins(P(), names=["bad"]))
    rendered = [f.render() for f in result.failures]
    assert rendered == ["plugin 'bad' failed in on_event at seq 1: ValueError: no"]
