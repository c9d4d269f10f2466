"""Helpers for the tail tests: tail and writer subprocesses, staged raw logs, a fake writer lock.

Named ``_tail_harness`` so it cannot clash with another test folder's helper module (test folders
have no ``__init__.py`` and share one module namespace).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, ClassVar

import msgspec

from vrx_core.cli.render import event_json_line
from vrx_core.log.lock import boot_id
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import LOCK as LOCK_NAME
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

HERE = Path(__file__).resolve().parent
WRITER = HERE / "_tail_writer.py"
PLUGINS_DIR = HERE / "tail_plugins"
#: Generous: only a bug makes a test wait this long (the tests assert no latency).
WAIT = 20.0


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VRX_PLUGINS_DIR", None)
    env["VRX_LOAD_PLUGINS"] = ""  # no entry-point plugins: outputs depend only on the test's choice
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("TTY_COMPATIBLE", None)
    env.pop("FORCE_COLOR", None)
    env.update(extra or {})
    return env


class Proc:
    """A subprocess whose stdout lines (and stderr) are collected by threads as they come."""

    #: Every Proc started, so the ``reap`` fixture can kill leftovers and close their pipes.
    live: ClassVar[list[Proc]] = []

    def __init__(self, argv: list[str], *, stdin: bool = False, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(env),
        )
        Proc.live.append(self)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._errq: queue.Queue[str] = queue.Queue()
        self._err: list[str] = []
        assert self.p.stdout is not None and self.p.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.p.stdout, self.lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.p.stderr, self._errq), daemon=True),
        ]
        for th in self._threads:
            th.start()

    @staticmethod
    def _pump(stream: IO[bytes], q: queue.Queue[str]) -> None:
        for raw in iter(stream.readline, b""):
            q.put(raw.decode("utf-8", "replace"))

    def next_line(self, timeout: float = WAIT) -> str:
        line = self.lines.get(timeout=timeout)
        self.seen.append(line)
        return line

    def wait_lines(self, n: int, timeout: float = WAIT) -> list[str]:
        """Block until ``n`` stdout lines have been seen in total; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.seen) < n:
            self.next_line(max(0.01, deadline - time.monotonic()))
        return self.seen

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.01, deadline - time.monotonic()))
            if text in line:
                return line

    def no_new_line(self, seconds: float) -> bool:
        """True if no stdout line arrives within ``seconds`` (a line arriving is a bug, not a timing)."""
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        self.seen.append(line)
        return False

    def wait(self, timeout: float = WAIT) -> int:
        """Wait for the exit; collect the rest of stdout into ``seen``; close the pipes."""
        rc = self.p.wait(timeout=timeout)
        self._close()
        return rc

    def _close(self) -> None:
        for th in self._threads:
            th.join(timeout=WAIT)
        for stream in (self.p.stdin, self.p.stdout, self.p.stderr):
            if stream is not None:
                stream.close()
        while True:
            try:
                self.seen.append(self.lines.get_nowait())
            except queue.Empty:
                break
        if self in Proc.live:
            Proc.live.remove(self)

    @property
    def stderr(self) -> str:
        while True:
            try:
                self._err.append(self._errq.get_nowait())
            except queue.Empty:
                break
        return "".join(self._err)

    def wait_open(self, path: Path, timeout: float = WAIT) -> None:
        """Block until this process holds ``path`` open (Linux ``/proc``): a tail that has opened
        the log has fixed where its history ends."""
        target = str(path.resolve())
        fd_dir = Path(f"/proc/{self.p.pid}/fd")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.p.poll() is None, f"exited {self.p.returncode}: {self.stderr}"
            with contextlib.suppress(OSError):
                if any(_link(fd) == target for fd in fd_dir.iterdir()):
                    return
            time.sleep(0.01)
        raise TimeoutError(f"{self.argv} did not open {path} within {timeout} s")

    def send(self, text: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def signal(self, sig: int) -> None:
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            with contextlib.suppress(OSError):
                os.kill(self.p.pid, signal.SIGCONT)
        self.p.wait(timeout=WAIT)
        self._close()


def _link(fd: Path) -> str | None:
    try:
        return os.readlink(fd)
    except OSError:  # the descriptor closed meanwhile
        return None


def reap() -> None:
    """Kill every test subprocess still running and close its pipes."""
    for proc in list(Proc.live):
        proc.kill()


def tail(run_dir: Path, *args: str, env: dict[str, str] | None = None) -> Proc:
    """``vrx tail RUN_DIR ARGS`` in a subprocess (``env``: extra environment variables)."""
    return Proc([sys.executable, "-m", "vrx_core", "tail", str(run_dir), *args], env=env)


def writer(run_dir: Path, *args: str, stdin: bool = False) -> Proc:
    """The test writer (``_tail_writer.py``) in a subprocess."""
    return Proc([sys.executable, str(WRITER), str(run_dir), *args], stdin=stdin)


def expected_lines(run_dir: Path) -> list[str]:
    """What ``vrx events --json`` prints for the complete log: the reference for the tail's output."""
    return [event_json_line(ev) for ev in LogReader(run_dir)]


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in lines]


def finished_log(tmp: Path, n: int, *, name: str = "src", sync_every: int = 0) -> list[bytes]:
    """Record ``n`` events of the writer mix into ``tmp/name`` and return its lines (with ``\\n``)."""
    from _tail_writer import event

    run = tmp / name
    rec = Recorder(run)
    for i in range(n):
        rec.emit(event(i))
        if sync_every and i % sync_every == sync_every - 1:
            rec.sync()
    rec.close()
    return (run / LOG_NAME).read_bytes().splitlines(keepends=True)


def fake_lock(run_dir: Path, *, host: str | None = None, pid: int | None = None) -> Path:
    """A writer.lock naming this (live) test process, as a writer would leave it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    holder = {
        "run_id": run_dir.name,
        "host": host or socket.gethostname(),
        "pid": os.getpid() if pid is None else pid,
        "boot_id": boot_id(),
        "since": time.time(),
    }
    path = run_dir / LOCK_NAME
    path.write_bytes(msgspec.json.encode(holder) + b"\n")
    return path


def append(path: Path, data: bytes) -> None:
    """Append bytes with one unbuffered write, as the recorder does."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)


def copy_run(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
