"""The SSE streams of ``vrx serve`` as async generators of bytes: a run's items, and the runs list.

A run stream sends the follower's items (``item_json``, the objects of ``vrx tail --json``), a
``status`` item whenever the run's status or progress changes, and ``{"kind": "end"}`` once the
run ended (or its follower stopped on an error), after which the server closes the stream. Every
message carries the resume cursor as its ``id`` (:mod:`.sse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from vrx_core.follow.stream import Notice, Snapshot, TailItem, item_json

from .feed import Batch, FollowerFeed
from .sse import KEEPALIVE, KEEPALIVE_S, ResumeFilter, frame, retry_field
from .status import PROGRESS_EVERY_S, RunStatus

_encode = msgspec.json.Encoder().encode


def dumps(obj: Any) -> str:
    return _encode(obj).decode()


async def next_of(queue: asyncio.Queue[Any], shutdown: asyncio.Event, timeout: float) -> tuple[bool, Any]:
    """``(True, item)`` from the queue; ``(False, None)`` on timeout or shutdown (check it)."""
    get = asyncio.ensure_future(queue.get())
    stop = asyncio.ensure_future(shutdown.wait())
    try:
        await asyncio.wait({get, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not get.done():
            get.cancel()
    if get.done() and not get.cancelled():
        return True, get.result()
    return False, None


def wanted(item: TailItem, rank: int | None) -> bool:
    """With ``?rank=R``: that rank's events and notices, the run's notices, and snapshots."""
    if rank is None or isinstance(item, Snapshot):
        return True
    if isinstance(item, Notice):
        return item.rank in (None, rank)
    return item.rank == rank


class RunStream:
    """One client's stream of one run (see the module docstring)."""

    def __init__(
        self, feed: FollowerFeed, resume: ResumeFilter, *, rank: int | None, shutdown: asyncio.Event
    ) -> None:
        self.feed, self.resume, self.rank, self.shutdown = feed, resume, rank, shutdown
        self.status = RunStatus()
        self._sent_status: dict[str, Any] | None = None
        self._status_at = 0.0
        self.keepalive_s = KEEPALIVE_S

    def _frame(self, obj: dict[str, Any]) -> bytes:
        return frame(dumps(obj), event_id=self.resume.cursor)

    def _status_frame(self, *, force: bool) -> bytes | None:
        now = time.monotonic()
        current = self.status.to_json()
        if current == self._sent_status:
            return None
        old = self._sent_status
        same_status = old is not None and old["status"] == current["status"]
        if not force and same_status and now - self._status_at < PROGRESS_EVERY_S:
            return None  # progress alone: at most every PROGRESS_EVERY_S
        self._sent_status, self._status_at = current, now
        return self._frame(current)

    def _batch(self, batch: Batch) -> list[bytes]:
        out = []
        for item in batch.items:
            self.status.update(item)
            if wanted(item, self.rank):
                out += [self._frame(item_json(i)) for i in self.resume.admit(item)]
        self.status.ranks = batch.ranks
        if batch.failed is not None:
            self.status.fail(*batch.failed)
        elif batch.ended:
            self.status.end()
        done = batch.ended or batch.failed is not None
        st = self._status_frame(force=done)
        if st is not None:
            out.append(st)
        if done:
            out.append(self._frame({"kind": "end", "status": self.status.state}))
        return out

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield retry_field()
        self.feed.start()
        try:
            idle_since = time.monotonic()
            while not self.shutdown.is_set():
                pending = self._sent_status != self.status.to_json()
                wait = PROGRESS_EVERY_S if pending else self.keepalive_s - (time.monotonic() - idle_since)
                got, batch = await next_of(self.feed.queue, self.shutdown, max(0.0, wait))
                if not got:
                    if self.shutdown.is_set():
                        return
                    chunk = self._status_frame(force=False) if pending else None
                    if chunk is None and time.monotonic() - idle_since >= self.keepalive_s:
                        chunk = KEEPALIVE
                    if chunk is not None:
                        idle_since = time.monotonic()
                        yield chunk
                    continue
                chunks = self._batch(batch)
                if chunks:
                    idle_since = time.monotonic()
                    yield b"".join(chunks)
                if batch.ended or batch.failed is not None:
                    return
        finally:
            self.feed.stop()


async def runs_stream(
    listing: Callable[[], Awaitable[dict[str, Any]]],
    signature: Callable[[dict[str, Any]], Any],
    *,
    shutdown: asyncio.Event,
    every_s: float,
) -> AsyncIterator[bytes]:
    """``event: runs`` with the listing at connect and whenever its ``signature`` changes."""
    yield retry_field()
    last: Any = None
    idle_since = time.monotonic()
    while not shutdown.is_set():
        data = await listing()
        sig = signature(data)
        if sig != last:
            last, idle_since = sig, time.monotonic()
            yield frame(dumps(data), event="runs")
        elif time.monotonic() - idle_since >= KEEPALIVE_S:
            idle_since = time.monotonic()
            yield KEEPALIVE
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shutdown.wait(), every_s)


__all__ = ["RunStream", "dumps", "next_of", "runs_stream", "wanted"]
