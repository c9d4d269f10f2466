"""A test plugin that registers a typed ``gpu.oom`` kind and no alert rules: the core's OOM rule
must flag it all the same."""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import Event


class GpuOom(Event, frozen=True, kw_only=True, tag="gpu.oom"):
    device: int
    requested_bytes: int


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return [GpuOom]
