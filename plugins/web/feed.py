"""A follower in a thread, feeding an asyncio queue: how a run stream reads a live log.

A :class:`~vrx_core.follow.follower.Follower` (or ``RankedFollower``) blocks, waiting on inotify;
:class:`FollowerFeed` runs one per open stream in a daemon thread and hands its batches to the
event loop. ``read`` is called in slices of :data:`SLICE_S`, so :meth:`FollowerFeed.stop` (a closed
tab, a server shutting down) ends the thread within a slice and the follower is closed there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from vrx_core.errors import CorruptLog, VrxError
from vrx_core.follow.choose import make_follower, switch_to_ranks
from vrx_core.follow.ranks import RankedFollower
from vrx_core.follow.stream import TailItem, WriterDead

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

#: The longest a follower's ``read`` blocks before the thread looks whether it should stop.
SLICE_S: Final = 0.2
#: Batches queued ahead of the stream; the follower waits when the client reads slowly.
QUEUE_BATCHES: Final = 64


@dataclass
class Batch:
    """What one ``read`` returned, and the follower's state after it."""

    items: list[TailItem]
    ended: bool = False
    ranks: dict[int, str] | None = None
    #: The follower stopped on an error: (status, message).
    failed: tuple[str, str] | None = None


def _failure(exc: VrxError) -> tuple[str, str]:
    if isinstance(exc, WriterDead):
        return ("crashed", str(exc))
    if isinstance(exc, CorruptLog):
        return ("corrupt", str(exc))
    return ("error", str(exc))


@dataclass(eq=False)  # identity: open feeds are kept in a set
class FollowerFeed:
    """Follows ``run_dir`` in a thread from the log's beginning; batches arrive on :attr:`queue`.

    The last batch has ``ended`` or ``failed`` set; nothing follows it.
    """

    run_dir: Path
    loop: asyncio.AbstractEventLoop
    plugins: PluginSet | None = None
    options: dict[str, Any] = field(default_factory=dict)
    queue: asyncio.Queue[Batch] = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(QUEUE_BATCHES)

    def start(self) -> None:
        name = f"vrx-serve-follow {self.run_dir}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop; it closes the follower within :data:`SLICE_S`."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _options(self) -> dict[str, Any]:
        p = self.plugins
        return {
            "from_start": True,
            "registry": p.registry if p is not None else None,
            "plugins": p,
            "snapshots": p is not None,
            **self.options,
        }

    def _run(self) -> None:
        options = self._options()
        f = make_follower(self.run_dir, **options)
        last_ranks: dict[int, str] | None = None
        try:
            while not self._stop.is_set():
                try:
                    items = f.read(SLICE_S)
                except VrxError as exc:
                    self._put(Batch([], failed=_failure(exc)))
                    return
                f = switch_to_ranks(f, self.run_dir, **options)
                ranks = f.rank_states() if isinstance(f, RankedFollower) else None
                news = items or f.ended or ranks != last_ranks
                last_ranks = ranks
                if news and not self._put(Batch(items, f.ended, ranks)):
                    return
                if f.ended:
                    return
        finally:
            f.close()

    def _put(self, batch: Batch) -> bool:
        """Queue ``batch``, waiting while the queue is full; False when told to stop meanwhile."""
        try:
            fut = asyncio.run_coroutine_threadsafe(self.queue.put(batch), self.loop)
        except RuntimeError:  # the loop is closed: the server is gone
            return False
        while True:
            try:
                fut.result(SLICE_S)
                return True
            except (concurrent.futures.TimeoutError, TimeoutError):
                if self._stop.is_set():
                    fut.cancel()
                    return False
            except concurrent.futures.CancelledError:
                return False


__all__ = ["QUEUE_BATCHES", "SLICE_S", "Batch", "FollowerFeed"]
