"""Server-Sent Events for ``vrx serve``: framing, and the resume cursor of a run's stream.

A run stream's message ids are cursors: the last event seq sent of each log (``5``, or a per-rank
vector ``0:5,1:3`` for a multi-rank run; ``-`` before any event). The browser's EventSource sends
the last one back as ``Last-Event-ID`` when it reconnects; :class:`ResumeFilter` then passes only
what comes after it, so no event is sent twice or skipped. Snapshots and notices held back while a
resumed stream re-reads its history are not re-sent (the latest snapshot is sent once the cursor is
reached), except a notice raised after the cursor's last event, which a client may see twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from vrx_core.follow.stream import Notice, Snapshot, TailItem

#: A comment line: keeps proxies and the browser from timing the stream out.
KEEPALIVE: Final = b": keep-alive\n\n"
#: Keep-alive comments this often while nothing else is sent.
KEEPALIVE_S: Final = 15.0
#: The cursor of a stream that has sent no event yet.
NO_EVENT: Final = "-"
#: How long a browser waits before reconnecting a dropped stream (the ``retry:`` field).
RETRY_MS: Final = 1000

Vector = dict[int | None, int]

_SINGLE = re.compile(r"-1|\d{1,18}")
_PAIR = re.compile(r"(\d{1,9}):(-1|\d{1,18})")


class BadCursor(ValueError):
    """A ``Last-Event-ID`` this server never sent: 400."""


def frame(data: str, *, event_id: str | None = None, event: str | None = None) -> bytes:
    """One SSE message; ``data`` may span lines (each becomes a ``data:`` line)."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


def retry_field(ms: int = RETRY_MS) -> bytes:
    return f"retry: {ms}\n\n".encode()


def format_cursor(vector: Vector) -> str:
    """``-`` (no event yet), ``5`` (single process) or ``0:5,1:3`` (per rank, rank order)."""
    if not vector:
        return NO_EVENT
    if None in vector:
        return str(vector[None])
    return ",".join(f"{r}:{s}" for r, s in sorted((r, s) for r, s in vector.items() if r is not None))


def parse_cursor(text: str | None) -> Vector:
    """The vector of a cursor from :func:`format_cursor`; empty for none. :class:`BadCursor` else."""
    text = (text or "").strip()
    if text in ("", NO_EVENT):
        return {}
    if _SINGLE.fullmatch(text):
        return {None: int(text)}
    vector: Vector = {}
    for part in text.split(","):
        m = _PAIR.fullmatch(part)
        if m is None or int(m.group(1)) in vector:
            raise BadCursor(f"not a stream cursor: {text[:80]!r}")
        vector[int(m.group(1))] = int(m.group(2))
    return vector


@dataclass
class ResumeFilter:
    """Decides which follower items a stream sends, given the cursor it resumes after (if any).

    Events at or before the cursor are dropped (by rank and seq). Until every log has been re-read
    up to the cursor (or the follower caught up with the log), snapshots and notices are held back:
    the client has them. The last held snapshot is released when the cursor is reached.
    """

    after: Vector = field(default_factory=dict)
    #: Last event seq sent (or skipped as already sent) per log: the cursor of the next message.
    sent: Vector = field(default_factory=dict)
    _seen: Vector = field(default_factory=dict)
    _held: Snapshot | None = None
    _behind: bool = False

    def __post_init__(self) -> None:
        self.sent = dict(self.after)
        self._behind = bool(self.after)

    @property
    def cursor(self) -> str:
        return format_cursor(self.sent)

    def admit(self, item: TailItem) -> list[TailItem]:
        """The items to send for ``item``: none, it, or a held snapshot before it."""
        if isinstance(item, Snapshot):
            if self._behind:
                self._held = item
                return []
            return [item]
        if isinstance(item, Notice):
            return self._notice(item)
        return self._event(item)

    def _event(self, ev: TailItem) -> list[TailItem]:
        assert not isinstance(ev, Snapshot | Notice)
        key = ev.rank
        self._seen[key] = max(ev.seq, self._seen.get(key, -1))
        out = self._release() if self._behind and self._reached() else []
        if ev.seq <= self.after.get(key, -1):
            return out
        self.sent[key] = max(ev.seq, self.sent.get(key, -1))
        return [*out, ev]

    def _notice(self, n: Notice) -> list[TailItem]:
        if n.kind == "caught_up" and self._behind:
            return self._release()  # the whole log re-read: whatever the cursor said, go on live
        if self._behind:
            return []
        if self.after and n.seq is not None and n.seq <= self.after.get(n.rank, -1):
            return []  # raised by an event the client already had
        return [n]

    def _reached(self) -> bool:
        return all(self._seen.get(k, -1) >= s for k, s in self.after.items())

    def _release(self) -> list[TailItem]:
        self._behind = False
        held, self._held = self._held, None
        return [held] if held is not None else []


__all__ = [
    "KEEPALIVE",
    "KEEPALIVE_S",
    "NO_EVENT",
    "BadCursor",
    "ResumeFilter",
    "Vector",
    "format_cursor",
    "frame",
    "parse_cursor",
    "retry_field",
]
