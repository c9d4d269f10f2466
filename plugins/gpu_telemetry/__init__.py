"""gpu_telemetry: GPU samples (NVML) as events, and their summary derived for any run.

Hook glue only: the kinds, the sampler and the summary live in the ``telemetry`` library (shared
with other plugins, such as the GPU probe); the deriver in ``derive``.
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import Event
from vrx_core.hooks.api import Deriver, ReplayContext

from ..telemetry.events import KINDS


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return list(KINDS)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    from .derive import GpuTelemetryDeriver

    return GpuTelemetryDeriver()
