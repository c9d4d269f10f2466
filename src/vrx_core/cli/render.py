"""Human and JSON renderings of events and plugins for the CLI (``vrx events``, ``vrx plugins``, tail)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from vrx_core.codec import json_safe
from vrx_core.events import AnyEvent, event_tag
from vrx_core.follow.stream import event_json
from vrx_core.hooks.api import ReplayContext, consumed_kinds

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

_ENVELOPE = ("seq", "t", "type", "rank")


def event_json_line(ev: AnyEvent) -> str:
    return msgspec.json.encode(event_json(ev)).decode() + "\n"


def clock(t: float) -> str:
    """UTC wall time of an event, to the millisecond."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


def _short(value: Any) -> str:
    """A value for one table cell: JSON for anything but a plain printable string.

    Control characters (escape sequences, CR/LF) are shown escaped, so a logged string can never
    move the cursor or fake a row of the table.
    """
    if isinstance(value, str) and value.isprintable():
        text = value
    else:
        text = msgspec.json.encode(json_safe(value)).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def event_row(ev: AnyEvent, kind_width: int = 16) -> str:
    """One table row: seq (``rank:seq`` in a multi-rank run), UTC time, kind, then key=value pairs."""
    d = event_json(ev)
    rest = " ".join(f"{k}={_short(v)}" for k, v in d.items() if k not in _ENVELOPE and v is not None)
    seq = str(ev.seq) if ev.rank is None else f"{ev.rank}:{ev.seq}"
    return f"{seq:>8}  {clock(ev.t)}  {d['type']:<{kind_width}} {rest}\n"


class EventTable:
    """``vrx events``' table: a header, then one row per event, the kind column as wide as the
    longest kind the registry knows (rows stream: widths are fixed before the first one)."""

    def __init__(self, out: TextIO, kinds: Iterable[str] = ()) -> None:
        self.out = out
        self.kind_width = min(max((len(k) for k in kinds), default=16), 40)
        self._header = False

    def row(self, ev: AnyEvent) -> None:
        if not self._header:
            self._header = True
            self.out.write(f"{'seq':>8}  {'time (UTC)':<24}  {'kind':<{self.kind_width}} fields\n")
        self.out.write(event_row(ev, max(self.kind_width, len(event_tag(ev)))))


def plugin_rows(plugins: PluginSet) -> list[dict[str, Any]]:
    """name, version, source, hooks, kinds registered and consumed, for each loaded plugin."""
    ctx = ReplayContext(run_dir=None, out_dir=None, registry=plugins.registry)
    consumes = {name: consumed_kinds(type(d)) for name, d in plugins.derivers(ctx)}
    rows = []
    for name, info in sorted(plugins.infos.items()):
        plugin = plugins.pm.get_plugin(name)
        kinds_fn = getattr(plugin, "vrx_event_kinds", None)
        registers = sorted(
            str(k.__struct_config__.tag) for k in (kinds_fn() if callable(kinds_fn) else []) or []
        )
        c = consumes.get(name, [])
        rows.append(
            {
                "name": name,
                "version": info.version,
                "source": info.source,
                "module": info.module,
                "hooks": plugins.hooks_of(name),
                "registers": registers,
                "consumes": c,
            }
        )
    return rows
