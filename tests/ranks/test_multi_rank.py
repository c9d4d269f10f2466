"""Multi-rank runs: one log per rank, merged on read by (t, rank, seq), each event with its rank."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_core import Recorder, read_events
from vrx_core.capture.ranks import resolve_ranks
from vrx_core.errors import RunExists, UsageError
from vrx_core.events import Metric, RunStart
from vrx_core.log.merge import RunReader

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from vrx_core import Recorder
    from vrx_core.events import Metric
    run, steps, pause, back = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
    with Recorder(run) as rec:  # rank and world size from RANK / WORLD_SIZE, as under torchrun
        print("started", flush=True)
        for step in range(steps):
            m = Metric(name="loss", value=float(step), step=step)
            if back and step == steps // 2:
                rec.emit_at(m, time.time() - 3600.0)  # this rank's clock stepped back an hour
            else:
                rec.emit(m)
            time.sleep(pause)
    """
)


def _spawn(
    run: Path,
    rank: int,
    world: int,
    *,
    steps: int = 20,
    pause: float = 0.0,
    back: bool = False,
    watch: bool = False,
) -> Any:
    env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)}
    argv = [sys.executable, "-c", WRITER, str(run), str(steps), str(pause), "1" if back else "0"]
    out = subprocess.PIPE if watch else subprocess.DEVNULL
    return subprocess.Popen(argv, env=env, stdout=out, text=True)


def _record(run: Path, world: int = 4, **kwargs: Any) -> None:
    procs = [_spawn(run, r, world, **kwargs) for r in range(world)]
    for p in procs:
        assert p.wait(timeout=60) == 0


def _key(e: Any) -> tuple[float, int, int]:
    return (e.t, e.rank, e.seq)


def test_four_writer_processes_each_write_their_own_log(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _record(run)
    assert sorted(p.name for p in run.iterdir()) == [f"events.rank{r}.jsonl" for r in range(4)]
    events = list(read_events(run))
    assert len(events) == 4 * (20 + 3)  # run_start, 20 metrics, sync, run_end per rank
    assert [_key(e) for e in events] == sorted(_key(e) for e in events)  # merged by (t, rank, seq)
    for rank in range(4):
        mine = [e for e in events if e.rank == rank]
        assert [e.seq for e in mine] == list(range(len(mine)))  # each rank's own dense seq
        start = mine[0]
        assert isinstance(start, RunStart)
        assert (start.global_rank, start.world_size, start.local_rank) == (rank, 4, rank)
        assert start.monotonic is not None and start.clock_offset_s is None  # no process group


def test_merged_reading_is_deterministic_and_lazy(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _record(run, world=3)
    first = [(e.rank, e.seq) for e in read_events(run)]
    assert first == [(e.rank, e.seq) for e in read_events(run)]
    reader = RunReader(run)
    it = iter(reader)
    next(it)  # the heap holds one event per rank, not whole logs
    assert all(r.lines <= 2 for r in reader.reports.values())


def test_a_rank_killed_mid_run_is_named_and_the_others_still_read(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    run = tmp_path / "run"
    slow = _spawn(run, 2, 4, steps=10_000, pause=0.001, watch=True)
    assert slow.stdout is not None and slow.stdout.readline().strip() == "started"
    slow.stdout.close()
    time.sleep(0.2)
    _record_others = [_spawn(run, r, 4) for r in (0, 1, 3)]
    for p in _record_others:
        assert p.wait(timeout=60) == 0
    slow.send_signal(signal.SIGKILL)
    slow.wait()
    events = list(read_events(run))
    assert {e.rank for e in events} == {0, 1, 2, 3}
    result = cli("verify", str(run))
    assert result.code == 3
    assert "INCOMPLETE: " in result.out and "events.rank2.jsonl" in result.out
    assert "no run_end (crashed or still running)" in result.out


def test_a_missing_rank_is_named_by_verify(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = tmp_path / "run"
    _record(run, world=3)
    (run / "events.rank1.jsonl").unlink()
    result = cli("verify", str(run))
    assert result.code == 3 and f"{run}: rank 1: no log (events.rank1.jsonl missing)" in result.out
    payload = json.loads(cli("verify", "--json", str(run)).out)
    assert payload["missing_ranks"] == [1] and set(payload["ranks"]) == {"0", "2"}


def test_a_rank_whose_clock_stepped_back_keeps_its_order_and_loses_nothing(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _record(run, world=2, steps=10, back=True)
    events = list(read_events(run))
    assert len(events) == 2 * (10 + 3)
    for rank in (0, 1):
        assert [e.seq for e in events if e.rank == rank] == list(range(13))
    again = [(e.rank, e.seq) for e in read_events(run)]
    assert again == [(e.rank, e.seq) for e in events]


def test_vrx_events_tags_and_filters_ranks(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = tmp_path / "run"
    _record(run, world=2, steps=3)
    table = cli("events", str(run)).out.splitlines()
    assert any(line.split()[0] == "1:2" for line in table[1:])
    lines = [json.loads(x) for x in cli("events", "--json", "--rank", "1", str(run)).out.splitlines()]
    assert {x["rank"] for x in lines} == {1} and len(lines) == 6
    single = tmp_path / "single"
    with Recorder(single):
        pass
    r = cli("events", "--rank", "0", str(single))
    assert r.code == 2 and "recorded by a single process" in r.err


def test_a_run_is_single_process_or_multi_rank_never_both(tmp_path: Path) -> None:
    with Recorder(tmp_path / "multi", rank=0, world_size=2):
        pass
    with pytest.raises(RunExists, match="per-rank logs"):
        Recorder(tmp_path / "multi")
    with Recorder(tmp_path / "single"):
        pass
    with pytest.raises(RunExists, match="a rank cannot join it"):
        Recorder(tmp_path / "single", rank=1, world_size=2)


def test_a_rank_resumes_its_own_log(tmp_path: Path) -> None:
    with Recorder(tmp_path / "r", rank=1, world_size=2) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    with Recorder(tmp_path / "r", rank=1, world_size=2, resume="allow") as rec:
        rec.emit(Metric(name="loss", value=0.5, step=1))
    assert [e.seq for e in read_events(tmp_path / "r")][-1] > 4


@pytest.mark.parametrize(
    ("args", "environ", "message"),
    [
        ({}, {"WORLD_SIZE": "4", "RANK": "x"}, "$RANK must be an integer"),
        ({}, {"WORLD_SIZE": "4"}, "no rank"),
        ({"rank": 4, "world_size": 4}, {}, "rank must be in 0..3"),
        ({"rank": 1}, {}, "without a world_size > 1"),
    ],
)
def test_rank_settings_errors(args: dict[str, int], environ: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("$", r"\$").replace(".", r"\.")):
        resolve_ranks(**args, environ=environ)


def test_a_world_of_one_is_a_single_process_run(tmp_path: Path) -> None:
    assert resolve_ranks(environ={"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert resolve_ranks(rank=2, world_size=4, environ={"RANK": "0", "WORLD_SIZE": "8"}) is not None


GLOO = textwrap.dedent(
    """
    import sys
    import torch.distributed as dist
    from vrx_core import MgrLayout, Recorder
    from vrx_core.events import Metric
    dist.init_process_group("gloo")
    with Recorder(sys.argv[1]) as rec:
        rec.emit(Metric(name="loss", value=float(dist.get_rank()), step=0))
    # a layout: rank 0 creates the directory, every rank records into it
    with Recorder(layout=MgrLayout(kind="bench", topic="ddp", root=sys.argv[2]), environment=False) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    print(rec.run_dir, flush=True)
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_torch_distributed_gloo_group_measures_each_ranks_clock_offset(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
        argv = [sys.executable, "-c", GLOO, str(tmp_path / "run"), str(tmp_path / "artifacts")]
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    starts = [e for e in read_events(tmp_path / "run") if isinstance(e, RunStart)]
    assert sorted(s.rank for s in starts) == [0, 1]
    for s in starts:
        assert s.clock_offset_s is not None and abs(s.clock_offset_s) < 1.0  # one host: one clock
    assert {s.clock_offset_s for s in starts if s.rank == 0} == {0.0}
    from vrx_core.engine.verify import verify_run

    verdict = verify_run(tmp_path / "run")
    assert verdict.exit_code == 0 and set(verdict.skew) == {"0", "1"}
    assert any("clock offset to rank 0, measured at start: rank 0 +0.000 ms" in x for x in verdict.lines())
    placed = {line.strip() for line in outs}
    assert len(placed) == 1  # both ranks in the one directory rank 0 created
    run = Path(placed.pop())
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".jsonl") == [
        "events.rank0.jsonl",
        "events.rank1.jsonl",
    ]


def test_vrx_ls_lists_a_multi_rank_run_once_with_each_ranks_status(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    run = tmp_path / "run"
    _record(run, world=3, steps=2)
    with Recorder(tmp_path / "live", rank=1, world_size=2):
        with Recorder(tmp_path / "live", rank=0, world_size=2):
            pass
        rows = {Path(r["path"]).name: r for r in json.loads(cli("ls", "--json", str(tmp_path)).out)}
    assert set(rows) == {"run", "live"}
    assert rows["run"]["status"] == "ended" and rows["run"]["ranks"] == {
        "0": "ended",
        "1": "ended",
        "2": "ended",
    }
    assert rows["run"]["lines"] == 3 * 5
    assert rows["live"]["status"] == "running"  # rank 1 still writes
    assert rows["live"]["ranks"] == {"0": "ended", "1": "running"}
    assert "rank 1: running" in rows["live"]["why"]


def test_replay_of_a_multi_rank_run_feeds_every_rank_to_the_derivers(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """Derivers see each event's rank: summary.json is rank 0's, an rvinci metrics.json keeps every
    rank's series; derived.json records each rank's log; --check finds no drift."""
    from vrx_core import RvinciLayout

    run = tmp_path / "run"
    for rank in (1, 0):
        with Recorder(run, rank=rank, world_size=2) as rec:
            for step in range(3):
                rec.emit(Metric(name="loss", value=float(10 * rank + step), step=step))
    assert cli("replay", str(run)).code == 0, "replay"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["results"]["losses"] == [0.0, 1.0, 2.0]  # rank 0's
    derived = json.loads((run / "derived.json").read_text())
    assert set(derived["log"]["ranks"]) == {"0", "1"}
    assert derived["log"]["ranks"]["1"]["path"] == "events.rank1.jsonl"
    assert cli("replay", "--check", str(run)).code == 0
    (run / "events.rank1.jsonl").write_bytes((run / "events.rank1.jsonl").read_bytes()[:50])
    r = cli("replay", str(run))
    assert r.code == 65 and "rank 1: the log is 50 bytes, shorter than" in r.err
    layout = RvinciLayout(project="p", root=tmp_path / "runs")
    from vrx_core.log.layout import create_run_dir

    placed = create_run_dir(layout, git_hash="abc1234")
    with Recorder(placed, rank=0, world_size=2) as rec:
        rec.emit(layout.event(placed.name))
        rec.emit(Metric(name="loss", value=1.0, step=0))
    with Recorder(placed, rank=1, world_size=2) as rec:
        rec.emit(Metric(name="loss", value=2.0, step=0))
    assert cli("replay", str(placed)).code == 0
    series = json.loads((placed / "metrics.json").read_text())["series"]
    assert series == {"loss": [[0, 1.0]], "loss@rank1": [[0, 2.0]]}


def test_check_ignores_which_plugin_code_replayed_the_run(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = tmp_path / "run"
    with Recorder(run) as rec:
        rec.emit(Metric(name="loss", value=1.0, step=0))
    assert cli("replay", str(run)).code == 0
    derived = json.loads((run / "derived.json").read_text())
    derived["plugins"] = {"telemetry": {"version": "0.0.1", "code": "0" * 64}}  # replayed by other code
    (run / "derived.json").write_text(json.dumps(derived, indent=2, sort_keys=True) + "\n")
    assert cli("replay", "--check", str(run)).code == 0


def test_fleet_verify_checks_each_ranks_log(tmp_path: Path, cli: Callable[..., Any]) -> None:
    for name in ("whole", "partial"):
        for rank in range(2):
            with Recorder(tmp_path / name, rank=rank, world_size=2):
                pass
    (tmp_path / "partial" / "events.rank1.jsonl").unlink()
    r = cli("fleet", "verify", "--json", "-j", "1", str(tmp_path))
    rows = {Path(x["path"]).name: x for x in json.loads(r.out)["rows"]}
    assert r.code == 3
    assert rows["whole"]["status"] == "ok"
    assert rows["partial"]["status"] == "incomplete" and "rank 1: no log" in rows["partial"]["reason"]


def test_fleet_skips_an_up_to_date_multi_rank_run_and_replays_one_whose_rank_grew(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    run = tmp_path / "run"
    for rank in range(2):
        with Recorder(run, rank=rank, world_size=2) as rec:
            rec.emit(Metric(name="loss", value=1.0, step=0))

    def statuses() -> list[str]:
        out = cli("fleet", "replay", "--json", "-j", "1", str(tmp_path)).out
        return [row["status"] for row in json.loads(out)["rows"]]

    assert statuses() == ["replayed"]
    before = (run / "derived.json").stat().st_mtime_ns
    assert statuses() == ["skipped"]
    assert (run / "derived.json").stat().st_mtime_ns == before
    with Recorder(run, rank=1, world_size=2, resume="allow") as rec:
        rec.emit(Metric(name="loss", value=0.5, step=1))
    assert statuses() == ["replayed"]
