"""vrx's own diagnostics (structlog), and the processor that records a user's structlog entries.

vrx never calls ``structlog.configure``: the user's global configuration stays theirs. Its own
logger is a private pipeline writing to stderr: human-readable on a terminal, JSON lines
otherwise, and quiet (warnings and errors only) unless ``-v``/``VRX_LOG_LEVEL`` asks for more.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from vrx_core.log import Recorder

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


def _jsonable(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth < 8 and isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if depth < 8 and isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    return repr(value)


_SKIP_KEYS = frozenset({"event", "level", "logger", "timestamp", "_record", "_from_structlog"})


def structlog_processor(recorder: Recorder) -> structlog.types.Processor:
    """A structlog processor that records every entry as a ``log`` event of ``recorder``'s run.

    Put it anywhere before the renderer::

        structlog.configure(processors=[..., vrx_core.structlog_processor(rec), ConsoleRenderer()])

    The entry passes through unchanged. Values that are not JSON are stored as their ``repr``; once
    the recorder is closed, entries are no longer recorded.
    """
    from vrx_core.events import Log

    def processor(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        if recorder.closed:
            return event_dict
        level = str(event_dict.get("level") or method_name)
        fields = {str(k): _jsonable(v) for k, v in event_dict.items() if k not in _SKIP_KEYS}
        name = event_dict.get("logger")
        recorder.emit(
            Log(
                level=level,
                msg=str(event_dict.get("event", "")),
                logger=str(name) if name is not None else None,
                fields=fields,
            )
        )
        return event_dict

    return processor
