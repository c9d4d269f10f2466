"""ant_ratio: ant_ratio_packet_v0 packets, published rows, ranking and sweeps (VRA-76/77/78).

Hook glue only; the logic lives beside it: ``packet`` (the packet, pure), ``sources`` and
``session`` (recording a packet run), ``derive`` (``packet.json`` by replay), ``rows`` (published
``ant_ratio_db_row_v0`` rows), ``rank``, ``view``, ``plot``, ``inputs``, ``cli``/``cli_db``
(``vrx packet``), and the ``sweep*`` modules (``vrx sweep``).
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import Event
from vrx_core.hooks.api import Deriver, ReplayContext
from vrx_core.hooks.host import Commands

from .events import KINDS as PACKET_KINDS
from .sweep_events import KINDS as SWEEP_KINDS


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return [*PACKET_KINDS, *SWEEP_KINDS]


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_packet_commands
    from .sweep_cli import add_sweep_commands

    add_packet_commands(commands)
    add_sweep_commands(commands)


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    # One deriver per plugin: packet runs get packet.json (derive), sweep runs the sweep files.
    from .sweep_derive import AntRatioDeriver

    return AntRatioDeriver()
