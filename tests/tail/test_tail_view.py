"""What `vrx tail` shows: snapshots and params as key/value rows, metric statistics and sparklines,
progress from a ``plan``, the ended status, and a live view that Ctrl-C leaves on screen once."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _tail_harness import PLUGINS_DIR, WAIT, _env, json_lines, tail, writer

from vrx_core.cli.tail_format import flatten, sparkline
from vrx_core.cli.tail_view import TailState, render_view
from vrx_core.events import Metric, Params, Plan, RunEnd
from vrx_core.follow.follower import Follower
from vrx_core.log.reader import LogReader


def _text(state: TailState, width: int = 100) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(render_view(state))
    return console.export_text()


def _line(text: str, needle: str) -> str:
    """The one line of the view holding ``needle`` (the ``dir`` row, a test's tmp path, aside)."""
    (line,) = [ln for ln in text.splitlines() if needle in ln and not ln.startswith("│ dir ")]
    return line


# -- snapshots and params as key/value rows -----------------------------------------------------


def test_flatten_nested_values_to_dotted_keys() -> None:
    """Nested objects become dotted keys, lists of scalars one value, lists of objects one row
    per item named by its ``name`` (or its index), with the item's fields inline."""
    rows = flatten(
        {
            "camera": {"fps": 29.97, "sensor": {"w": 1920}},
            "tags": ["a", 1, None, True],
            "thresholds": [{"name": "min_fps", "op": ">=", "limit": 29.0, "passed": True}],
            "points": [{"x": 1}, {"x": 2}],
            "empty": {},
            "nan": float("nan"),
        }
    )
    assert rows == [
        ("camera.fps", "29.97"),
        ("camera.sensor.w", "1920"),
        ("tags", "a, 1, -, true"),
        ("thresholds.min_fps", "op=>= limit=29 passed=true"),
        ("points[0]", "x=1"),
        ("points[1]", "x=2"),
        ("empty", "{}"),
        ("nan", "NaN"),
    ]


def test_snapshots_are_key_value_rows_cut_to_the_width(tmp_path: Path) -> None:
    """A plugin snapshot is shown as key/value rows, not one-line JSON wrapping mid-word at 80
    columns: a long value is cut with an ellipsis on its own row; an empty snapshot is omitted."""
    with Follower(tmp_path / "run") as f:
        state = TailState(f)
        state.snapshots = {
            "probe": {
                "camera": {"fps": 29.97, "exposure_us": 8000},
                "thresholds": [{"name": "min_avg_fps", "op": ">=", "limit": 29.0, "passed": True}],
                "note": "lorem ipsum " * 30,
            },
            "frame_triage": {},
        }
        text = _text(state, width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert '{"' not in text and "frame_triage" not in text
    assert "29.97" in _line(text, "camera.fps")
    assert "op=>= limit=29 passed=true" in _line(text, "thresholds.min_avg_fps")
    note = _line(text, "lorem ipsum")  # exactly one row: cut, not wrapped
    assert "note" in note and "…" in note


def test_params_are_shown_merged(tmp_path: Path) -> None:
    """The run's params (``params`` events merged, later keys winning) are in the view and the state."""
    with Follower(tmp_path / "run") as f:
        state = TailState(f)
        state.update(Params(values={"lr": 0.1, "optimizer": {"name": "adamw"}}, seq=1, t=1.0))
        state.update(Params(values={"lr": 0.01}, seq=2, t=2.0))
        text = _text(state)
        assert state.to_json()["params"] == {"lr": 0.01, "optimizer": {"name": "adamw"}}
    assert "0.01" in _line(text, "lr ")
    assert "adamw" in _line(text, "optimizer.name")


# -- metrics --------------------------------------------------------------------------------------


def test_sparkline_scales_and_marks_non_finite_values() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, float("nan"), float("inf"), float("-inf"), 2.0]) == "▁!↑↓█"
    assert sparkline([5.0, 5.0]) == "▄▄"
    assert sparkline([-1e308, 1e308]) == "▁█"  # no overflow
    assert sparkline([]) == ""


def test_metric_rows_show_last_min_max_and_sparkline(tmp_path: Path) -> None:
    """Per metric: the last value, the min and max of its finite values, and its recent values with
    the NaN marked; the state's JSON gains min and max."""
    with Follower(tmp_path / "run") as f:
        state = TailState(f)
        for i, v in enumerate([0.5, 0.25, float("nan"), 1.0], 1):
            state.update(Metric(name="loss", value=v, step=i, seq=i, t=float(i)))
        text = _text(state)
        js = state.to_json()["metrics"]["loss"]
    row = _line(text, "loss").split()
    assert row[:5] == ["│", "loss", "1", "0.25", "1"] and "▃▁!█" in row
    assert (js["value"], js["min"], js["max"], js["count"]) == (1.0, 0.25, 1.0, 4)


def test_no_heartbeat_after_the_run_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the run goes on the view shows the heartbeat's age; once it ended, the ended status
    and no heartbeat."""
    with Follower(tmp_path / "run") as f:
        monkeypatch.setattr(f, "heartbeat_age", lambda: 0.022)
        state = TailState(f)
        state.update(Metric(name="loss", value=0.5, step=1, seq=1, t=1.0))
        assert "heartbeat 22 ms ago" in _line(_text(state), "watch")
        state.update(RunEnd(count=2, bytes_before=10, sha256="0" * 64, seq=2, t=2.0))
        text = _text(state)
    assert "heartbeat" not in _line(text, "watch") and "ended (ok)" in _line(text, "status")


# -- progress -----------------------------------------------------------------------------------


def test_progress_from_plan_and_metric_steps(tmp_path: Path) -> None:
    """Done is the highest metric step; the rate comes from event times (here decades before the
    tail's clock), the ETA from the rate; after the run end there is no ETA."""
    with Follower(tmp_path / "run") as f:
        state = TailState(f)
        assert state.progress() is None and state.to_json()["progress"] is None
        state.update(Plan(total=100, seq=0, t=1000.0))
        for step in range(1, 41):
            state.update(Metric(name="loss", value=1.0, step=step, seq=step, t=1000.0 + step * 0.5))
        state.update(Metric(name="acc", value=1.0, step=7, seq=41, t=1020.5))  # not the highest
        p = state.progress()
        assert p is not None
        assert (p.done, p.total, p.unit, p.fraction) == (40, 100, "steps", 0.4)
        assert p.rate == pytest.approx(2.0) and p.eta_s == pytest.approx(30.0)
        assert p.text() == "40/100 steps (40%)  2 steps/s  ETA 0:00:30"
        assert "40/100 steps (40%)  2 steps/s  ETA 0:00:30" in _line(_text(state), "progress")
        assert state.to_json()["progress"] == {
            "done": 40,
            "total": 100,
            "unit": "steps",
            "fraction": 0.4,
            "rate": pytest.approx(2.0),
            "eta_s": pytest.approx(30.0),
        }
        state.update(RunEnd(count=42, bytes_before=10, sha256="0" * 64, seq=42, t=1021.0))
        p = state.progress()
        assert p is not None and p.eta_s is None and "ETA" not in p.text()


def test_ingest_accepts_a_plan(tmp_path: Path, cli: Any) -> None:
    """`plan` is a core kind: `vrx ingest` takes it from any language."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"type":"plan","total":100}\n{"type":"plan","total":5,"unit":"epochs"}\n')
    r = cli("ingest", str(tmp_path / "run"), str(src))
    assert r.code == 0, r.err
    plans = [ev for ev in LogReader(tmp_path / "run") if isinstance(ev, Plan)]
    assert [(p.total, p.unit) for p in plans] == [(100, "steps"), (5, "epochs")]


def test_progress_in_the_plain_and_json_outputs(tmp_path: Path) -> None:
    """A live run with a plan: `--once --json` has progress and params in its state; a streaming
    `--json` tail prints a progress notice and the progress in its end object; a plain tail prints
    a progress line and the progress in its summary."""
    run = tmp_path / "run"
    w = writer(run, "--plan", "200", "--n", "100", "--interval", "0.002", "--then", "hang")
    w.wait_for("idle")
    once = tail(run, "--once", "--json")
    assert once.wait() == 0, once.stderr
    (state,) = json_lines(once.seen)
    assert state["progress"]["done"] == 99 and state["progress"]["total"] == 200  # step 99: a NaN
    assert state["progress"]["rate"] > 0 and state["progress"]["eta_s"] > 0
    assert state["params"]["name"] == "run-94"

    js = tail(run, "--json", "--timeout", "1.5")
    plain = tail(run, "--plain", "--timeout", "1.5", env={"COLUMNS": "80"})
    assert js.wait() == 124 and plain.wait() == 124
    objs = json_lines(js.seen)
    (notice,) = [o for o in objs if o.get("notice") == "progress"]
    assert notice["level"] == "info" and notice["message"].startswith("99/200 steps (50%)  ")
    assert notice["progress"]["done"] == 99
    assert objs[-1]["kind"] == "end" and objs[-1]["progress"]["total"] == 200
    out = "".join(plain.seen)
    assert "\n-- progress: 99/200 steps (50%)  " in out
    assert "\n   progress: 99/200 steps (50%)  " in out  # the summary


def test_plain_snapshots_as_rows_and_empty_ones_omitted(tmp_path: Path) -> None:
    """Piped: a snapshot prints as `[plugin]` and key/value rows within 80 columns; a plugin with
    nothing to say about the run (frame_triage on a training run) prints nothing, not `{}`."""
    run = tmp_path / "run"
    w = writer(run, "--n", "60")
    assert w.wait() == 0
    env = {"VRX_LOAD_PLUGINS": "tail_stats,frame_triage", "COLUMNS": "80"}
    t = tail(run, "--plugins-dir", str(PLUGINS_DIR), env=env)
    assert t.wait() == 0, t.stderr
    out = "".join(t.seen)
    assert "[frame_triage]" not in out and "plugin frame_triage" not in out and "{}" not in out
    assert "   [tail_stats]\n" in out and "plugin tail_stats:\n" in out
    assert "\n     kinds.metric " in out and "\n     max_seq " in out
    block = out[out.index("   [tail_stats]\n") :].splitlines()[1:8]
    assert all(line.startswith("     ") and len(line) <= 80 for line in block)
    assert all("{" not in line for line in block)


# -- the live view and Ctrl-C ----------------------------------------------------------------------


def test_live_view_is_stopped_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """finish() redraws, close() stops the Rich live view exactly once, however often it is called."""
    from rich.console import Console
    from rich.live import Live

    from vrx_core.cli.tail_output import make_output

    stops: list[Live] = []
    real_stop = Live.stop
    monkeypatch.setattr(Live, "stop", lambda self: (stops.append(self), real_stop(self))[1])
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    monkeypatch.setattr("rich.console.Console", lambda *a, **k: console)
    args = argparse.Namespace(types=[], from_start=True, once=False, events=False, json=False, plain=False)
    with Follower(tmp_path / "run") as f:
        out = make_output(args, TailState(f))
        with out:
            out.tick()
            out.finish("ended", 0, None)
            out.close()
    assert len(stops) == 1


def _read_until(fd: int, needle: bytes, buf: bytearray) -> bool:
    deadline = time.monotonic() + WAIT
    while needle not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            with contextlib.suppress(OSError):
                buf += os.read(fd, 65536)
    return needle in buf


def test_live_view_turns_echo_off_and_restores_it(tmp_path: Path) -> None:
    """On a terminal the live view stops the echo of keys (an echoed ^C wraps the full-width last
    line, and Rich redrew the final frame a line lower, under a second top border), and Ctrl-C
    (SIGINT) restores it: exit 130."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    assert termios.tcgetattr(slave)[3] & termios.ECHO
    argv = [sys.executable, "-m", "vrx_core", "tail", str(tmp_path / "never")]
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=_env({"TERM": "xterm"}))
    try:
        buf = bytearray()
        assert _read_until(master, b"waiting for the run to start", buf), bytes(buf)
        assert not termios.tcgetattr(slave)[3] & termios.ECHO
        p.send_signal(signal.SIGINT)
        assert _read_until(master, b"vrx: interrupted", buf), bytes(buf)
        assert p.wait(timeout=WAIT) == 130
        assert termios.tcgetattr(slave)[3] & termios.ECHO
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_ctrl_c_leaves_one_frame_on_the_screen(tmp_path: Path) -> None:
    """A real terminal (tmux, 100 columns): Ctrl-C typed into a live view leaves exactly one frame."""
    tm = ["tmux", "-L", f"vrx-test-{os.getpid()}", "-f", "/dev/null"]
    tail_cmd = shlex.join([sys.executable, "-m", "vrx_core", "tail", str(tmp_path / "never")])
    cmd = f"{tail_cmd}; echo EXIT=$?; sleep 60"
    subprocess.run([*tm, "new-session", "-d", "-x", "100", "-y", "30", cmd], check=True, env=_env())

    def screen() -> str:
        return subprocess.run([*tm, "capture-pane", "-p"], check=True, capture_output=True, text=True).stdout

    def wait_for(text: str) -> str:
        deadline = time.monotonic() + WAIT
        while text not in (s := screen()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return s

    try:
        assert "waiting for the run to start" in wait_for("waiting for the run to start")
        subprocess.run([*tm, "send-keys", "C-c"], check=True)
        s = wait_for("EXIT=130")
        assert "EXIT=130" in s, s
        assert s.count("╭") == 1 and s.count("╰") == 1, s
    finally:
        subprocess.run([*tm, "kill-server"], check=False, capture_output=True)
