"""vrx's own diagnostics: warnings from the log layer, the plugin manager and the commands.

They read like every other message vrx prints, one line on stderr::

    vrx: warning: recovered a stale writer lock (run=runs/a, previous={"host": "vm", "pid": 12})

JSON lines (through structlog) only when asked: ``$VRX_LOG_FORMAT=json`` or ``configure(json=True)``,
for log collectors. Quiet (warnings and errors only) unless ``-v``/``$VRX_LOG_LEVEL`` asks for more.
vrx never calls ``structlog.configure``: the user's global configuration stays theirs; structlog is
imported only when JSON is asked for, so the writer's import stays light.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Any

from vrx_core.codec import stream_json

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_state: dict[str, Any] = {"logger": None}


def _to_stderr(line: str) -> None:
    """Write one line to whatever ``sys.stderr`` is at the time; never raise.

    A recorder must not fail because its diagnostics stream was closed or swapped (pytest's
    capture, a daemonized job): losing a warning is better than losing the run.
    """
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


class _Stderr:
    """The sink structlog's JSON pipeline writes to."""

    def msg(self, message: str) -> None:
        _to_stderr(message)

    log = debug = info = warn = warning = error = err = critical = fatal = exception = failure = msg


class Logger:
    """vrx's logger: ``warning(event, **fields)`` and friends, one human line each."""

    def __init__(self, level: int) -> None:
        self.level = level

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.level:
            return
        extra = ", ".join(f"{k}={_field(v)}" for k, v in fields.items())
        _to_stderr(f"vrx: {level}: {event}" + (f" ({extra})" if extra else ""))

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)


def _field(value: Any) -> str:
    return value if isinstance(value, str) else stream_json(value).decode()


def configure(level: str | None = None, *, json: bool | None = None) -> None:
    """(Re)build vrx's logger. ``level`` defaults to ``$VRX_LOG_LEVEL`` or ``warning``; ``json``
    to ``$VRX_LOG_FORMAT == "json"``."""
    name = (level or os.environ.get("VRX_LOG_LEVEL") or "warning").lower()
    lvl = _LEVELS.get(name, _LEVELS["warning"])
    use_json = os.environ.get("VRX_LOG_FORMAT", "").lower() == "json" if json is None else json
    _state["logger"] = _json_logger(lvl) if use_json else Logger(lvl)


def _json_logger(level: int) -> Any:
    import structlog

    return structlog.wrap_logger(
        _Stderr(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory_args=(),
    )


@functools.cache
def warn_once(event: str) -> None:
    """``get_logger().warning(event)`` the first time in this process only (a fleet worker
    replaying a thousand runs says a missing extra once)."""
    get_logger().warning(event)


def get_logger() -> Any:
    """vrx's own logger (:class:`Logger`, or a structlog BoundLogger in JSON mode)."""
    if _state["logger"] is None:
        configure()
    return _state["logger"]
