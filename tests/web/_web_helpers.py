"""Helpers for the web view's tests: the app under a real uvicorn in a thread, and runs to serve.

Starlette 1.x's TestClient warns (a StarletteDeprecationWarning about httpx), an error under
``filterwarnings = error``, and it buffers a streaming response whole, which an endless SSE stream
never ends; so the app runs under uvicorn on a free loopback port and tests talk to it with httpx.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from vrx_core.events import Metric, Params, Plan
from vrx_core.log.writer import Recorder


class Served:
    """A running app: ``url`` (``http://127.0.0.1:PORT``), ``state`` (its ServeState), ``stop()``."""

    def __init__(self, app: Any) -> None:
        from vrx_plugins.web.app import app_state

        self.state = app_state(app)
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        config.timeout_graceful_shutdown = 1
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn stopped"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def stop(self) -> None:
        loop = self.state.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.state.stop_all)
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def record_run(run_dir: Path, n: int = 10, *, plan: int | None = None, **rec: Any) -> Path:
    """A finished run: params, an optional plan, ``n`` loss metrics (steps 1..n)."""
    for option in ("derive", "summary", "environment"):
        rec.setdefault(option, False)
    with Recorder(run_dir, **rec) as r:
        r.emit(Params(values={"lr": 0.001, "model": {"depth": 4}}))
        if plan is not None:
            r.emit(Plan(total=plan))
        for i in range(1, n + 1):
            r.emit(Metric(name="train/loss", value=1.0 / i, step=i))
    return run_dir


def sse_messages(lines: Any) -> Any:
    """Parse SSE from an iterator of lines: yields ``{"id", "event", "data"}`` per message (comments
    and ``retry:`` skipped; ``data`` decoded from JSON)."""
    import json

    msg: dict[str, Any] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield {"id": msg.get("id"), "event": msg.get("event"), "data": json.loads("\n".join(data))}
            msg, data = {}, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field in ("id", "event"):
                msg[field] = value


def events_of(messages: list[dict[str, Any]]) -> list[tuple[int | None, int]]:
    """``(rank, seq)`` of each event message."""
    return [
        (m["data"]["event"].get("rank"), m["data"]["event"]["seq"])
        for m in messages
        if m["data"]["kind"] == "event"
    ]
