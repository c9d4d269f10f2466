"""The stream protocol of a follower: what it yields (:data:`TailItem`), the errors that end it, and
their JSON form (``vrx tail --json`` prints exactly these objects, one per line).

Consumers other than the CLI (a live web view, a per-rank merge) build on these types only:

* an event (:class:`~vrx_core.events.Event` or :class:`~vrx_core.events.UnknownEvent`):
  ``{"kind": "event", "event": {seq, t, type, ...fields}}``;
* a :class:`Snapshot` of every plugin's derived values:
  ``{"kind": "snapshot", "seq", "plugins", "changed"}``;
* a :class:`Notice` (the follower's own state, or an alert raised by alert rules):
  ``{"kind": "notice", "notice", "level", "seq", "message"}``, plus ``"plugin"`` for an alert
  raised by a plugin's rules (absent for the core's) and ``"rank"`` for a notice about one rank of
  a multi-rank run (whose events carry ``"rank"`` too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from vrx_core.codec import json_safe
from vrx_core.errors import CorruptLog, ExitCode, VrxError
from vrx_core.events import AnyEvent, UnknownEvent, event_tag

#: The follower's own notice kinds, and the core alert rules' (``nan``, ``error``, ``oom``,
#: ``stall``). Alerts of plugins add their own kinds: :attr:`Notice.kind` is any string.
NoticeKind = Literal[
    "waiting",
    "found",
    "caught_up",
    "nan",
    "error",
    "oom",
    "stall",
    "active",
    "deleted",
    "replaced",
    "residue",
    "plugin_failed",
    "rank_dead",
    "rank_missing",
]


@dataclass(frozen=True)
class Snapshot:
    """Every deriver's current snapshot after the events up to ``seq`` were folded in.

    Yielded after a batch of events when at least one plugin's snapshot changed; ``changed``
    names those plugins. ``plugins`` holds all of them.
    """

    seq: int
    plugins: dict[str, dict[str, Any]]
    changed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "snapshot",
            "seq": self.seq,
            "plugins": json_safe(self.plugins),
            "changed": list(self.changed),
        }


@dataclass(frozen=True)
class Notice:
    """Something a watcher should know that is not an event.

    ``kind`` is one of: ``waiting`` (the log does not exist yet), ``found`` (it appeared),
    ``caught_up`` (the log so far has been read), ``nan`` (a metric became NaN or infinite),
    ``error`` (a log event at error level, or a run that ended with an error), ``oom`` (an
    out-of-memory report), ``stall`` (no event for ``stall_after_s`` while the heartbeat is alive),
    ``active`` (events again after a stall), ``deleted`` (the log was unlinked; the open file is
    still followed), ``replaced`` (replaced by a byte-identical copy; followed on), ``residue``
    (a damaged line after the durable point: waiting for the writer to repair or pass it),
    ``plugin_failed`` (a deriver or alert rules raised; the tail goes on without them); or the kind
    of an alert raised by a plugin's rules (``vrx_alert_rules``), whose name is in ``plugin``.
    In a multi-rank run: ``rank_dead`` (one rank's writer is presumed dead; the others go on),
    ``rank_missing`` (a rank of the world size never wrote a log); ``rank`` is the rank a notice is
    about (its message starts with ``rank R:``), None for the whole run and in a single-process run.
    """

    kind: str
    message: str
    seq: int | None = None
    level: Literal["info", "warning"] = "info"
    #: The plugin whose alert rules raised this notice; None for the follower's and the core's.
    plugin: str | None = None
    #: The rank of a multi-rank run the notice is about; None for the run (or a single process).
    rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "notice",
            "notice": self.kind,
            "level": self.level,
            "seq": self.seq,
            "message": self.message,
        }
        if self.plugin is not None:
            out["plugin"] = self.plugin
        if self.rank is not None:
            out["rank"] = self.rank
        return out


TailItem = AnyEvent | Snapshot | Notice


def event_json(ev: AnyEvent) -> dict[str, Any]:
    """The event as a flat JSON object: seq, t, type, then its fields (non-finite floats as strings).

    The same object ``vrx events --json`` prints for the event.
    """
    if isinstance(ev, UnknownEvent):
        fields: dict[str, Any] = dict(ev.data)
    else:
        fields = {f: getattr(ev, f) for f in ev.__struct_fields__ if f not in ("seq", "t", "rank")}
        fields = msgspec.to_builtins(fields)
    envelope: dict[str, Any] = {"seq": ev.seq, "t": ev.t, "type": event_tag(ev)}
    if ev.rank is not None:  # a multi-rank run's event: which rank's log held it
        envelope["rank"] = ev.rank
    return {**envelope, **json_safe(fields)}


def item_json(item: TailItem) -> dict[str, Any]:
    """The JSON object of any stream item (``vrx tail --json`` prints one per line)."""
    if isinstance(item, Snapshot | Notice):
        return item.to_json()
    return {"kind": "event", "event": event_json(item)}


class WriterDead(VrxError):
    """No event and no heartbeat for the documented time, and no run end: exit 3."""

    exit_code = ExitCode.INCOMPLETE


class LogChanged(CorruptLog):
    """The log shrank below what was read, or was replaced or rewritten with different bytes: exit 65."""


class TailTimeout(VrxError):
    """``timeout`` expired while the run was still going: exit 124 (GNU ``timeout``'s code)."""

    exit_code = ExitCode.TIMEOUT


__all__ = [
    "LogChanged",
    "Notice",
    "NoticeKind",
    "Snapshot",
    "TailItem",
    "TailTimeout",
    "WriterDead",
    "event_json",
    "event_tag",
    "item_json",
]
