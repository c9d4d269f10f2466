"""vrx: an event-sourced run recorder for GPU and ML experiments.

A run appends typed events to one append-only ``events.jsonl``; plugins derive everything else
by replaying it. This module holds the public API only, imported lazily: ``from vrx_core import
Recorder`` loads the log writer and nothing else (no pluggy, replay engine, follower or Rich), so
every training rank starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vrx_core._version import __version__

if TYPE_CHECKING:
    from vrx_core.capture.config import ConfigError
    from vrx_core.errors import ExitCode, VrxError
    from vrx_core.follow.follower import follow
    from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext, handles
    from vrx_core.hooks.specs import hookimpl
    from vrx_core.integrations.structlog_sink import structlog_processor
    from vrx_core.log.layout import MgrLayout, RvinciLayout
    from vrx_core.log.outputs import load_prediction, record_checkpoint, save_checkpoint, save_prediction
    from vrx_core.log.reader import LogReader, read_events
    from vrx_core.log.writer import Recorder

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "ConfigError": "vrx_core.capture.config",
    "MgrLayout": "vrx_core.log.layout",
    "RvinciLayout": "vrx_core.log.layout",
    "load_prediction": "vrx_core.log.outputs",
    "record_checkpoint": "vrx_core.log.outputs",
    "save_checkpoint": "vrx_core.log.outputs",
    "save_prediction": "vrx_core.log.outputs",
    "DerivedFiles": "vrx_core.hooks.api",
    "Deriver": "vrx_core.hooks.api",
    "ExitCode": "vrx_core.errors",
    "LogReader": "vrx_core.log.reader",
    "Recorder": "vrx_core.log.writer",
    "ReplayContext": "vrx_core.hooks.api",
    "VrxError": "vrx_core.errors",
    "follow": "vrx_core.follow.follower",
    "handles": "vrx_core.hooks.api",
    "hookimpl": "vrx_core.hooks.specs",
    "read_events": "vrx_core.log.reader",
    "structlog_processor": "vrx_core.integrations.structlog_sink",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vrx_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ConfigError",
    "DerivedFiles",
    "Deriver",
    "ExitCode",
    "LogReader",
    "MgrLayout",
    "Recorder",
    "ReplayContext",
    "RvinciLayout",
    "VrxError",
    "__version__",
    "follow",
    "handles",
    "hookimpl",
    "load_prediction",
    "read_events",
    "record_checkpoint",
    "save_checkpoint",
    "save_prediction",
    "structlog_processor",
]
