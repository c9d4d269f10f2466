"""Writer and tail in separate processes: every event appears exactly once, in order, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from _tail_harness import expected_lines, json_lines, tail, writer

from vrx_core.cli.render import event_json_line
from vrx_core.follow.follower import Notice, follow


@pytest.mark.parametrize("watch", [[], ["--poll"]], ids=["inotify", "poll"])
def test_every_event_exactly_once_in_order(tmp_path: Path, watch: list[str]) -> None:
    """A tail started before the run exists prints every event once, in order, byte-identical to
    `vrx events --json`, and exits 0 at the run end."""
    run = tmp_path / "run"
    t = tail(run, "--events", "--json", *watch)
    w = writer(run, "--n", "400", "--interval", "0.001", "--start-delay", "0.3")
    assert w.wait() == 0, w.stderr
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(run)
    assert sum('"type":"sync"' not in line for line in t.seen) == 402  # run_start + 400 + run_end


def test_follow_api_yields_each_event_once(tmp_path: Path) -> None:
    """`follow()` in this process, the writer in another: same events, same content, same order."""
    run = tmp_path / "run"
    w = writer(run, "--n", "300", "--interval", "0.001", "--start-delay", "0.2")
    got = [event_json_line(ev) for ev in follow(run, timeout=30)]
    assert w.wait() == 0, w.stderr
    assert got == expected_lines(run)


def test_from_end_prints_only_later_events(tmp_path: Path) -> None:
    """--from-end skips the events already in the log, then prints each later one once."""
    run = tmp_path / "run"
    w = writer(run, "--n", "50", "--more", "60", stdin=True)
    w.wait_for("paused")
    t = tail(run, "--events", "--json", "--from-end")
    t.wait_open(run / "events.jsonl")  # what the log holds now is history; the rest is new
    w.send("go\n")
    assert w.wait() == 0, w.stderr
    assert t.wait() == 0, t.stderr
    full = expected_lines(run)
    assert t.seen == full[len(full) - len(t.seen) :]
    seqs = [e["seq"] for e in json_lines(t.seen)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert json_lines(t.seen)[0]["seq"] >= 51  # nothing of the first 50 events
    assert json_lines(t.seen)[-1]["type"] == "run_end"


def test_type_filter(tmp_path: Path) -> None:
    """--type prints only the named kinds."""
    run = tmp_path / "run"
    w = writer(run, "--n", "120")
    assert w.wait() == 0
    t = tail(run, "--events", "--json", "--type", "params", "-t", "run_end")
    assert t.wait() == 0, t.stderr
    kinds = {e["type"] for e in json_lines(t.seen)}
    assert kinds == {"params", "run_end"}
    wanted = ('"type":"params"', '"type":"run_end"')
    assert t.seen == [line for line in expected_lines(run) if any(w in line for w in wanted)]


def test_json_stream_has_events_notices_and_end(tmp_path: Path) -> None:
    """--json: event objects in order, notices (a NaN metric), and a final end object with exit 0."""
    run = tmp_path / "run"
    t = tail(run, "--json")
    t.wait_for('"notice":"waiting"')  # the tail is up before the run exists, however slow its start
    w = writer(run, "--n", "120", "--start-delay", "0.2")
    assert w.wait() == 0
    assert t.wait() == 0, t.stderr
    objs = json_lines(t.seen)
    events = [o["event"] for o in objs if o["kind"] == "event"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "run_end"
    notices = {o["notice"] for o in objs if o["kind"] == "notice"}
    assert {"waiting", "found", "nan"} <= notices
    end = {"kind": "end", "reason": "ended", "exit": 0, "last_seq": events[-1]["seq"], "message": None}
    assert objs[-1] == end


def test_notices_from_the_api(tmp_path: Path) -> None:
    """follow(notices=True) reports waiting, found, caught_up and the NaN metric, in stream order."""
    run = tmp_path / "run"
    w = writer(run, "--n", "60", "--start-delay", "0.2")
    kinds = [i.kind for i in follow(run, notices=True, timeout=30) if isinstance(i, Notice)]
    assert w.wait() == 0
    assert kinds[:2] == ["waiting", "found"]
    assert "caught_up" in kinds
    assert "nan" in kinds


def test_plain_output_when_not_a_terminal(tmp_path: Path) -> None:
    """Without a terminal and without --json: one row per event, warnings, a closing summary."""
    run = tmp_path / "run"
    w = writer(run, "--n", "60")
    assert w.wait() == 0
    t = tail(run)
    assert t.wait() == 0, t.stderr
    out = "".join(t.seen)
    assert "run_start" in out and "run_end" in out
    assert "! nan: metric train/loss is NaN at step 49" in out
    assert "status: ended (ok)" in out
    assert "metric train/acc = " in out


def test_resumed_run_is_followed_past_its_first_run_end(tmp_path: Path) -> None:
    """A run ended, then resumed by a new writer session: catching up does not stop at the first
    run end; the tail ends at the last one."""
    from vrx_core.events import Metric
    from vrx_core.log.writer import Recorder

    run = tmp_path / "run"
    with Recorder(run) as rec:
        rec.emit(Metric(name="a", value=1.0))
    with Recorder(run, resume="allow") as rec:
        rec.emit(Metric(name="a", value=2.0))
    t = tail(run, "--events", "--json")
    assert t.wait() == 0, t.stderr
    assert t.seen == expected_lines(run)
    assert [e["type"] for e in json_lines(t.seen)].count("run_end") == 2
