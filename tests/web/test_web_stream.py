"""A run's SSE stream: history then live events from a writer, status and end, resume from a
Last-Event-ID (single and multi-rank: no event twice, none skipped), ``?rank=``, and a closed
stream releasing its follower."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _web_helpers import Served, events_of, record_run, sse_messages

from vrx_core.events import Metric, Plan
from vrx_core.log.writer import Recorder

TIMEOUT = httpx.Timeout(20.0)


def _collect(
    url: str, *, headers: dict[str, str] | None = None, upto: int | None = None
) -> list[dict[str, Any]]:
    """The stream's messages until ``end`` (or ``upto`` messages), then the stream is closed."""
    out = []
    with httpx.Client(timeout=TIMEOUT) as client, client.stream("GET", url, headers=headers or {}) as r:
        assert r.status_code == 200, r.read()
        for m in sse_messages(r.iter_lines()):
            out.append(m)
            if m["data"]["kind"] == "end" or (upto is not None and len(out) >= upto):
                break
    return out


class Writer:
    """A live run written from a thread: ``first`` metrics, then waits for :meth:`go`, then
    ``more`` (a NaN among them), then the run end."""

    def __init__(self, run_dir: Path, first: int, more: int) -> None:
        self.run_dir, self.first, self.more = run_dir, first, more
        self.started, self._go = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(10)

    def _run(self) -> None:
        with Recorder(self.run_dir, derive=False, summary=False, environment=False, heartbeat_s=0.2) as rec:
            rec.emit(Plan(total=self.first + self.more))
            for i in range(1, self.first + 1):
                rec.emit(Metric(name="loss", value=1.0 / i, step=i))
            self.started.set()
            self._go.wait(20)
            for i in range(self.first + 1, self.first + self.more + 1):
                value = float("nan") if i == self.first + 2 else 1.0 / i
                rec.emit(Metric(name="loss", value=value, step=i))
                time.sleep(0.005)

    def go(self) -> None:
        self._go.set()

    def join(self) -> None:
        self._go.set()
        self.thread.join(20)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "runs" / "live", first=20, more=30)
    yield w
    w.join()


def test_history_then_live_events_then_end(serve_app: Callable[..., Served], live: Writer) -> None:
    s = serve_app([live.run_dir.parent])
    messages: list[dict[str, Any]] = []
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream("GET", f"{s.url}/api/run/runs/live/stream") as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        for m in sse_messages(r.iter_lines()):
            messages.append(m)
            assert m["event"] is None and m["id"]
            if m["data"]["kind"] == "notice" and m["data"]["notice"] == "caught_up":
                live.go()  # the history is in: now the writer goes on
            if m["data"]["kind"] == "end":
                break
    seqs = [seq for _, seq in events_of(messages)]
    assert seqs == list(range(len(seqs)))  # every event once, in order
    metrics = [m["data"]["event"] for m in messages if m["data"]["kind"] == "event"]
    assert [e["step"] for e in metrics if e["type"] == "metric"] == list(range(1, 51))
    assert metrics[-1]["type"] == "run_end"
    nan = [m["data"] for m in messages if m["data"]["kind"] == "notice" and m["data"]["notice"] == "nan"]
    assert len(nan) == 1 and nan[0]["level"] == "warning"
    statuses = [m["data"] for m in messages if m["data"]["kind"] == "status"]
    assert statuses[0]["status"] == "running" and statuses[-1]["status"] == "ended"
    assert statuses[-1]["progress"]["done"] == 50 and statuses[-1]["progress"]["total"] == 50
    assert messages[-1]["data"] == {"kind": "end", "status": "ended"}
    assert messages[-1]["id"] == str(seqs[-1])


@pytest.mark.parametrize("how", ["header", "query"])
def test_resume_from_a_cursor_has_no_dupes_and_no_gaps(
    serve_app: Callable[..., Served], live: Writer, how: str
) -> None:
    s = serve_app([live.run_dir.parent])
    url = f"{s.url}/api/run/runs/live/stream"
    first = _collect(url, upto=12)
    cursor = first[-1]["id"]
    live.go()
    if how == "header":
        rest = _collect(url, headers={"Last-Event-ID": cursor})
    else:
        rest = _collect(f"{url}?last_event_id={cursor}")
    seqs = [seq for _, seq in events_of(first) + events_of(rest)]
    assert seqs == list(range(len(seqs)))
    assert rest[-1]["data"]["kind"] == "end"
    assert not [m for m in rest if m["data"]["kind"] == "notice" and m["data"]["notice"] == "caught_up"][1:]


def test_resume_of_a_multi_rank_run(serve_app: Callable[..., Served], tmp_path: Path) -> None:
    for rank in (0, 1):
        record_run(tmp_path / "runs" / "ddp", 15, rank=rank, world_size=2)
    s = serve_app([tmp_path / "runs"])
    url = f"{s.url}/api/run/runs/ddp/stream"
    everything = events_of(_collect(url))
    assert {r for r, _ in everything} == {0, 1}
    for cut in (3, 17, 30):
        head = _collect(url, upto=cut)
        cursor = head[-1]["id"]
        assert cursor == "-" or ":" in cursor
        tail = _collect(url, headers={"Last-Event-ID": cursor})
        got = events_of(head) + events_of(tail)
        assert sorted(got, key=lambda e: (e[0] or 0, e[1])) == sorted(
            everything, key=lambda e: (e[0] or 0, e[1])
        )
        assert len(got) == len(set(got))


def test_rank_filter(serve_app: Callable[..., Served], tmp_path: Path) -> None:
    for rank in (0, 1):
        record_run(tmp_path / "runs" / "ddp", 5, rank=rank, world_size=2)
    s = serve_app([tmp_path / "runs"])
    messages = _collect(f"{s.url}/api/run/runs/ddp/stream?rank=1")
    assert {r for r, _ in events_of(messages)} == {1}
    status = [m["data"] for m in messages if m["data"]["kind"] == "status"][-1]
    assert status["ranks"] == {"0": "ended", "1": "ended"}
    assert httpx.get(f"{s.url}/api/run/runs/ddp/stream?rank=x").status_code == 400


def test_a_bad_cursor_is_400(serve_app: Callable[..., Served], runs_root: Path) -> None:
    s = serve_app([runs_root])
    r = httpx.get(f"{s.url}/api/run/runs/a/stream", headers={"Last-Event-ID": "nonsense"})
    assert r.status_code == 400 and "error" in r.json()


def _follower_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vrx-serve-follow")]


def test_closing_a_stream_releases_its_follower(serve_app: Callable[..., Served], live: Writer) -> None:
    s = serve_app([live.run_dir.parent])
    head = _collect(f"{s.url}/api/run/runs/live/stream", upto=5)
    assert len(head) == 5
    deadline = time.monotonic() + 5
    while (s.state.feeds or _follower_threads()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not s.state.feeds
    assert not _follower_threads()


def test_keepalive_comments(
    serve_app: Callable[..., Served], live: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vrx_plugins.web import stream

    monkeypatch.setattr(stream, "KEEPALIVE_S", 0.3)
    s = serve_app([live.run_dir.parent])
    with (
        httpx.Client(timeout=TIMEOUT) as client,
        client.stream("GET", f"{s.url}/api/run/runs/live/stream") as r,
    ):
        lines = r.iter_lines()
        assert any(line == ": keep-alive" for line, _ in zip(lines, range(2000), strict=False))
