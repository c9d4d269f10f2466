"""One rank's log in a live multi-rank merge (:mod:`vrx_core.follow.ranks`): its checked cursor, its
writer's liveness, the events read but not merged out yet, and what became of the rank.

Each rank is read exactly as a single-process log is (:class:`~vrx_core.follow.cursor.LogCursor`)
and its writer judged by the same rule (:class:`~vrx_core.follow.liveness.Liveness`, reading the
rank's own ``writer.rank<R>.lock``); only the verdicts differ: they name the rank and end nothing
but the rank.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import msgspec

from vrx_core.events import AnyEvent, EventRegistry
from vrx_core.follow.cursor import Batch, LogCursor
from vrx_core.follow.liveness import Liveness
from vrx_core.follow.stream import Notice, TailItem
from vrx_core.log.rundir import RunDir

#: ``(t, rank, seq)``: the order of a merged multi-rank run.
Key = tuple[float, int, int]
_set_rank = msgspec.structs.force_setattr


class RankLog:
    """One rank's log: cursor, liveness, queue of events read but not merged out, and ``state``.

    Args:
        late: the log was not there when the tail started (or is only expected from the world
            size): none of it is history.
    """

    def __init__(
        self,
        rank: int,
        run: RunDir,
        registry: EventRegistry,
        *,
        from_start: bool,
        max_line: int,
        dead_after_s: float,
        now: float,
        late: bool,
    ) -> None:
        self.rank = rank
        self.path = run.rank_log(rank)
        self.cursor = LogCursor(self.path, registry, from_start=from_start, max_line=max_line)
        self.liveness = Liveness(run.root, dead_after_s=dead_after_s, now=now, lock=run.rank_lock(rank))
        self.late = late
        #: Monotonic time the rank became known; the last change of its log's size.
        self.since = self.changed_at = now
        self.opened = False
        self.deleted = False
        #: Read to its end at least once.
        self.caught_up = False
        #: Why the writer is presumed dead (or the log never appeared), None while it may write.
        self.dead: str | None = None
        #: Events read (each with whether to show it) and not merged out yet, in the log's order.
        self.queue: deque[tuple[AnyEvent, bool]] = deque()
        #: ``(t, rank, seq)`` of the last event read.
        self.last: Key = (-math.inf, rank, -1)

    @property
    def done(self) -> bool:
        """Nothing more will be read: the log ended, or its writer is presumed dead."""
        return self.cursor.ended or self.dead is not None

    @property
    def state(self) -> str:
        """``waiting`` (no log yet), ``running``, ``ended``, ``dead`` or ``missing`` (never appeared)."""
        if self.cursor.ended:
            return "ended"
        if self.dead is not None:
            return "dead" if self.opened else "missing"
        return "running" if self.opened else "waiting"

    def quiet_at(self, hold_s: float) -> float:
        """When the rank turns quiet if nothing changes: ``hold_s`` after the last change of its
        log (or after it became known, while it has no log); never while a line is unread."""
        if not self.opened:
            return self.since + hold_s
        c = self.cursor
        return math.inf if c.more or c.partial or c.residue is not None else self.changed_at + hold_s

    def head(self) -> Key:
        """The key of the first queued event (the queue must not be empty)."""
        ev = self.queue[0][0]
        return (ev.t, self.rank, ev.seq)

    def open(self, out: list[TailItem], now: float) -> bool:
        """Open the log if it exists now; a ``found`` notice for a log that appeared late."""
        if not self.cursor.open(all_new=self.late):
            return False
        self.opened = True
        self.changed_at = now
        self.liveness.opened(now)
        if self.dead is not None:  # given up on as missing: it joins, late
            self.dead = None
            out.append(
                Notice("found", f"rank {self.rank}: event log appeared late: {self.path}", rank=self.rank)
            )
        elif self.late:
            out.append(Notice("found", f"rank {self.rank}: event log appeared: {self.path}", rank=self.rank))
        return True

    def drain(self, out: list[TailItem], now: float) -> Batch:
        """Read and check what is new (one read), tag each event with the rank, queue it and
        return it. Lines accepted before an error are queued; the error goes on."""
        c = self.cursor
        batch: Batch = []
        try:
            c.drain(batch, out, now)
        finally:
            if c.changed:
                self.changed_at = now
            if c.grew:
                self.liveness.grew(now)
            if batch:
                for ev, _ in batch:
                    _set_rank(ev, "rank", self.rank)
                last = batch[-1][0]
                self.last = (last.t, self.rank, last.seq)
                self.queue.extend(batch)
                self.liveness.events(now)
        if not c.more:
            self.caught_up = True
        return batch

    def check_identity(self, out: list[TailItem], drain: Callable[[], object]) -> None:
        """The log deleted (its open file is followed on) or replaced (followed only if its bytes
        up to the offset are the ones read), as :class:`~vrx_core.follow.follower.Follower` does;
        ``drain`` reads the old file to its end first."""
        c = self.cursor
        at = c.at_path()
        if at == "missing":
            if not self.deleted:
                self.deleted = True
                message = f"rank {self.rank}: {self.path} was deleted; following the open file"
                out.append(Notice("deleted", message, c.report.last_seq, "warning", rank=self.rank))
            return
        if at != "other":
            self.deleted = self.deleted and at != "same"
            return
        drain()
        while c.more:
            drain()
        if c.ended or not c.switch_to_path():
            return
        self.deleted = False
        message = f"rank {self.rank}: {self.path} was replaced by a file with the same first {c.offset} bytes"
        out.append(Notice("replaced", message + "; following it", c.report.last_seq, rank=self.rank))

    def check_writer(self, now: float, dead_after_s: float) -> Notice | None:
        """Read the lock; a ``rank_dead`` notice when the writer is presumed dead, or
        ``rank_missing`` when the log has not appeared for ``dead_after_s`` (nor a heartbeat)."""
        why = self.liveness.check(now)  # also records the heartbeat of a rank with no log yet
        if self.opened and why is not None:
            self.dead = why
            seq = self.cursor.report.last_seq
            message = f"rank {self.rank}: writer presumed dead: {why}; last seq {seq}, no run end"
            return Notice("rank_dead", message + self.cursor.unread_note(), seq, "warning", rank=self.rank)
        if not self.opened and now - max(self.since, self.liveness.last_alive) >= dead_after_s:
            self.dead = f"no event log after {now - self.since:.0f} s"
            message = f"rank {self.rank}: {self.dead} ({self.path.name}); following the other ranks"
            return Notice("rank_missing", message, None, "warning", rank=self.rank)
        return None


__all__ = ["Key", "RankLog"]
