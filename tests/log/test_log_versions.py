"""Kinds and formats this reader does not know (RELIABILITY §4 rows 15-16)."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest
from _log_harness import assert_verdict, read_all, seqs, tag_of

import vrx_core.log.writer
from vrx_core.engine.verify import verify_log
from vrx_core.errors import CorruptLog, ExitCode, InvalidEvent, NewerFormat
from vrx_core.events import (
    Event,
    EventRegistry,
    Metric,
    Resumed,
    RunEnd,
    RunStart,
    Sync,
    UnknownEvent,
    core_registry,
)
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder


class GpuUtil(Event, frozen=True, kw_only=True, tag="gpu.util"):
    """A kind from a plugin that the reading side does not have installed."""

    device: int
    util: float
    labels: dict[str, str] = msgspec.field(default_factory=dict)


def test_log_unknown_kinds_are_kept_and_counted(tmp_path: Path) -> None:
    """Lines of a kind the reader's registry lacks come back as UnknownEvent with their fields,
    in every mode, are counted per kind in report.unknown, do not make verify fail (a note is
    printed), and survive a resume by a writer that does not know the kind either."""
    reg = core_registry()
    reg.register(GpuUtil)
    with Recorder(tmp_path, registry=reg) as rec:
        rec.emit(Metric(name="loss", value=1.0))
        rec.emit(GpuUtil(device=0, util=0.75, labels={"host": "n1"}))
        rec.emit(GpuUtil(device=1, util=math.inf))
    before = (tmp_path / LOG_NAME).read_bytes()
    for mode in ("strict", "recover", "salvage"):
        events, report = read_all(tmp_path / LOG_NAME, mode=mode)
        unknown = [e for e in events if isinstance(e, UnknownEvent)]
        assert report.unknown == {"gpu.util": 2}
        assert [(u.type, u.v, u.data) for u in unknown] == [
            ("gpu.util", 1, {"device": 0, "util": 0.75, "labels": {"host": "n1"}}),
            ("gpu.util", 1, {"device": 1, "util": "Infinity"}),
        ]
        assert report.complete and not report.problems
    verdict = assert_verdict(tmp_path, "OK")
    assert any("unknown kind 'gpu.util'" in line for line in verdict.lines())
    assert verdict.to_json()["unknown_kinds"] == {"gpu.util": 2}
    with Recorder(tmp_path, resume="allow") as rec:  # the default registry: no gpu.util
        rec.emit(Metric(name="loss", value=0.5))
    assert (tmp_path / LOG_NAME).read_bytes().startswith(before)
    events, report = read_all(tmp_path / LOG_NAME, mode="strict")
    assert report.unknown == {"gpu.util": 2} and seqs(events) == list(range(len(events)))
    # The typed kind comes back when the registry knows it again.
    typed = [e for e in read_all(tmp_path / LOG_NAME, registry=reg)[0] if isinstance(e, GpuUtil)]
    assert typed[0] == GpuUtil(device=0, util=0.75, labels={"host": "n1"}, seq=typed[0].seq, t=typed[0].t)
    assert typed[1].util == math.inf


def test_log_unknown_events_cannot_be_re_emitted(tmp_path: Path) -> None:
    """An UnknownEvent read from a log cannot be written back (its schema is unknown here)."""
    reg = core_registry()
    reg.register(GpuUtil)
    with Recorder(tmp_path / "a", registry=reg) as rec:
        rec.emit(GpuUtil(device=0, util=0.5))
    (unknown,) = [e for e in read_all(tmp_path / "a" / LOG_NAME)[0] if isinstance(e, UnknownEvent)]
    with Recorder(tmp_path / "b") as rec, pytest.raises(InvalidEvent, match=r"unknown kind 'gpu\.util'"):
        rec.emit(unknown)  # type: ignore[arg-type]


class MetricV2(Event, frozen=True, kw_only=True, tag="metric"):
    """A newer writer's metric (v2) with an added optional field."""

    __vrx_version__ = 2
    name: str
    value: float
    step: int | None = None
    unit: str = ""


class MetricV2Breaking(Event, frozen=True, kw_only=True, tag="metric"):
    """A newer writer's metric whose value changed type: this reader cannot decode it."""

    __vrx_version__ = 2
    name: str
    value: str


def _newer_registry(metric: type[Event]) -> EventRegistry:
    return EventRegistry([RunStart, RunEnd, Sync, Resumed, metric])


def test_log_newer_version_of_a_known_kind(tmp_path: Path) -> None:
    """A v2 line of a kind this reader knows at v1 decodes as the known kind when it fits (new
    optional fields dropped) and is kept as UnknownEvent when it does not: never an error."""
    with Recorder(tmp_path / "fits", registry=_newer_registry(MetricV2)) as rec:
        rec.emit(MetricV2(name="loss", value=0.5, step=1, unit="nats"))
    (m,) = [e for e in read_all(tmp_path / "fits" / LOG_NAME, mode="strict")[0] if tag_of(e) == "metric"]
    assert isinstance(m, Metric) and (m.name, m.value, m.step) == ("loss", 0.5, 1)
    with Recorder(tmp_path / "breaks", registry=_newer_registry(MetricV2Breaking)) as rec:
        rec.emit(MetricV2Breaking(name="loss", value="high"))
    events, report = read_all(tmp_path / "breaks" / LOG_NAME, mode="strict")
    (u,) = [e for e in events if tag_of(e) == "metric"]
    assert isinstance(u, UnknownEvent) and u.v == 2 and u.data == {"name": "loss", "value": "high"}
    assert report.unknown == {"metric": 1}
    assert_verdict(tmp_path / "breaks", "OK")


def test_log_older_version_without_upcaster_is_reported(tmp_path: Path) -> None:
    """Reading v1 metric lines with a registry whose metric is v2 applies the upcaster chain; a
    missing upcaster is a CorruptLog of kind ``upcast`` naming the step, not a raw LookupError."""
    with Recorder(tmp_path) as rec:
        rec.emit(Metric(name="loss", value=0.5))
    reg = _newer_registry(MetricV2)
    with pytest.raises(CorruptLog, match="no upcaster for 'metric' from v1 to v2"):
        read_all(tmp_path / LOG_NAME, mode="strict", registry=reg)
    reg.add_upcaster("metric", 1, lambda d: {**d, "unit": "legacy"})
    (m,) = [e for e in read_all(tmp_path / LOG_NAME, mode="strict", registry=reg)[0] if tag_of(e) == "metric"]
    assert isinstance(m, MetricV2) and m.unit == "legacy" and m.value == 0.5


def test_log_newer_major_format_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log whose run_start says format_major 2 is refused by every reader mode, by verify and
    by a resuming writer with NewerFormat (exit 78), which names the format; nothing is changed."""
    monkeypatch.setattr(vrx_core.log.writer, "FORMAT_MAJOR", 2)
    with Recorder(tmp_path, fsync_every_n=2) as rec:
        for i in range(5):
            rec.emit(Metric(name="m", value=float(i)))
    monkeypatch.undo()
    before = (tmp_path / LOG_NAME).read_bytes()
    assert b'"format_major":2' in before
    for call in (
        lambda: read_all(tmp_path / LOG_NAME, mode="strict"),
        lambda: read_all(tmp_path / LOG_NAME, mode="recover"),
        lambda: read_all(tmp_path / LOG_NAME, mode="salvage"),
        lambda: verify_log(tmp_path),
        lambda: Recorder(tmp_path),
    ):
        with pytest.raises(NewerFormat) as info:
            call()
        assert info.value.exit_code == ExitCode.CONFIG == 78
        assert "2.0" in str(info.value) and info.value.line == 1
    assert (tmp_path / LOG_NAME).read_bytes() == before
    assert not (tmp_path / "writer.lock").exists()


def test_log_newer_minor_format_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer minor format (1.7) is read normally: minor versions only add kinds and fields."""
    monkeypatch.setattr(vrx_core.log.writer, "FORMAT_MINOR", 7)
    with Recorder(tmp_path) as rec:
        rec.emit(Metric(name="m", value=1.0))
    monkeypatch.undo()
    _, report = read_all(tmp_path / LOG_NAME, mode="strict")
    assert report.complete and report.run_start is not None and report.run_start.format_minor == 7
    assert_verdict(tmp_path, "OK")
