"""The tail of a multi-rank run: per-rank logs followed live, merged by (t, rank, seq) up to the low
watermark of the ranks still running, each event with its rank; a dead rank named, the others on."""

from __future__ import annotations

import io
import json
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _tail_harness import WAIT, Proc
from rich.console import Console

from vrx_core import read_events
from vrx_core.cli.tail_view import TailState, render_view
from vrx_core.events import Metric, RunEnd, RunStart
from vrx_core.follow.choose import is_multi_rank, make_follower
from vrx_core.follow.follower import follow
from vrx_core.follow.ranks import RankedFollower
from vrx_core.follow.stream import Notice, TailItem, WriterDead
from vrx_core.log.writer import Recorder

WRITER = textwrap.dedent(
    """
    import sys, time
    from vrx_core import Recorder
    from vrx_core.events import Metric
    run, steps, pause, hang = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    rec = Recorder(run, heartbeat_s=0.2)  # rank and world size from RANK / WORLD_SIZE
    print("started", flush=True)
    for step in range(steps):
        rec.emit(Metric(name="loss", value=float(step), step=step))
        time.sleep(pause)
    print("done", flush=True)
    time.sleep(hang)  # open and quiet: the heartbeat goes on
    rec.close()
    """
)


def _rank(run: Path, rank: int, world: int, steps: int, *, pause: float = 0.002, hang: float = 0.0) -> Proc:
    argv = [sys.executable, "-c", WRITER, str(run), str(steps), str(pause), str(hang)]
    return Proc(argv, env={"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})


def _wait_for_a_log(run: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not is_multi_rank(run):
        assert time.monotonic() < deadline, "no rank log appeared"
        time.sleep(0.005)


def _key(e: Any) -> tuple[float, int, int]:
    return (e.t, e.rank, e.seq)


def _events(items: list[TailItem]) -> list[Any]:
    return [i for i in items if not isinstance(i, Notice)]


def test_four_live_ranks_arrive_once_each_in_merged_order_with_their_rank(tmp_path: Path) -> None:
    run = tmp_path / "run"
    stream = follow(run, notices=True, timeout=WAIT, dead_after_s=WAIT)
    items = [next(stream)]  # waiting for a run that does not exist yet
    procs = [_rank(run, r, 4, 60) for r in range(4)]
    items += stream  # the ranks' logs appear: their follower takes over
    for p in procs:
        assert p.wait() == 0
    notices = [n for n in items if isinstance(n, Notice)]
    assert notices[0].kind == "waiting"
    assert sorted(n.rank for n in notices if n.kind == "found") == [0, 1, 2, 3]
    events = _events(items)
    keys = [_key(e) for e in events]
    assert keys == sorted(keys)  # non-decreasing (t, rank, seq): the watermark held them back
    assert len(set(keys)) == len(keys) == 4 * (60 + 3)  # run_start, 60 metrics, sync, run_end each
    assert keys == [_key(e) for e in read_events(run)]  # the live merge is the finished run's merge
    for rank in range(4):
        mine = [e for e in events if e.rank == rank]
        assert [e.seq for e in mine] == list(range(63))
        assert isinstance(mine[0], RunStart) and mine[0].global_rank == rank
        assert isinstance(mine[-1], RunEnd)
    assert not [n for n in items if isinstance(n, Notice) and n.level == "warning"]


def test_a_rank_that_starts_late_joins_when_its_log_appears(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = _rank(run, 0, 2, 80, pause=0.005)
    _wait_for_a_log(run)
    with RankedFollower(run, dead_after_s=WAIT, hold_s=0.1) as f:
        items = f.read(timeout=0.3)  # rank 0 streams on while rank 1 has no log yet
        late = _rank(run, 1, 2, 20)
        while not f.ended:
            items += f.read(timeout=WAIT)
    assert first.wait() == 0 and late.wait() == 0
    notices = [i for i in items if isinstance(i, Notice)]
    assert any(n.kind == "waiting" and "rank(s) 1 (world size 2)" in n.message for n in notices)
    found = [n for n in notices if n.kind == "found"]
    assert [(n.rank, n.message.startswith("rank 1: event log appeared")) for n in found] == [(1, True)]
    events = _events(items)
    assert sorted(_key(e) for e in events) == [_key(e) for e in read_events(run)]  # each once
    assert [_key(e) for e in events] == sorted(_key(e) for e in events)
    assert {e.rank for e in events} == {0, 1}


def test_a_quiet_rank_holds_the_others_back_only_briefly(tmp_path: Path) -> None:
    run = tmp_path / "run"
    quiet = _rank(run, 1, 2, 0, hang=1.0)  # run_start, then nothing (heartbeat alive) for 1 s
    quiet.wait_for("done")
    busy = _rank(run, 0, 2, 20, pause=0.005)
    seen: dict[str, float] = {}
    with RankedFollower(run, dead_after_s=WAIT, hold_s=0.2) as f:
        while not f.ended:
            for item in f.read(timeout=WAIT):
                if isinstance(item, RunEnd):
                    seen[f"end{item.rank}"] = time.monotonic()
    assert busy.wait() == 0 and quiet.wait() == 0
    assert seen["end1"] - seen["end0"] > 0.3  # rank 0's events (its run_end too) did not wait for rank 1


def test_a_dead_rank_is_named_the_others_stream_on_and_the_end_says_who_died(tmp_path: Path) -> None:
    run = tmp_path / "run"
    victim = _rank(run, 2, 4, 10, hang=60)
    victim.wait_for("done")
    others = [_rank(run, r, 4, 150, pause=0.01) for r in (0, 1, 3)]
    items: list[TailItem] = []
    killed = False
    with pytest.raises(WriterDead) as err, RankedFollower(run, dead_after_s=0.5, hold_s=0.2) as f:
        while True:
            items += f.read(timeout=0.05)
            if not killed and any(isinstance(i, Metric) and i.rank == 0 for i in items):
                victim.kill()  # SIGKILL while the others stream (and reaped: its pid is gone)
                killed = True
    for p in others:
        assert p.wait() == 0
    dead = [i for i in items if isinstance(i, Notice) and i.kind == "rank_dead"]
    assert len(dead) == 1 and dead[0].rank == 2 and dead[0].level == "warning"
    assert dead[0].message.startswith("rank 2: writer presumed dead: the writer process (pid ")
    assert dead[0].to_json()["rank"] == 2
    after = _events(items[items.index(dead[0]) :])
    assert {0, 1, 3} <= {e.rank for e in after}  # the others went on after the verdict
    assert "rank 2: the writer process" in str(err.value) and "rank(s) 0, 1, 3 ended" in str(err.value)
    events = _events(items)
    assert sorted(_key(e) for e in events) == [_key(e) for e in read_events(run)]  # nothing lost


def _finished(run: Path, world: int = 2, steps: int = 3) -> None:
    for rank in range(world):
        with Recorder(run, rank=rank, world_size=world) as rec:
            for step in range(steps):
                rec.emit(Metric(name="loss", value=float("nan") if step == 1 else 1.0, step=step))


def test_a_finished_run_is_followed_as_it_reads(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _finished(run, world=3)
    f = make_follower(run)
    assert isinstance(f, RankedFollower)
    f.close()
    items = list(follow(run, notices=True, timeout=WAIT))
    assert [_key(e) for e in _events(items)] == [_key(e) for e in read_events(run)]
    nan = [n for n in items if isinstance(n, Notice) and n.kind == "nan"]
    assert sorted(n.rank for n in nan) == [0, 1, 2]  # each rank's metric on its own, named
    assert all(n.message.startswith(f"rank {n.rank}: metric loss is NaN") for n in nan)
    with RankedFollower(run) as f:  # the live view: rank 0's identity, the ranks, a row per rank's metric
        state = TailState(f)
        for item in f.catch_up():
            state.update(item)
    buf = io.StringIO()
    Console(file=buf, width=120).print(render_view(state))
    text = buf.getvalue()
    assert "3 (world size 3): ended 0, 1, 2" in text and "loss [r2]" in text and "ended (ok)" in text
    assert state.run_start is not None and state.run_start.rank == 0


def test_vrx_tail_json_and_plain_lines_carry_the_rank(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = tmp_path / "run"
    _finished(run)
    result = cli("tail", "--json", str(run))
    assert result.code == 0, result.err
    lines = [json.loads(x) for x in result.out.splitlines()]
    events = [x["event"] for x in lines if x["kind"] == "event"]
    assert len(events) == 2 * (3 + 3) and {e["rank"] for e in events} == {0, 1}
    assert [(e["rank"], e["seq"]) for e in events] == [(e.rank, e.seq) for e in read_events(run)]
    nan = [x for x in lines if x["kind"] == "notice" and x["notice"] == "nan"]
    assert sorted(x["rank"] for x in nan) == [0, 1]
    assert lines[-1]["kind"] == "end" and lines[-1]["reason"] == "ended" and lines[-1]["exit"] == 0
    plain = cli("tail", "--plain", str(run))
    assert plain.code == 0
    rows = plain.out.splitlines()
    assert any(row.split()[0] == "1:4" for row in rows)  # rank:seq, as vrx events prints it
    assert any(row.startswith("! nan: rank 1: metric loss is NaN") for row in rows)
    assert any("ranks: 2 (world size 2): ended 0, 1" in row for row in rows)
    state = json.loads(cli("tail", "--once", "--json", str(run)).out)
    assert state["ranks"] == {"0": "ended", "1": "ended"} and state["ended"] is True
    assert set(state["metrics"]) == {"loss [r0]", "loss [r1]"}


def test_vrx_tail_waiting_for_a_run_follows_the_ranks_that_appear(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    run = tmp_path / "run"
    later = threading.Timer(0.3, _finished, args=(run,))
    later.start()
    try:
        result = cli("tail", "--json", "--timeout", str(WAIT), str(run))
    finally:
        later.join()
    assert result.code == 0, result.err
    lines = [json.loads(x) for x in result.out.splitlines()]
    notices = [(x["notice"], x.get("rank")) for x in lines if x["kind"] == "notice"]
    assert notices[0] == ("waiting", None) and ("found", 0) in notices and ("found", 1) in notices
    events = [x["event"] for x in lines if x["kind"] == "event"]
    assert [(e["rank"], e["seq"]) for e in events] == [(e.rank, e.seq) for e in read_events(run)]
    assert lines[-1]["kind"] == "end" and lines[-1]["reason"] == "ended"
