"""``vrx serve`` as a command: the missing-extra message, its URL, the token of a non-loopback
server, and a prompt shutdown (SIGINT, SIGTERM) with a stream open on a live run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _web_helpers import record_run

from vrx_core.events import Metric
from vrx_core.log.writer import Recorder


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRX_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _vrx(*args: str) -> list[str]:
    return [sys.executable, "-m", "vrx_core", *args]


class Serving:
    """A ``vrx serve`` subprocess; ``url`` from the line it prints."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            _vrx("serve", "--port", "0", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or _env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = re.search(r"(http://\S+)", line)
        assert m, (line, self.proc.stderr.read() if self.proc.stderr else "")
        self.url = m.group(1)

    def stop(self, sig: int) -> tuple[int, float, str]:
        start = time.monotonic()
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, time.monotonic() - start, err

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def open_run(tmp_path: Path) -> Iterator[Path]:
    """A run that stays open (no run end) for the test: its stream never ends by itself."""
    run = tmp_path / "runs" / "open"
    rec = Recorder(run, derive=False, summary=False, environment=False, heartbeat_s=0.2)
    rec.emit(Metric(name="loss", value=1.0, step=1))
    yield run
    rec.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stops_promptly_with_a_stream_open(open_run: Path, sig: int) -> None:
    s = Serving(str(open_run.parent))
    try:
        assert s.url.startswith("http://127.0.0.1:") and "token" not in s.url
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", f"{s.url}api/run/runs/open/stream") as r,
        ):
            lines = r.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            code, took, err = s.stop(sig)
            rest = list(lines)  # the server ended the stream
        assert code == 0, err
        assert took < 2.0, took
        print(f"stopped by signal {sig} in {took:.2f} s")
        assert "Traceback" not in err
        assert isinstance(rest, list)
    finally:
        s.close()


def test_a_non_loopback_host_needs_a_token(tmp_path: Path) -> None:
    record_run(tmp_path / "runs" / "a", 2)
    s = Serving(str(tmp_path / "runs"), "--host", "0.0.0.0")
    try:
        m = re.fullmatch(r"http://0\.0\.0\.0:(\d+)/\?token=([\w-]{20,})", s.url)
        assert m, s.url
        base = f"http://127.0.0.1:{m.group(1)}"
        assert httpx.get(f"{base}/api/runs").status_code == 401
        assert httpx.get(f"{base}/api/runs", params={"token": m.group(2)}).status_code == 200
    finally:
        s.stop(signal.SIGTERM)
        s.close()


def test_the_token_from_the_environment(tmp_path: Path) -> None:
    record_run(tmp_path / "runs" / "a", 2)
    env = {**_env(), "VRX_SERVE_TOKEN": "from-env"}
    s = Serving(str(tmp_path / "runs"), "--host", "0.0.0.0", env=env)
    try:
        assert s.url.endswith("/?token=from-env")
    finally:
        s.stop(signal.SIGTERM)
        s.close()


def _run(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=60, check=False, **kw)


def test_missing_starlette_is_one_line_and_exit_69(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
        "from vrx_core.cli.main import main\n"
        f"sys.exit(main(['serve', {str(tmp_path)!r}]))"
    )
    r = _run(sys.executable, "-c", code)
    assert r.returncode == 69, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == ["vrx: vrx serve needs Starlette and uvicorn: pip install 'vrx-core[web]'"]
    assert r.stdout == ""


def test_a_missing_root_is_66(tmp_path: Path) -> None:
    r = _run(*_vrx("serve", str(tmp_path / "nope"), "--port", "0"))
    assert r.returncode == 66
    assert "Traceback" not in r.stderr and "no such directory" in r.stderr


def test_a_port_in_use_is_75(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _run(*_vrx("serve", str(tmp_path), "--port", str(port)))
    assert r.returncode == 75, r.stderr
    assert "cannot listen on 127.0.0.1" in r.stderr
