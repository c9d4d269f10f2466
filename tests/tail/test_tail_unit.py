"""Mount detection, mode selection, the Rich view and the help text, without timing."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
from _tail_harness import expected_lines, tail, writer

import vrx_core.follow.watch as watch_mod
from vrx_core.cli.main import build_parser
from vrx_core.cli.render import event_json_line
from vrx_core.cli.tail_view import TailState, render_view
from vrx_core.events import Log, Metric
from vrx_core.follow.follower import Follower, Notice, follow
from vrx_core.follow.watch import fs_type, is_network_fs

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
server:/export /mnt/nfs nfs4 rw,vers=4.2 0 0
10.0.0.1@tcp:/lfs /lustre lustre rw 0 0
//host/share /mnt/my\\040share cifs rw 0 0
tmpfs /mnt/nfs/scratch tmpfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/mnt/nfs/runs/a", "nfs4"),
        ("/mnt/nfsx/runs", "ext4"),  # a prefix of the name is not a parent directory
        ("/lustre/u/run", "lustre"),
        ("/mnt/my share/run", "cifs"),
        ("/mnt/nfs/scratch/run", "tmpfs"),  # the deepest mount wins
        ("/home/u/run", "ext4"),
    ],
)
def test_fs_type_from_proc_mounts(path: str, kind: str) -> None:
    """The mount holding a path (or its nearest existing ancestor) decides notification vs polling."""
    assert fs_type(path, MOUNTS) == kind
    assert is_network_fs(path, MOUNTS) == (kind in {"nfs4", "lustre", "cifs"})


def test_network_fs_polls_and_still_follows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a network file system the follower polls (reopening the path) and sees every event."""
    monkeypatch.setattr(watch_mod, "is_network_fs", lambda path, mounts=None: True)
    run = tmp_path / "run"
    with Follower(run) as f:
        assert f.mode.startswith("poll (network fs")
    w = writer(run, "--n", "80", "--start-delay", "0.2")
    got = [event_json_line(ev) for ev in follow(run, poll_interval=0.02, timeout=30)]
    assert w.wait() == 0
    assert got == expected_lines(run)


def test_without_inotify_it_polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No inotify (not Linux, no instances left): the follower polls."""
    monkeypatch.setattr(watch_mod, "_inotify_module", lambda: None)
    with Follower(tmp_path) as f:
        assert f.mode == "poll"
    with Follower(tmp_path, poll=True) as f:
        assert f.mode == "poll"


def test_render_view_shows_metrics_plugins_and_warnings(tmp_path: Path) -> None:
    """The live view holds the latest metric values, each plugin's snapshot and the warnings."""
    from rich.console import Console

    with Follower(tmp_path / "run") as f:
        state = TailState(f)
        for item in [
            Metric(name="loss", value=0.5, step=1, seq=1, t=1.0),
            Metric(name="loss", value=float("nan"), step=2, seq=2, t=2.0),
            Log(level="error", msg="CUDA out of memory", seq=3, t=3.0),
            Notice("oom", "out of memory: CUDA out of memory", 3, "warning"),
        ]:
            state.update(item)
        state.snapshots = {"probe": {"throughput": 123.5, "peak_vram_gb": 7.25}}
        console = Console(file=io.StringIO(), width=100, record=True)
        console.print(render_view(state))
        text = console.export_text()
    assert "loss" in text and "NaN" in text
    assert "probe" in text and "peak_vram_gb" in text
    assert "! oom" in text


def test_help_documents_the_exit_codes() -> None:
    """`vrx tail --help` lists every exit code it uses."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    text = sub.choices["tail"].format_help()
    for code in ("0 ", "3 ", "65", "66", "70", "78", "124", "130"):
        assert f"\n  {code}" in text, code
    for flag in ("--json", "--events", "--type", "--from-end", "--once", "--timeout", "--poll", "-p"):
        assert flag in text


def test_live_view_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal (forced with TTY_COMPATIBLE=1) the tail draws the Rich view and exits 0."""
    run = tmp_path / "run"
    w = writer(run, "--n", "40")
    assert w.wait() == 0
    t = tail(run, env={"TTY_COMPATIBLE": "1", "COLUMNS": "100"})
    assert t.wait() == 0, t.stderr
    out = "".join(t.seen)
    assert "vrx tail" in out and "ended (ok)" in out and "train/loss" in out
