"""Record a script's structlog entries as ``log`` events of a run (``vrx_core.structlog_processor``)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from vrx_core.codec import jsonable
from vrx_core.events import Log

if TYPE_CHECKING:
    import structlog

    from vrx_core.log.writer import Recorder

_SKIP_KEYS = frozenset({"event", "level", "logger", "timestamp", "_record", "_from_structlog"})


def structlog_processor(recorder: Recorder) -> structlog.types.Processor:
    """A structlog processor that records every entry as a ``log`` event of ``recorder``'s run.

    Put it anywhere before the renderer::

        structlog.configure(processors=[..., vrx_core.structlog_processor(rec), ConsoleRenderer()])

    The entry passes through unchanged. Values that are not JSON are stored as their ``repr``; once
    the recorder is closed, entries are no longer recorded.
    """
    def processor(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
        if recorder.closed:
            return event_dict
        level = str(event_dict.get("level") or method_name)
        fields = {str(k): jsonable(v) for k, v in event_dict.items() if k not in _SKIP_KEYS}
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
