"""ant_ratio: ant_ratio_packet_v0 packets, published rows, ranking and sweeps (VRA-76/77/78)."""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.events import Event
from vrx_core.hooks.host import Commands

from .sweep_events import KINDS as SWEEP_KINDS


@hookimpl
def vrx_event_kinds() -> list[type[Event]]:
    return list(SWEEP_KINDS)


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .sweep_cli import add_sweep_commands

    add_sweep_commands(commands)
