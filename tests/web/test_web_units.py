"""The pure parts of the web view: run ids and their refusal, SSE framing and resume cursors, tokens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _web_helpers import record_run

from vrx_core.events import Metric
from vrx_core.follow.stream import Notice, Snapshot
from vrx_plugins.web.auth import bearer, host_name, host_ok, is_loopback, token_ok
from vrx_plugins.web.guard import refused_path
from vrx_plugins.web.roots import Roots, UnknownRun, make_roots
from vrx_plugins.web.sse import BadCursor, ResumeFilter, format_cursor, frame, parse_cursor


def test_labels_are_basenames_with_suffixes_for_duplicates(tmp_path: Path) -> None:
    for d in ("a/runs", "b/runs", "c/runs", "other"):
        (tmp_path / d).mkdir(parents=True)
    roots = make_roots([tmp_path / "a/runs", tmp_path / "other", tmp_path / "b/runs", tmp_path / "c/runs"])
    assert [r.label for r in roots] == ["runs", "other", "runs-2", "runs-3"]


def test_ids_resolve_to_runs_and_back(tmp_path: Path) -> None:
    record_run(tmp_path / "runs" / "sweep" / "x", 1)
    single = record_run(tmp_path / "solo", 1)
    roots = Roots.of([tmp_path / "runs", single])
    runs, solo = roots.roots
    assert roots.run_id(runs, tmp_path / "runs" / "sweep" / "x") == "runs/sweep/x"
    assert roots.run_id(solo, single) == "solo"
    assert roots.resolve("runs/sweep/x") == (tmp_path / "runs" / "sweep" / "x").resolve()
    assert roots.resolve("solo") == single.resolve()


@pytest.mark.parametrize(
    "bad",
    [
        "runs/../solo",
        "runs/sweep/../../solo",
        "runs//sweep/x",
        "runs/./sweep/x",
        "runs/sweep/x/",
        "/runs/sweep/x",
        "runs/sweep\0/x",
        "runs/sweep\\x",
        "nope/sweep/x",
        "runs/sweep",  # a directory, not a run
        "runs/missing",
        "..",
        "",
    ],
)
def test_ids_that_leave_the_roots_or_name_no_run_are_unknown(tmp_path: Path, bad: str) -> None:
    record_run(tmp_path / "runs" / "sweep" / "x", 1)
    record_run(tmp_path / "solo", 1)
    roots = Roots.of([tmp_path / "runs", tmp_path / "solo"])
    with pytest.raises(UnknownRun):
        roots.resolve(bad)


def test_a_symlink_out_of_the_root_is_unknown_one_inside_is_not(tmp_path: Path) -> None:
    outside = record_run(tmp_path / "outside", 1)
    inside = record_run(tmp_path / "runs" / "real", 1)
    (tmp_path / "runs" / "escape").symlink_to(outside)
    (tmp_path / "runs" / "alias").symlink_to(inside)
    roots = Roots.of([tmp_path / "runs"])
    with pytest.raises(UnknownRun):
        roots.resolve("runs/escape")
    assert roots.resolve("runs/alias") == inside.resolve()


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        (b"/run/runs/a", False),
        (b"/run/runs/a%20b", False),
        (b"/run/runs/../x", True),
        (b"/run/runs/%2e%2e/x", True),
        (b"/run/runs/%2E%2E/x", True),
        (b"/run/runs/.%2e/x", True),
        (b"/run/runs%2fa", True),
        (b"/run/runs%2Fa", True),
        (b"/run/runs/%00", True),
        (b"/run/runs/%5c..", True),
        (b"/run/./runs", True),
    ],
)
def test_refused_paths(raw: bytes, refused: bool) -> None:
    assert refused_path(raw) is refused


def test_frame_puts_each_line_in_a_data_field() -> None:
    assert frame("a\nb", event_id="5") == b"id: 5\ndata: a\ndata: b\n\n"
    assert frame("{}", event="runs") == b"event: runs\ndata: {}\n\n"


@pytest.mark.parametrize(
    ("vector", "text"), [({}, "-"), ({None: 5}, "5"), ({None: -1}, "-1"), ({1: 3, 0: 5}, "0:5,1:3")]
)
def test_cursor_round_trip(vector: dict[int | None, int], text: str) -> None:
    assert format_cursor(vector) == text
    assert parse_cursor(text) == vector


@pytest.mark.parametrize("bad", ["x", "1:2:3", "0:1,0:2", "0:a", "1e5", "0:5;1:3", "9" * 30])
def test_bad_cursors(bad: str) -> None:
    with pytest.raises(BadCursor):
        parse_cursor(bad)


def _metric(seq: int, rank: int | None = None) -> Metric:
    return Metric(seq=seq, t=float(seq), name="loss", value=1.0, step=seq, rank=rank)


def test_resume_drops_what_was_sent_and_holds_notices_until_the_cursor() -> None:
    f = ResumeFilter(after={None: 2})
    snap = Snapshot(seq=1, plugins={"p": {"n": 1}}, changed=("p",))
    out = []
    for item in [_metric(0), Notice("nan", "old", 0, "warning"), snap, _metric(1), _metric(2)]:
        out += f.admit(item)
    assert out == [snap]  # released once the cursor's event came by
    assert f.admit(Notice("nan", "raised by seq 2", 2, "warning")) == []
    n = Notice("nan", "new", 3, "warning")
    assert f.admit(_metric(3)) == [_metric(3)]
    assert f.admit(n) == [n]
    assert f.cursor == "3"


def test_resume_per_rank() -> None:
    f = ResumeFilter(after={0: 1, 1: 0})
    items = [_metric(0, 0), _metric(0, 1), _metric(1, 1), _metric(1, 0), _metric(2, 0)]
    sent = [i for item in items for i in f.admit(item)]
    assert sent == [_metric(1, 1), _metric(2, 0)]
    assert f.cursor == "0:2,1:1"


def test_caught_up_ends_the_hold_even_if_the_cursor_never_came() -> None:
    f = ResumeFilter(after={None: 99})
    assert f.admit(Notice("caught_up", "read", 5)) == []
    late = Notice("stall", "quiet", None, "warning")
    assert f.admit(late) == [late]


def test_tokens_and_hosts() -> None:
    assert token_ok("s3cret", [None, "nope", "s3cret"])
    assert not token_ok("s3cret", [None, "s3cre", ""])
    assert bearer("Bearer abc") == "abc" and bearer("Basic abc") is None and bearer(None) is None
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    assert host_name("[::1]:8765") == "::1" and host_name("127.0.0.1:80") == "127.0.0.1"
    assert host_ok("localhost:8765", frozenset()) and not host_ok("evil.example:8765", frozenset())
    assert host_ok("evil.example", None)


def test_static_files_are_vendored() -> None:
    static = Path(__file__).resolve().parents[2] / "plugins" / "web" / "static"
    names = set(os.listdir(static))
    assert {"app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"} <= names
    assert "MIT" in (static / "uPlot.LICENSE").read_text()
    app_js = (static / "app.js").read_text()
    assert "http://" not in app_js and "https://" not in app_js  # nothing fetched from elsewhere
