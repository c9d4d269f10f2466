"""ant_ratio: ant_ratio_packet_v0 packets, published rows, ranking and sweeps (VRA-76/77/78).

Hook glue only; the logic lives beside it: ``packet`` (the packet, pure), ``sources`` and
``session`` (recording a packet run), ``derive`` (``packet.json`` by replay), ``rows`` (published
``ant_ratio_db_row_v0`` rows), ``rank``, ``view``, ``plot``, ``inputs``, ``cli``/``cli_db``
(``vrx packet``), and the ``sweep*`` modules (``vrx sweep``).
"""

from __future__ import annotations

from pathlib import Path

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


@hookimpl
def vrx_run_verdict(run_dir: Path) -> str | None:
    """A packet run: PASS or FAIL (its packet's ``stability_pass``); a sweep: its outcome counts."""
    from vrx_core.engine.runinfo import read_own_json

    packet = read_own_json(run_dir, "packet.json", "ant_ratio")
    if isinstance(packet, dict) and "stability_pass" in packet:
        return "PASS" if packet["stability_pass"] is True else "FAIL"
    meta = read_own_json(run_dir, "sweep_meta.json", "ant_ratio")
    if isinstance(meta, dict) and isinstance(meta.get("ok"), int) and isinstance(meta.get("error"), int):
        pending = meta.get("pending")
        more = f", {len(pending)} pending" if isinstance(pending, list) and pending else ""
        return f"{meta['ok']} ok, {meta['error']} error{more}"
    return None
