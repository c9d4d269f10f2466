"""What a Recorder does with a log already in its directory: the choice is explicit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vrx_core import Recorder, read_events
from vrx_core.errors import ExitCode, NoSuchRun, RunExists
from vrx_core.events import Metric, Resumed
from vrx_core.testing import write_log


def _ended(tmp_path: Path) -> Path:
    return write_log(tmp_path / "run", [Metric("loss", 1.0, 1)])


def _open(tmp_path: Path) -> Path:
    rec = Recorder(tmp_path / "run")
    rec.emit(Metric("loss", 1.0, 1))
    rec.close(end=False)  # as a crashed or still-running writer leaves it: no run_end
    return tmp_path / "run"


def test_auto_refuses_an_ended_run_saying_how_to_proceed(tmp_path: Path) -> None:
    run = _ended(tmp_path)
    before = (run / "events.jsonl").read_bytes()
    with pytest.raises(RunExists) as info:
        Recorder(run)
    assert info.value.exit_code == ExitCode.CANTCREAT
    message = str(info.value)
    assert "ended" in message and "Recorder.fresh" in message and 'resume="allow"' in message
    assert (run / "events.jsonl").read_bytes() == before


def test_auto_resumes_a_crashed_or_open_run(tmp_path: Path) -> None:
    run = _open(tmp_path)
    with Recorder(run) as rec:
        rec.emit(Metric("loss", 0.5, 2))
    assert sum(isinstance(e, Resumed) for e in read_events(run)) == 1


def test_allow_reopens_an_ended_run(tmp_path: Path) -> None:
    run = _ended(tmp_path)
    with Recorder(run, resume="allow") as rec:
        rec.emit(Metric("loss", 0.5, 2))
    assert [e.step for e in read_events(run) if isinstance(e, Metric)] == [1, 2]


@pytest.mark.parametrize("make", [_ended, _open])
def test_never_refuses_any_existing_log(tmp_path: Path, make: object) -> None:
    run = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(RunExists, match="never"):
        Recorder(run, resume="never")


def test_must_requires_a_log(tmp_path: Path) -> None:
    with pytest.raises(NoSuchRun, match="must"):
        Recorder(tmp_path / "nothing", resume="must")
    run = _open(tmp_path)
    Recorder(run, resume="must").close()


def test_fresh_makes_a_new_unique_directory_each_time(tmp_path: Path) -> None:
    dirs = []
    for _ in range(3):
        with Recorder.fresh(tmp_path / "runs", "train") as rec:
            rec.emit(Metric("loss", 1.0, 1))
            dirs.append(rec.run_dir)
    assert len(set(dirs)) == 3
    names = [d.name for d in dirs]
    assert all(re.fullmatch(r"train-\d{8}-\d{6}(-\d+)?", n) for n in names), names
    assert all(len(list(read_events(d))) > 0 for d in dirs)


def test_ingest_takes_the_same_choice(cli, tmp_path: Path) -> None:
    run = _ended(tmp_path)
    feed = tmp_path / "in.jsonl"
    feed.write_text('{"type":"metric","name":"x","value":1.0}\n')
    r = cli("ingest", str(run), str(feed))
    assert r.code == 73 and "ended" in r.err
    assert cli("ingest", str(run), str(feed), "--resume", "allow").code == 0
    assert cli("ingest", str(tmp_path / "new"), str(feed), "--resume", "must").code == 66
    assert cli("ingest", str(run), str(feed), "--resume", "never").code == 73
