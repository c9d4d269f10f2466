"""gpu_probe: the GPU capacity probe of objective_contract_v1 on the ring-pointer workload, as events.

Hook glue only; the logic lives beside it.
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import Event

from .events import KINDS


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return list(KINDS)
