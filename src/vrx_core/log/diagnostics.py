"""vrx's own diagnostics: warnings from the log layer and the commands, through structlog.

vrx never calls ``structlog.configure``: the user's global configuration stays theirs. Its own
logger is a private pipeline writing to stderr: human-readable on a terminal, JSON lines
otherwise, and quiet (warnings and errors only) unless ``-v``/``VRX_LOG_LEVEL`` asks for more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_state: dict[str, Any] = {"logger": None, "level": None}


class _Stderr:
    """Writes to whatever ``sys.stderr`` is at the time, and never lets a diagnostic raise.

    A recorder must not fail because its diagnostics stream was closed or swapped (pytest's
    capture, a daemonized job): losing a warning is better than losing the run.
    """

    def msg(self, message: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = err = critical = fatal = exception = failure = msg


def configure(level: str | None = None, *, json: bool | None = None) -> None:
    """(Re)build vrx's logger. ``level`` defaults to ``$VRX_LOG_LEVEL`` or ``warning``."""
    name = (level or os.environ.get("VRX_LOG_LEVEL") or "warning").lower()
    lvl = _LEVELS.get(name, logging.WARNING)
    use_json = (not sys.stderr.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    _state["logger"] = structlog.wrap_logger(
        _Stderr(),
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        logger_factory_args=(),
    )
    _state["level"] = lvl


def get_logger() -> Any:
    """vrx's own logger (a structlog BoundLogger)."""
    if _state["logger"] is None:
        configure()
    return _state["logger"]
