"""Writer/reader round trip and the writer's refusals ("never write what you cannot read").

RELIABILITY §4 rows 12-14: NaN/Inf/-0.0 metric values round-trip exactly, unicode survives, lone
surrogates, non-finite free-form floats, over-deep nesting and over-long lines are refused at
``emit`` time with the field path, and a refused event leaves no byte in the log.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _log_harness import assert_verdict, read_all, seqs, tag_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vrx_core.errors import InvalidEvent, VrxError
from vrx_core.events import (
    CORE_KINDS,
    WRITER_KINDS,
    Artifact,
    Checkpoint,
    Config,
    Environment,
    Event,
    GitInfo,
    Log,
    Metric,
    Params,
    Plan,
    Resumed,
    RunEnd,
    RunLayout,
    RunStart,
    Source,
    Sync,
    TorchInfo,
    WriterInfo,
    registry,
)
from vrx_core.log.framing import MAX_DEPTH, MAX_LINE_BYTES, EventEncoder, frame
from vrx_core.log.reader import LineChecker, ReadReport
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -------------------------------------------------------------------------------

text = st.text(max_size=30)
#: Every float, including NaN, +-Inf, -0.0, subnormals and the extremes.
any_float = st.floats() | st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
json_dicts = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
opt_int = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
opt_text = st.none() | text
sha = st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)

metric = st.builds(Metric, name=text, value=any_float, step=opt_int)
params = st.builds(Params, values=json_dicts)
log = st.builds(
    Log,
    level=st.sampled_from(["debug", "info", "warning", "error"]),
    msg=text,
    logger=opt_text,
    fields=json_dicts,
)
checkpoint = st.builds(Checkpoint, path=text, step=opt_int, size_bytes=opt_int, sha256=sha)
artifact = st.builds(Artifact, path=text, size_bytes=opt_int, sha256=sha, media_type=opt_text)
plan = st.builds(Plan, total=st.integers(0, 2**40), unit=text)
hexdigest = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
source = st.builds(Source, path=text, sha256=hexdigest, size_bytes=st.integers(0, 2**40), text=opt_text)
opt_bool = st.none() | st.booleans()
git = st.builds(
    GitInfo, commit_full=opt_text, branch=opt_text, dirty=opt_bool, message=opt_text, error=opt_text
)
device = st.fixed_dictionaries({"name": opt_text, "total_memory_bytes": opt_int, "capability": opt_text})
torch_info = st.none() | st.builds(
    TorchInfo,
    version=text,
    cuda_version=opt_text,
    cuda_available=st.booleans(),
    devices=st.lists(device, max_size=2),
    errors=st.lists(text, max_size=2),
)
environment = st.builds(
    Environment,
    git=git,
    python=json_dicts,
    host=json_dicts,
    cwd=text,
    packages=st.dictionaries(text, text, max_size=4),
    env_vars=st.dictionaries(text, text, max_size=3),
    torch=torch_info,
)
config = st.builds(Config, composed=json_dicts, resolved=json_dicts, source=opt_text)
layout = st.builds(
    RunLayout,
    style=st.sampled_from(["rvinci", "mgr"]),
    run_id=text,
    project=opt_text,
    kind=opt_text,
    topic=opt_text,
)
user_event = st.one_of(metric, params, log, checkpoint, artifact, plan, source, environment, config, layout)

writer_info = st.builds(
    WriterInfo, host=text, pid=st.integers(0, 2**31), boot_id=text, version=text, epoch=st.integers(0, 99)
)
writer_event = st.one_of(
    st.builds(
        RunStart,
        run_id=text,
        format_major=st.just(1),
        format_minor=st.integers(0, 9),
        writer=writer_info,
        argv=st.lists(text, max_size=3),
        name=opt_text,
    ),
    st.builds(
        RunEnd,
        status=st.sampled_from(["ok", "error", "interrupted"]),
        count=st.integers(0, 2**40),
        bytes_before=st.integers(0, 2**40),
        sha256=text,
        error=opt_text,
    ),
    st.builds(Sync, count=st.integers(0, 2**40), durable_upto=st.integers(0, 2**40), sha256=text),
    st.builds(
        Resumed,
        writer=writer_info,
        truncated_bytes=st.integers(0, 2**40),
        torn_file=opt_text,
        stale_lock=st.none() | json_dicts,
        previous_status=opt_text,
    ),
)


def same(a: Any, b: Any) -> bool:
    """Deep equality where NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, msgspec.Struct):
        return type(a) is type(b) and all(
            same(getattr(a, f), getattr(b, f)) for f in a.__struct_fields__ if f not in ("seq", "t")
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


# -- round trips ------------------------------------------------------------------------------


@FAST
@given(events=st.lists(user_event, min_size=1, max_size=8))
def test_log_every_user_kind_round_trips(events: list[Event]) -> None:
    """Every core kind a user can emit comes back from the strict reader equal to what was
    emitted (NaN as NaN, -0.0 with its sign, any unicode), with dense seq from 0."""
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "run"
        with Recorder(run, fsync_every_n=3) as rec:
            got_seqs = [rec.emit(ev) for ev in events]
        read, report = read_all(run / LOG_NAME, mode="strict")
        assert report.complete and not report.problems
        assert seqs(read) == list(range(len(read)))
        by_seq = {e.seq: e for e in read}
        for seq, ev in zip(got_seqs, events, strict=True):
            assert same(ev, by_seq[seq]), (ev, by_seq[seq])


@FAST
@given(value=any_float)
def test_log_metric_float_values_round_trip_exactly(value: float) -> None:
    """A metric value of any float (NaN, +-Inf, -0.0, subnormal, max) is read back bit-exact in
    sign and magnitude, through the real file and the real reader."""
    with tempfile.TemporaryDirectory() as d:
        with Recorder(Path(d), durability="os") as rec:
            seq = rec.emit(Metric(name="loss", value=value, step=1))
        (got,) = [e for e in read_all(Path(d) / LOG_NAME, mode="strict")[0] if e.seq == seq]
        assert isinstance(got, Metric)
        if math.isnan(value):
            assert math.isnan(got.value)
        else:
            assert got.value == value and math.copysign(1, got.value) == math.copysign(1, value)


@FAST
@given(event=writer_event, salt=st.integers(0, 2**32 - 1), seq=st.integers(1, 2**40))
def test_log_writer_kinds_frame_and_decode(event: Event, salt: int, seq: int) -> None:
    """The kinds only the writer records (run_start, run_end, sync, resumed) encode to framed
    lines whose CRC checks and which decode back to the same event."""
    enc = EventEncoder(registry)
    info, body = enc.encode(event, internal=True)
    line = frame(seq, 1764071000.25, info.version, body, salt)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = info.decoder.decode(line[:-1])
    assert same(event, decoded)
    assert decoded.seq == seq and decoded.t == 1764071000.25


def test_log_free_form_strings_that_look_non_finite_stay_strings(tmp_path: Path) -> None:
    """The spellings "NaN"/"Infinity" used for non-finite metric values are only converted in
    float fields: the same strings in names, messages and free-form values stay strings."""
    evs = [
        Metric(name="NaN", value=math.inf),
        Params(values={"a": "NaN", "b": ["Infinity", "-Infinity"]}),
        Log(msg="Infinity", fields={"x": "NaN"}),
    ]
    with Recorder(tmp_path) as rec:
        for ev in evs:
            rec.emit(ev)
    read = [e for e in read_all(tmp_path / LOG_NAME, mode="strict")[0] if tag_of(e) not in WRITER_KINDS]
    assert len(read) == 3
    for a, b in zip(evs, read, strict=True):
        assert same(a, b)


def test_log_all_core_kinds_are_covered() -> None:
    """The round-trip strategies above cover every core kind (a new kind must be added here)."""
    covered = {Metric, Params, Log, Checkpoint, Artifact, Plan, Source, RunStart, RunEnd, Sync, Resumed}
    covered |= {Environment, Config, RunLayout}
    assert set(CORE_KINDS) == covered


# -- refusals ---------------------------------------------------------------------------------

surrogate = st.characters(categories=["Cs"])
bad_text = st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), surrogate, st.text(max_size=5))


@st.composite
def event_with_surrogate(draw: st.DrawFn) -> tuple[Event, str]:
    bad = draw(bad_text)
    key = draw(st.text(min_size=1, max_size=5))
    where = draw(
        st.sampled_from(
            [
                "metric.name",
                "log.msg",
                "log.logger",
                "params.value",
                "params.nested",
                "params.key",
                "log.field_list",
                "artifact.path",
                "checkpoint.sha256",
            ]
        )
    )
    if where == "metric.name":
        return Metric(name=bad, value=1.0), "$.name"
    if where == "log.msg":
        return Log(msg=bad), "$.msg"
    if where == "log.logger":
        return Log(msg="m", logger=bad), "$.logger"
    if where == "params.value":
        return Params(values={key: bad}), f"$.values.{key}"
    if where == "params.nested":
        return Params(values={key: {"inner": [1, bad]}}), f"$.values.{key}.inner[1]"
    if where == "params.key":
        return Params(values={bad: 1}), f"$.values.<key {bad!r}>"
    if where == "log.field_list":
        return Log(msg="m", fields={"a": [bad]}), "$.fields.a[0]"
    if where == "artifact.path":
        return Artifact(path=bad), "$.path"
    return Checkpoint(path="p", sha256=bad), "$.sha256"


@pytest.fixture(scope="module")
def shared_recorder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    rec = Recorder(tmp_path_factory.mktemp("refusals"), durability="os")
    yield rec
    rec.close()


def assert_refused(rec: Recorder, event: Event, field: str | None) -> InvalidEvent:
    """``emit`` raises InvalidEvent naming ``field`` and leaves the log and seq untouched."""
    before = rec.path.read_bytes()
    seq = rec.seq
    with pytest.raises(InvalidEvent) as info:
        rec.emit(event)
    err = info.value
    if field is not None:
        assert err.field == field, str(err)
        assert f"`{field}`" in str(err)
    assert err.exit_code == 65
    assert rec.path.read_bytes() == before, "a refused event must not write anything"
    assert rec.seq == seq
    assert not rec.closed, "a refused event must not stop the recorder"
    return err


@FAST
@given(case=event_with_surrogate())
def test_log_lone_surrogates_are_refused_naming_the_field(
    shared_recorder: Recorder, case: tuple[Event, str]
) -> None:
    """A string holding a lone surrogate (not encodable as UTF-8) anywhere in an event is refused
    at ``emit`` with InvalidEvent naming the field path, and nothing is written."""
    event, path = case
    err = assert_refused(shared_recorder, event, path)
    assert "surrogate" in err.message


nonfinite = st.sampled_from([math.nan, math.inf, -math.inf])


@st.composite
def free_form_with_nonfinite(draw: st.DrawFn) -> tuple[Event, str]:
    x = draw(nonfinite)
    keys = draw(st.lists(st.text(alphabet="abcxyz_", min_size=1, max_size=4), min_size=1, max_size=4))
    value: Any = x
    path = ""
    for k in reversed(keys):
        if draw(st.booleans()):
            value, path = [0, value], f"[1]{path}"
        value, path = {k: value}, f".{k}{path}"
    if draw(st.booleans()):
        return Params(values=value), f"$.values{path}"
    return Log(msg="m", fields=value), f"$.fields{path}"


@FAST
@given(case=free_form_with_nonfinite())
def test_log_non_finite_in_free_form_values_is_refused(
    shared_recorder: Recorder, case: tuple[Event, str]
) -> None:
    """NaN/Inf inside free-form dicts (Params.values, Log.fields) cannot be told apart from the
    strings "NaN"/"Infinity" on reading, so they are refused with the exact path of the value."""
    event, path = case
    err = assert_refused(shared_recorder, event, path)
    assert "non-finite" in err.message


def _nest(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def test_log_nesting_deeper_than_32_is_refused(shared_recorder: Recorder) -> None:
    """Free-form values may nest up to 32 levels (counting the field itself); level 33 is refused
    naming the path where the limit was crossed, and nothing is written."""
    assert MAX_DEPTH == 32
    ok = shared_recorder.emit(Params(values={"a": _nest(30)}))  # values=1, a=2, ... 32 levels
    assert ok > 0
    err = assert_refused(shared_recorder, Params(values={"a": _nest(31)}), None)
    assert err.field is not None and err.field.startswith("$.values.a")
    assert "deeper than 32" in err.message
    assert_refused(shared_recorder, Log(msg="m", fields={"deep": _nest(200)}), None)


def test_log_line_over_the_limit_is_refused_naming_the_largest_field(tmp_path: Path) -> None:
    """A line over ``max_line_bytes`` is refused naming the event's largest field; smaller
    events after it are still recorded with the next seq."""
    with Recorder(tmp_path, max_line_bytes=2000, durability="os") as rec:
        assert_refused(rec, Log(msg="x" * 3000, fields={"small": 1}), "$.msg")
        assert_refused(rec, Log(msg="m", fields={"blob": "y" * 3000}), "$.fields")
        assert_refused(rec, Params(values={"a": list(range(1000))}), "$.values")
        seq = rec.emit(Log(msg="fits"))
    read, _ = read_all(tmp_path / LOG_NAME, mode="strict")
    assert seqs(read) == list(range(len(read)))
    assert [e.seq for e in read if isinstance(e, Log)] == [seq]


def test_log_writer_and_reader_agree_on_the_line_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line of exactly MAX_LINE_BYTES (without its newline) is written and read back; one byte
    more is refused by the writer: the writer never writes a line its reader rejects."""
    monkeypatch.setattr(time, "time", lambda: 1764071000.5)  # fixed-width timestamps
    with Recorder(tmp_path, durability="os") as rec:
        probe = Log(msg="")
        _, body = rec._enc.encode(probe)
        overhead = len(frame(rec.seq, 1764071000.5, 1, body, 0)) - 1
        exact = Log(msg="z" * (MAX_LINE_BYTES - overhead))
        seq = rec.emit(exact)
        assert_refused(rec, Log(msg="z" * (MAX_LINE_BYTES - overhead + 1)), "$.msg")
    read, report = read_all(tmp_path / LOG_NAME, mode="strict")
    assert report.complete
    (got,) = [e for e in read if e.seq == seq]
    assert isinstance(got, Log) and got.msg == exact.msg


def test_log_recorder_refuses_a_line_limit_above_the_readers(tmp_path: Path) -> None:
    """A writer limit above the reader's would write lines that replay, verify and resume reject
    (and resume would cut them off as torn), so the recorder refuses such a limit up front."""
    with pytest.raises(ValueError, match="max_line_bytes"):
        Recorder(tmp_path / "r", max_line_bytes=MAX_LINE_BYTES + 1)
    assert not (tmp_path / "r" / LOG_NAME).exists()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (Metric(name="m", value=True), "$.value"),
        (Metric(name="m", value="1.5"), "$.value"),  # type: ignore[arg-type]
        (Metric(name="m", value=1.0, step=1.5), "$.step"),  # type: ignore[arg-type]
        (Metric(name=3, value=1.0), "$.name"),  # type: ignore[arg-type]
        (Params(values={"x": object()}), None),
        (Checkpoint(path="p", step="3"), "$.step"),  # type: ignore[arg-type]
    ],
    ids=["bool-as-float", "str-as-float", "float-as-int", "int-as-str", "object", "str-as-int"],
)
def test_log_wrong_types_are_refused(shared_recorder: Recorder, event: Event, field: str | None) -> None:
    """Values of the wrong type are refused at emit with InvalidEvent (never a raw TypeError or
    msgspec error), naming the field where it can be located, and nothing is written."""
    assert_refused(shared_recorder, event, field)


@pytest.mark.parametrize("kind", [RunStart, RunEnd, Sync, Resumed])
def test_log_writer_kinds_cannot_be_emitted(shared_recorder: Recorder, kind: type[Event]) -> None:
    """run_start, run_end, sync and resumed are the writer's own records; ``emit`` refuses them."""
    samples: dict[type[Event], Event] = {
        RunStart: RunStart(run_id="x", format_major=1, format_minor=0, writer=WriterInfo(host="h", pid=1)),
        RunEnd: RunEnd(count=1, bytes_before=1, sha256=""),
        Sync: Sync(count=1, durable_upto=1, sha256=""),
        Resumed: Resumed(writer=WriterInfo(host="h", pid=1)),
    }
    assert_refused(shared_recorder, samples[kind], "$.type")


def test_log_refusals_raise_only_vrx_errors(shared_recorder: Recorder) -> None:
    """Anything that is not an Event is refused with a VrxError, not an AttributeError."""
    for junk in (None, 1, "metric", {"type": "metric"}, Metric):
        with pytest.raises(VrxError):
            shared_recorder.emit(junk)  # type: ignore[arg-type]


def test_log_line_checker_reads_what_the_encoder_writes() -> None:
    """The reader's line checker accepts a hand-framed run_start + metric pair built with the
    encoder: framing, salt and decoding agree without any file in between."""
    enc = EventEncoder(registry)
    report = ReadReport(path=Path("mem"), mode="strict")
    checker = LineChecker(registry, report)
    info, body = enc.encode(
        RunStart(run_id="r", format_major=1, format_minor=0, writer=WriterInfo(host="h", pid=1)),
        internal=True,
    )
    first = frame(0, 1.0, info.version, body, 0)[:-1]
    checker.accept(first, checker.check(first))
    _, body = enc.encode(Metric(name="m", value=math.nan))
    second = frame(1, 2.0, 1, body, report.salt)[:-1]
    ev = checker.check(second)
    assert isinstance(ev, Metric) and math.isnan(ev.value) and ev.seq == 1


class _Ping(Event, frozen=True, kw_only=True, tag="test.ping"):
    n: int = 0


def test_log_an_event_with_only_default_fields_reads_back(tmp_path: Path) -> None:
    """Such a line ends right after its tag (`"type":"test.ping","crc":...`): the reader takes it."""
    with Recorder(tmp_path) as rec:
        rec.emit(_Ping())
        rec.emit(_Ping(n=2))
    events, _ = read_all(tmp_path / LOG_NAME, mode="strict")
    pings = [e for e in events if isinstance(e, _Ping)]
    assert [(p.seq, p.n) for p in pings] == [(1, 0), (2, 2)]
    assert_verdict(tmp_path, "OK")


def test_log_an_event_that_carries_seq_and_t_is_written_once(tmp_path: Path) -> None:
    """seq and t are the writer's: an event built with them (say, read from another log) gets them
    replaced, never written twice into one line (a reader would keep the last)."""
    with Recorder(tmp_path) as rec:
        for step in range(3):  # the first goes through the full path, the others the fast one
            rec.emit(Metric("x", 1.0, step, seq=7, t=5.0))
    lines = (tmp_path / LOG_NAME).read_bytes().splitlines()[1:4]
    assert all(line.count(b'"t":') == 1 and line.count(b'"seq":') == 1 for line in lines)
    events, _ = read_all(tmp_path / LOG_NAME, mode="strict")
    assert [e.seq for e in events[1:4]] == [1, 2, 3] and all(e.t > 1e9 for e in events[1:4])
