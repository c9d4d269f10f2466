"""vrx: an event-sourced run recorder for GPU and ML experiments.

A run appends typed events to one append-only ``events.jsonl``; plugins derive everything else
by replaying it. This module holds the public API only.
"""

from __future__ import annotations

__version__ = "0.1.0"

from vrx_core.derive import DerivedFiles, Deriver, ReplayContext
from vrx_core.diagnostics import structlog_processor
from vrx_core.errors import ExitCode, VrxError
from vrx_core.hookspecs import hookimpl
from vrx_core.log import Recorder
from vrx_core.reader import LogReader, read_events
from vrx_core.tail import follow

__all__ = [
    "DerivedFiles",
    "Deriver",
    "ExitCode",
    "LogReader",
    "Recorder",
    "ReplayContext",
    "VrxError",
    "__version__",
    "follow",
    "hookimpl",
    "read_events",
    "structlog_processor",
]
