"""``vrx ingest``: JSON lines from any program become events; bad lines are named, not written."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import pytest
from _log_harness import assert_verdict, read_all, seqs, tag_of

from vrx_core.engine.ingest import ingest, parse_line
from vrx_core.errors import InvalidEvent
from vrx_core.events import Artifact, Checkpoint, Log, Metric, Params, Resumed, registry
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"type":"metric","name":"loss","value":0.25,"step":3}', Metric(name="loss", value=0.25, step=3)),
        (b'{"type":"metric","name":"loss","value":2}', Metric(name="loss", value=2.0)),
        (
            b'{"type":"params","values":{"lr":0.1,"layers":[1,2],"name":"NaN"}}',
            Params(values={"lr": 0.1, "layers": [1, 2], "name": "NaN"}),
        ),
        (
            b'{"type":"log","msg":"h\\u00e9llo \xe2\x9c\x93","level":"warning","fields":{"a":null}}',
            Log(msg="héllo ✓", level="warning", fields={"a": None}),
        ),
        (
            b'{"type":"checkpoint","path":"ckpt/1.pt","step":1,"size_bytes":10}',
            Checkpoint(path="ckpt/1.pt", step=1, size_bytes=10),
        ),
        (
            b'{"type":"artifact","path":"plot.png","media_type":"image/png"}',
            Artifact(path="plot.png", media_type="image/png"),
        ),
    ],
    ids=["metric", "int-as-float", "params", "log-unicode", "checkpoint", "artifact"],
)
def test_log_ingest_parses_every_user_kind(raw: bytes, expected: object) -> None:
    """A well-formed ingest line of each user kind becomes exactly the typed event."""
    assert parse_line(raw, registry) == expected


@pytest.mark.parametrize(
    ("spelling", "check"),
    [("NaN", math.isnan), ("Infinity", lambda x: x == math.inf), ("-Infinity", lambda x: x == -math.inf)],
)
def test_log_ingest_accepts_non_finite_spellings_in_float_fields(spelling: str, check: object) -> None:
    """ "NaN", "Infinity" and "-Infinity" are the ingest spellings of non-finite metric values."""
    ev = parse_line(b'{"type":"metric","name":"x","value":"%s"}' % spelling.encode(), registry)
    assert isinstance(ev, Metric) and check(ev.value)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b"not json", None, "invalid JSON"),
        (b'{"type":"metric","name":"a","value":NaN}', None, "invalid JSON"),
        (b'{"type":"params","values":{"a":1e400}}', None, "invalid JSON"),
        (b"[1, 2]", None, "expected a JSON object"),
        (b'{"name":"a","value":1}', "$.type", "missing `type`"),
        (b'{"type":"gpu_util","value":1}', "$.type", "unknown event kind 'gpu_util'"),
        (b'{"type":"run_end","count":1,"bytes_before":1,"sha256":""}', "$.type", "written by the recorder"),
        (b'{"type":"sync","count":1,"durable_upto":1,"sha256":""}', "$.type", "written by the recorder"),
        (b'{"type":"metric","name":"a","value":1,"seq":4}', "$.seq", "set by the writer"),
        (b'{"type":"metric","name":"a","value":1,"crc":"00000000"}', "$.crc", "set by the writer"),
        (b'{"type":"metric","name":"a","value":1,"unit":"s"}', "$.unit", "unknown field 'unit'"),
        (b'{"type":"metric","name":"a","value":"1.5"}', None, "Expected `float`, got `str` - at `$.value`"),
        (b'{"type":"metric","name":"a","value":true}', None, "Expected `float`, got `bool` - at `$.value`"),
        (b'{"type":"metric","name":"a","value":1,"step":1.5}', None, "at `$.step`"),
        (b'{"type":"metric","name":"a"}', None, "missing required field `value`"),
        (b'{"type":"metric","name":"a\xff","value":1}', None, "invalid UTF-8"),
        (b'{"type":"params","values":' + b"[" * 5000 + b"]" * 5000 + b"}", None, "nested too deeply"),
    ],
)
def test_log_ingest_rejects_bad_lines_naming_the_problem(raw: bytes, field: str | None, words: str) -> None:
    """Every malformed ingest line raises InvalidEvent (exit 65) saying what is wrong and, where
    one field is at fault, naming it; no raw msgspec or Unicode error escapes."""
    with pytest.raises(InvalidEvent) as info:
        parse_line(raw, registry)
    assert info.value.exit_code == 65
    assert words in str(info.value), str(info.value)
    if field is not None:
        assert info.value.field == field


def test_log_ingest_records_good_lines_and_names_bad_ones(tmp_path: Path) -> None:
    """ingest() records each valid line in order, skips blank lines, accepts CRLF, and reports
    each bad line as ``SOURCE:LINE: message`` (limits and emit-time checks included) without
    writing anything for it: seq stays dense."""
    lines = [
        b'{"type":"metric","name":"loss","value":0.5,"step":1}',  # 1 ok
        b'{"type":"metric","name":"loss","value":"oops"}',  # 2 bad type
        b"",  # 3 blank
        b'{"type":"log","msg":"crlf"}\r',  # 4 ok (CRLF)
        b'{"type":"params","values":{"deep":' + b"[" * 40 + b"]" * 40 + b"}}",  # 5 too deep for the log
        b'{"type":"log","msg":"\\ud800"}',  # 6 lone surrogate escape
        b'{"type":"log","msg":"' + b"x" * 3000 + b'"}',  # 7 over the ingest limit
        b'{"type":"params","values":{"n":"NaN"}}',  # 8 ok, a string
        b'{"type":"metric","name":"loss","value":"-Infinity","step":2}',  # 9 ok
    ]
    stream = io.BytesIO(b"\n".join(lines) + b"\n")
    seen: list[str] = []
    with Recorder(tmp_path) as rec:
        result = ingest(rec, stream, "feed.jsonl", on_reject=seen.append, limit=2048)
    assert result.accepted == 4
    assert [m.split(":", 2)[:2] for m in result.rejected] == [["feed.jsonl", n] for n in ("2", "5", "6", "7")]
    assert seen == result.rejected
    assert "$.value" in result.rejected[0] and "deeper than 32" in result.rejected[1]
    assert "2048-byte limit" in result.rejected[3]
    events, report = read_all(tmp_path / LOG_NAME, mode="strict")
    assert report.complete and seqs(events) == list(range(len(events)))
    user = [e for e in events if tag_of(e) in ("metric", "log", "params")]
    assert [tag_of(e) for e in user] == ["metric", "log", "params", "metric"]
    assert user[1] == Log(msg="crlf", seq=user[1].seq, t=user[1].t)
    assert isinstance(user[3], Metric) and user[3].value == -math.inf
    assert_verdict(tmp_path, "OK")


def _vrx(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "vrx_core", *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def test_log_ingest_cli_from_a_file(tmp_path: Path) -> None:
    """``vrx ingest RUN FILE`` records the good lines, prints ``FILE:LINE:`` for each bad one
    and exits 65 when any line was rejected; the run is closed and verifies OK."""
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(
        b'{"type":"metric","name":"loss","value":0.5,"step":1}\n'
        b'{"type":"metric","name":"loss"}\n'
        b'{"type":"nope"}\n'
        b'{"type":"log","msg":"done"}\n'
    )
    run = tmp_path / "run"
    out = _vrx("ingest", str(run), str(feed))
    assert out.returncode == 65, out.stderr
    err = out.stderr.decode()
    assert f"{feed}:2:" in err and f"{feed}:3:" in err and f"{feed}:1:" not in err and f"{feed}:4:" not in err
    events, report = read_all(run / LOG_NAME, mode="strict")
    assert report.complete
    assert [tag_of(e) for e in events if tag_of(e) in ("metric", "log")] == ["metric", "log"]
    assert_verdict(run, "OK")


def test_log_ingest_cli_from_stdin_appends_to_an_existing_run(tmp_path: Path) -> None:
    """``vrx ingest RUN`` reads stdin; an all-good input exits 0; a second ingest resumes the
    same run (``resumed`` recorded, seq continues) and names bad stdin lines ``<stdin>:LINE:``."""
    run = tmp_path / "run"
    out = _vrx(
        "ingest", str(run), stdin=b'{"type":"metric","name":"a","value":1}\n{"type":"log","msg":"x"}\n'
    )
    assert out.returncode == 0, out.stderr
    out = _vrx(
        "ingest",
        str(run),
        "-",
        "--resume",
        "allow",
        stdin=b'{"type":"metric","name":"b","value":"Infinity"}\n{"type":1}\n',
    )
    assert out.returncode == 65
    assert "<stdin>:2:" in out.stderr.decode()
    events, report = read_all(run / LOG_NAME, mode="strict")
    assert report.complete and seqs(events) == list(range(len(events)))
    assert sum(isinstance(e, Resumed) for e in events) == 1
    metrics = [e for e in events if isinstance(e, Metric)]
    assert [m.name for m in metrics] == ["a", "b"] and metrics[1].value == math.inf
    assert_verdict(run, "OK")


def test_log_ingest_source_time_keeps_the_sources_times(tmp_path: Path) -> None:
    """--source-time: each line's `t` becomes the event's time, noted by a log event; a line without
    one gets the time of ingestion; without the option `t` stays refused."""
    from vrx_core import read_events
    from vrx_core.events import Log

    feed = tmp_path / "history.jsonl"
    feed.write_bytes(
        b'{"type":"metric","name":"loss","value":0.5,"step":1,"t":1600000000.25}\n'
        b'{"type":"metric","name":"loss","value":0.4,"step":2}\n'
        b'{"type":"metric","name":"loss","value":0.3,"step":3,"t":"yesterday"}\n'
    )
    run = tmp_path / "run"
    out = _vrx("ingest", str(run), str(feed), "--source-time")
    assert out.returncode == 65 and b"history.jsonl:3: `t` must be Unix seconds" in out.stderr
    events = list(read_events(run))
    notes = [e for e in events if isinstance(e, Log) and e.logger == "vrx.ingest"]
    assert len(notes) == 1 and notes[0].fields["times"] == "source"
    metrics = [e for e in events if isinstance(e, Metric)]
    assert metrics[0].t == 1600000000.25 and metrics[1].t > 1.7e9
    assert_verdict(run, "OK")
    plain = _vrx("ingest", str(tmp_path / "plain"), str(feed))
    assert plain.returncode == 65 and b"history.jsonl:1: `t` is set by the writer" in plain.stderr
