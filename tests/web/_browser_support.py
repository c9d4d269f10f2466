"""Helpers for the browser tests of ``vrx serve``: Chromium, a served root, writer processes.

Named ``_browser_support`` so it cannot clash with another test folder's helper module (test folders
have no ``__init__.py`` and share one module namespace). Run as a script it is the writer process the
tests start:

    python _browser_support.py RUN_DIR [--n N] [--interval S] [--metric NAME] [--plan TOTAL] [--wait]

It records params (and a plan), then ``N`` finite values of metric ``NAME`` ``--interval`` seconds
apart, printing ``started`` once the run's log exists and ``emitted N`` after the last. With
``--wait`` it then reads commands from stdin, one a line: ``nan`` records the metric as NaN at the
next step (and prints ``nan``), ``end`` (or end of input) ends the run. SIGTERM ends the run early
(status ``interrupted``).
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
#: Debian's chromium (``apt-get install chromium``; ``.ci/run`` installs it): the real browser binary,
#: not the /usr/bin/chromium wrapper script.
CHROMIUM = Path("/usr/lib/chromium/chromium")
#: Headless, and quiet on the network: without the background-networking flags Chromium keeps trying
#: to reach Google's services (component updates, sync, QUIC probes), which floods a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Generous: only a bug makes a test wait this long (the tests assert no latency).
WAIT = 20.0
URL_RE = re.compile(r"https?://[^\s'\"]+")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VRX_PLUGINS_DIR", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Pumped:
    """A subprocess whose stdout (stderr merged) is read line by line by a thread, as it comes."""

    def __init__(self, argv: list[str], *, stdin: bool = False) -> None:
        self.argv = argv
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        self.lines: deque[str] = deque(maxlen=400)
        self._cond = threading.Condition()
        assert self.p.stdout is not None
        self._thread = threading.Thread(target=self._pump, args=(self.p.stdout,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern: re.Pattern[str] | str, timeout: float = WAIT) -> re.Match[str]:
        """The first output line (so far or to come) that matches ``pattern``."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self._thread.is_alive()):
                    raise AssertionError(
                        f"{self.argv[2:]}: no line matching {rx.pattern!r} (exit {self.p.poll()}); "
                        f"output:\n" + "\n".join(self.lines)
                    )
                self._cond.wait(min(left, 0.1))

    def send(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def close(self, timeout: float = 10.0) -> int:
        """End the process (stdin closed, then SIGTERM, then SIGKILL); close its pipes. Idempotent."""
        if self.p.stdin is not None and not self.p.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.p.stdin.close()
        if self.p.poll() is None:
            self.p.terminate()
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait(timeout=timeout)
        self._thread.join(timeout=timeout)
        if self.p.stdout is not None:
            self.p.stdout.close()
        return rc


class Server(Pumped):
    """``vrx serve ROOT... --port P --host 127.0.0.1``, up and answering once constructed."""

    def __init__(self, roots: list[Path], *, port: int | None = None) -> None:
        self.roots = list(roots)
        self.port = port or free_port()
        argv = [sys.executable, "-m", "vrx_core", "serve", *map(str, roots)]
        super().__init__([*argv, "--port", str(self.port), "--host", "127.0.0.1"])
        try:
            self.url = self.wait_line(URL_RE).group(0).rstrip("/.,)")
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                status, _ = self.get("/api/runs")
            except OSError:
                status = 0
            if status == 200:
                return
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise AssertionError(f"vrx serve is not answering /api/runs ({status}):\n{self.output()}")
            time.sleep(0.05)

    def get(self, raw_path: str, method: str = "GET") -> tuple[int, bytes]:
        """Request ``raw_path`` exactly as written: no client normalises its dots or escapes."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            conn.request(method, raw_path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


class Writer(Pumped):
    """This module run as a writer process (see the module docstring)."""

    def __init__(self, run_dir: Path, *extra: str) -> None:
        super().__init__([sys.executable, __file__, str(run_dir), *extra], stdin=True)
        try:
            self.wait_line("^started$")
        except BaseException:
            self.close()
            raise


def _write(argv: list[str]) -> int:
    import argparse

    from vrx_core import Recorder
    from vrx_core.events import Metric, Params, Plan

    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--metric", default="train/loss")
    ap.add_argument("--plan", type=int, default=None)
    ap.add_argument("--wait", action="store_true")
    args = ap.parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        with Recorder(args.run_dir, heartbeat_s=0.2) as rec:
            rec.emit(Params(values={"lr": 3e-4, "batch": 32}))
            if args.plan is not None:
                rec.emit(Plan(total=args.plan))
            print("started", flush=True)
            step = 0
            for step in range(1, args.n + 1):
                rec.emit(Metric(name=args.metric, value=2.0 / step, step=step))
                time.sleep(args.interval)
            print(f"emitted {args.n}", flush=True)
            if args.wait:
                for line in sys.stdin:
                    cmd = line.strip()
                    if cmd == "nan":
                        step += 1
                        rec.emit(Metric(name=args.metric, value=math.nan, step=step))
                        print("nan", flush=True)
                    elif cmd == "end":
                        break
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(_write(sys.argv[1:]))
