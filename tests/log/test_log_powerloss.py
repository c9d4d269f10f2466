"""Power loss, modelled in pure Python (RELIABILITY §6.3, the SQLite crash-VFS idea).

After a power cut an append-only file holds its durable prefix ``[0, D)`` (D = the size at the
last completed fsync), then, for each later page of what had been written, independently either
the written bytes, zeros (size extended, data never written) or nothing (the file ends there).
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from _log_harness import RecordingFS, assert_verdict, line_spans, read_all, sample_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrx_core.engine.verify import verify_log
from vrx_core.errors import CorruptLog
from vrx_core.events import AnyEvent, Log, Metric
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

Trace = list[tuple[str, int]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Trace, list[AnyEvent]]:
    """A ~30 KB log spanning several pages, with the writer's trace of writes and fsyncs."""
    run = tmp_path_factory.mktemp("pl")
    fs = RecordingFS()
    rec = Recorder(run, fsync_every_n=6, fs=fs)
    events = sample_events(90, big_every=11, big_size=1500)
    for i, ev in enumerate(events):
        rec.emit(ev)
        if i % 29 == 28:
            rec.sync()
    rec.emit(Log(msg="tail"))
    rec.close()
    data = (run / LOG_NAME).read_bytes()
    read, report = read_all(run / LOG_NAME, mode="strict")
    assert report.complete and len(data) > 6 * 4096
    return data, fs.trace, read


@st.composite
def power_cut(draw: st.DrawFn, data: bytes, trace: Trace) -> tuple[bytes, int, int]:
    """(file after the cut, durable offset D, offset of the first damaged byte)."""
    first_fsync = next(i for i, (op, _) in enumerate(trace) if op == "fsync")
    # The Recorder returns from its constructor only after that first fsync; before it, nothing
    # was promised (and line 1 is assumed durable by the reader).
    at = draw(st.integers(first_fsync, len(trace) - 1))
    written = max((n for op, n in trace[: at + 1] if op == "write"), default=0)
    durable = max(n for op, n in trace[: at + 1] if op == "fsync")
    page = draw(st.sampled_from([512, 4096]))
    bounds = [durable, *range((durable // page + 1) * page, written, page), written]
    out = bytearray(data[:durable])
    damaged = written
    for a, b in itertools.pairwise(bounds):
        if a >= b:
            continue
        fate = draw(st.sampled_from(["keep", "keep", "zero", "drop"]))
        if fate == "drop":
            damaged = min(damaged, a)
            break
        if fate == "zero":
            damaged = min(damaged, a)
            out += b"\x00" * (b - a)
        else:
            out += data[a:b]
    return bytes(out), durable, damaged


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(st.data())
def test_log_power_loss_keeps_the_durable_prefix_and_never_errors(
    recorded: tuple[bytes, Trace, list[AnyEvent]], data: st.DataObject
) -> None:
    """After any simulated power cut: the recover reader never raises, returns every record that
    lies fully inside the durable prefix, and returns exactly the records before the first damaged
    byte (point in time, nothing after a hole); verify never says CORRUPT; a resumed writer
    continues from there and closes to a log that verifies OK."""
    original, trace, events = recorded
    after, durable, damaged = data.draw(power_cut(original, trace))

    ends = [e for _, e in line_spans(original)]
    intact = sum(1 for e in ends if e <= damaged)
    assert sum(1 for e in ends if e <= durable) <= intact
    with tempfile.TemporaryDirectory() as d:
        run = Path(d)
        (run / LOG_NAME).write_bytes(after)
        got, report = read_all(run / LOG_NAME)
        assert got == events[:intact]
        assert not report.problems
        verdict = verify_log(run)
        assert verdict.status in ("OK", "INCOMPLETE"), verdict.lines()
        assert (verdict.status == "OK") == (after == original)
        with Recorder(run, resume="allow") as rec:  # the surviving prefix may hold the run_end
            rec.emit(Metric(name="after_power_loss", value=1.0))
        resumed, _ = read_all(run / LOG_NAME, mode="strict")
        assert resumed[:intact] == events[:intact]
        assert_verdict(run, "OK")


def test_log_damage_inside_the_durable_prefix_is_corruption(
    recorded: tuple[bytes, Trace, list[AnyEvent]], tmp_path: Path
) -> None:
    """The counterpart: zeroing a page that a later sync line declares durable is not a power
    loss the writer could have caused, so recover raises CorruptLog and verify says CORRUPT."""
    original, _, _ = recorded
    page = 4096 * 2
    after = original[:page] + b"\x00" * 4096 + original[page + 4096 :]
    (tmp_path / LOG_NAME).write_bytes(after)
    line = original.count(b"\n", 0, page) + 1
    verdict = assert_verdict(tmp_path, "CORRUPT")
    assert verdict.corrupt[0].line == line
    with pytest.raises(CorruptLog) as info:
        read_all(tmp_path / LOG_NAME)
    assert info.value.line == line
