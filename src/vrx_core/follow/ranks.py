"""Following a multi-rank run live: one checked cursor and one liveness per rank, merged in order.

A multi-rank run keeps one log per rank (``events.rank<R>.jsonl``, each with its own
``writer.rank<R>.lock``, seq and salt). :class:`RankedFollower` reads each log with its own
:class:`~vrx_core.follow.cursor.LogCursor` (checked exactly as a single log is), judges each writer
with its own :class:`~vrx_core.follow.liveness.Liveness`, and is woken by one
:class:`~vrx_core.follow.watch.ChangeWatcher` on the directory, which also sees a rank that starts
late (its log joins when it appears). The merged events go through one
:class:`~vrx_core.follow.pipeline.EventPipeline`, so derivers and alert rules see every rank's
events, each carrying its ``rank``.

**Order.** As :class:`~vrx_core.log.merge.RunReader` merges a finished run, events are merged by
``(t, rank, seq)`` over one queue per rank (a rank's own order is kept even if its clock stepped
back). An event leaves only below the *low watermark*: the smallest ``(t, rank, seq)`` last read
from the ranks that may still write something earlier, that is the ranks still running with
nothing queued. A rank that ended (``run_end``) or is presumed dead holds nothing back. Neither
does a rank that has been quiet for ``hold_s`` (1 s): a writer stamps ``t`` just before it writes
the line, so what a quiet rank writes next sorts after what the others wrote meanwhile (up to the
clock skew between hosts). A rank of the world size (``run_start.world_size``) whose log has not
appeared holds the others back for ``hold_s`` too. When every rank ended, everything is flushed.

**End and liveness.** The run ends when every rank's log ends with ``run_end`` (and every rank the
world size names has a log: a missing one keeps the run going for ``dead_after_s``, then is
``rank_missing``). A rank whose writer is presumed dead is a ``rank_dead`` notice naming it; the
others go on. :class:`~vrx_core.follow.stream.WriterDead` is raised only once no rank is left
running and at least one of them died.
"""

from __future__ import annotations

import functools
import heapq
import math
import os
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from vrx_core.errors import NoSuchRun, VrxError
from vrx_core.events import EventRegistry, RunStart
from vrx_core.follow.cursor import Batch
from vrx_core.follow.follower import WAIT_DIR_S
from vrx_core.follow.liveness import CHECK_S, DEAD_AFTER_S, STALL_AFTER_S
from vrx_core.follow.pipeline import EventPipeline
from vrx_core.follow.rank_log import Key, RankLog
from vrx_core.follow.stream import Notice, TailItem, TailTimeout, WriterDead
from vrx_core.follow.watch import ChangeWatcher
from vrx_core.hooks.api import ReplayContext
from vrx_core.log.framing import MAX_LINE_BYTES
from vrx_core.log.reader import ReadReport, default_registry
from vrx_core.log.rundir import RunDir

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

#: A rank quiet for this long (or whose log has not appeared) no longer holds the others back.
HOLD_S: Final = 1.0
#: Events of one rank read ahead of the merge; more of its log is read only below this.
READ_AHEAD: Final = 50_000
#: A heartbeat has the locks read at once, but not more often than this (a lock per rank).
LOCK_CHECK_S: Final = 0.1


class RankedFollower:
    """Follows a multi-rank run: the API of :class:`~vrx_core.follow.follower.Follower` (``read``,
    ``catch_up``, ``ended``, ``caught_up``, ...), the events of all ranks merged by
    ``(t, rank, seq)`` up to the low watermark (see the module docstring), each with its ``rank``.

    Args: as :class:`~vrx_core.follow.follower.Follower` (no ``resume``), and ``hold_s``: how long
    a quiet rank, or one whose log has not appeared, holds back the others' events; ``appeared``:
    the run appeared while a tail waited for it, so none of its logs is history.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        *,
        from_start: bool = True,
        registry: EventRegistry | None = None,
        plugins: PluginSet | None = None,
        snapshots: bool = False,
        derive: bool = True,
        poll: bool | None = None,
        poll_interval: float | None = None,
        dead_after_s: float = DEAD_AFTER_S,
        stall_after_s: float = STALL_AFTER_S,
        check_s: float = CHECK_S,
        max_line: int = MAX_LINE_BYTES,
        hold_s: float = HOLD_S,
        appeared: bool = False,
    ) -> None:
        self.run = RunDir.of(run_dir)
        self._appeared = appeared  # the run appeared while a tail waited: none of it is history
        self.run_dir = self.run.root
        self.registry = registry or (plugins.registry if plugins is not None else default_registry())
        self.from_start = from_start
        self.max_line = max_line
        self.dead_after_s = dead_after_s
        self.check_s = check_s
        self.hold_s = hold_s
        context = ReplayContext(run_dir=self.run_dir, out_dir=None, registry=self.registry)
        self.pipeline = EventPipeline(
            plugins, context, derive=derive, snapshots=snapshots, stall_after_s=stall_after_s
        )
        self.watcher = ChangeWatcher(self.run_dir, poll=poll, poll_interval=poll_interval, multi_rank=True)
        now = time.monotonic()
        self.started = self._next_check = now
        self._checked_at = -math.inf
        #: The ranks found or expected, by rank.
        self.ranks: dict[int, RankLog] = {}
        #: The largest world size a rank's ``run_start`` recorded (None: none read yet).
        self.world_size: int | None = None
        #: True once every rank ended; True once every log found has been read to its end.
        self.ended = False
        self.caught_up = False
        self._heads: list[tuple[Key, int]] = []  # the head of each non-empty queue
        self._last_seq = -1
        self._looked = self._waited = self._catching = False
        self._pending_error: VrxError | None = None

    # -- public ------------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """How changes are noticed: ``inotify``, ``poll`` or ``poll (network fs <type>)``."""
        return self.watcher.mode

    @property
    def exists(self) -> bool:
        """Whether a rank's log was found."""
        return any(r.opened for r in self.ranks.values())

    @property
    def reports(self) -> dict[int, ReadReport]:
        """Each rank's checker report (lines, last seq, run start, ...)."""
        return {k: r.cursor.report for k, r in sorted(self.ranks.items())}

    @property
    def offset(self) -> int:
        """Bytes read and checked so far, all ranks together."""
        return sum(r.cursor.offset for r in self.ranks.values())

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last ``\\n`` of each log at the last read, all ranks together."""
        return sum(r.cursor.partial for r in self.ranks.values())

    @property
    def holder(self) -> dict[str, Any] | None:
        """Holder of the lowest running rank's lock at the last check, or None."""
        return next((r.liveness.holder for r in self._running()), None)

    def rank_states(self) -> dict[int, str]:
        """Each rank's :attr:`RankLog.state`, by rank."""
        return {k: r.state for k, r in sorted(self.ranks.items())}

    def first_new_seq_of(self, rank: int | None) -> int | None:
        """Seq of the first event of ``rank``'s log written after the tail started (None: none yet)."""
        r = self.ranks.get(rank) if rank is not None else None
        return None if r is None else r.cursor.first_new_seq

    def heartbeat_age(self) -> float | None:
        """Seconds since a running rank's lock was last seen to change (the most recent), or None."""
        now = time.monotonic()
        ages = [a for r in self._running() if (a := r.liveness.heartbeat_age(now)) is not None]
        return min(ages, default=None)

    def event_age(self) -> float:
        """Seconds since the last event arrived from any rank (or since the tail started)."""
        last = max((r.liveness.last_event for r in self.ranks.values() if r.opened), default=self.started)
        return time.monotonic() - last

    def read(self, timeout: float | None = None) -> list[TailItem]:
        """Return what arrived, waiting up to ``timeout`` seconds (None: until something does).

        Returns an empty list when the timeout expires, and at once after the run end.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.ended:
                return []
            out = self._step()
            if out or self.ended:
                return out
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return out
            if self._more():
                continue
            wait = self._next_wake(now)
            if deadline is not None:
                wait = min(wait, deadline - now)
            self.watcher.wait(max(0.0, wait))

    def catch_up(self, timeout: float | None = None) -> list[TailItem]:
        """Read every rank's log up to its current end and return everything, merged (``--once``).

        Raises :class:`NoSuchRun` if no rank's log exists (after waiting up to ``timeout``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        items: list[TailItem] = []
        self._catching = True  # read each log to its end, whatever the others hold back
        try:
            while not (self.caught_up or self.ended):
                items += self._step()
                if self.caught_up or self.ended:
                    break
                if not self.exists:
                    now = time.monotonic()
                    if deadline is None or now >= deadline:
                        raise self.timeout_error(timeout)
                    self.watcher.wait(min(self._next_wake(now), deadline - now))
        finally:
            self._catching = False
        self._flush(items)  # the state so far: what the others still hold back goes out too
        return items

    def timeout_error(self, timeout: float | None) -> VrxError:
        """The error for an expired ``timeout``: no run (66) or still running (124 in the CLI)."""
        if not self.exists:
            within = "" if not timeout else f" within {timeout:g} s"
            return NoSuchRun(f"no event log appeared{within}", path=self.run_dir)
        running = [k for k, s in self.rank_states().items() if s in ("running", "waiting")]
        return TailTimeout(
            f"timed out after {timeout:g} s; the run is still going (rank(s) {rank_list(running)} not ended)",
            path=self.run_dir,
        )

    def close(self) -> None:
        for r in self.ranks.values():
            r.cursor.close()
        self.watcher.close()

    def __enter__(self) -> RankedFollower:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- one step ------------------------------------------------------------------------------------

    def _running(self) -> list[RankLog]:
        return [r for _, r in sorted(self.ranks.items()) if r.opened and not r.done]

    def _more(self) -> bool:
        return any(r.cursor.more and self._may_read(r) for r in self._running())

    def _may_read(self, r: RankLog) -> bool:
        return self._catching or len(r.queue) < READ_AHEAD

    def _next_wake(self, now: float) -> float:
        if not self.exists and not self.run_dir.is_dir():
            wake = WAIT_DIR_S
        else:
            wake = self.watcher.timeout(self._next_check - now)
        for r in self._running():
            if r.cursor.residue is not None:
                wake = min(wake, r.cursor.retry_at - now)
        if self._heads:  # events wait: wake when a rank holding them back turns quiet
            for r in self.ranks.values():
                if self._holds(r, now):
                    wake = min(wake, r.quiet_at(self.hold_s) - now)
        return max(0.0, wake)

    def _step(self) -> list[TailItem]:
        """Look once: find ranks, open, check identities, read, judge the writers, merge out."""
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        out: list[TailItem] = list(self.pipeline.pending())
        try:
            self._step_into(out)
        except VrxError as exc:
            self._flush(out)  # what was read before the error is shown, in merged order
            if any(not isinstance(i, Notice) for i in out):
                self._pending_error = exc
                return out
            raise
        return out

    def _step_into(self, out: list[TailItem]) -> None:
        now = time.monotonic()
        w = self.watcher
        due = now >= self._next_check
        if w.identity_dirty or due or not self._looked:
            self._discover(now)
        w.arm(False)
        if not self.ranks and not self._waited:
            self._waited = True
            where = "run directory" if not self.run_dir.is_dir() else "rank logs"
            out.append(Notice("waiting", f"waiting for the {where} to appear: {self.run_dir}"))
        identity, w.identity_dirty = w.identity_dirty or due, False
        changed = idle = False
        for r in self._running():
            if (w.network and r.cursor.revalidate()) or identity:
                r.check_identity(out, functools.partial(self._drain, r, out, now))
            if not r.done and self._may_read(r):
                self._drain(r, out, now)
                changed, idle = changed or r.cursor.changed, idle or r.cursor.idle
        # A log that appears now was created before the others' lines just read were written: it
        # is read (or, empty, holds them back) before any of those goes out.
        for r in list(self.ranks.values()):
            if not r.opened and r.open(out, now):
                self._drain(r, out, now)
        if changed:
            w.activity()
        elif idle:
            w.idle()
        if due or (w.lock_dirty and now - self._checked_at >= LOCK_CHECK_S):  # every rank's lock
            w.lock_dirty = False
            self._next_check = now + w.check_every(self.check_s)
            self._checked_at = now
            self._check_writers(out, now)
        self._merge_out(out, now)
        opened = [r for r in self.ranks.values() if r.opened]
        if not self.caught_up and opened and all(r.caught_up or r.done for r in opened):
            self.caught_up = True
            lines = sum(r.cursor.report.lines for r in opened)
            message = f"read {lines} line(s) of {len(opened)} rank log(s) so far; following"
            out.append(Notice("caught_up", message))
        self._finish(out)

    def _discover(self, now: float) -> None:
        for rank in self.run.ranks():
            if rank not in self.ranks:
                self._add(rank, now, late=self._looked or self._appeared)
        self._looked = True

    def _add(self, rank: int, now: float, *, late: bool) -> None:
        self.ranks[rank] = RankLog(
            rank,
            self.run,
            self.registry,
            from_start=self.from_start,
            max_line=self.max_line,
            dead_after_s=self.dead_after_s,
            now=now,
            late=late,
        )

    def _expect(self, world: int, out: list[TailItem], now: float) -> None:
        """A ``run_start`` says how many ranks there are: wait for those not found yet."""
        if self.world_size is not None and world <= self.world_size:
            return
        self.world_size = world
        missing = [k for k in range(world) if k not in self.ranks]
        for k in missing:
            self._add(k, now, late=True)
        if missing:
            message = f"waiting for the log of rank(s) {rank_list(missing)} (world size {world})"
            out.append(Notice("waiting", message))

    def _drain(self, r: RankLog, out: list[TailItem], now: float) -> None:
        """Read a rank's new events into its queue (its head into the merge) and learn the world size."""
        was_empty = not r.queue
        try:
            batch = r.drain(out, now)
        finally:
            if was_empty and r.queue:
                heapq.heappush(self._heads, (r.head(), r.rank))
        for ev, _ in batch:
            if isinstance(ev, RunStart) and ev.world_size is not None:
                self._expect(ev.world_size, out, now)

    def _check_writers(self, out: list[TailItem], now: float) -> None:
        """Each running rank's writer, and each expected rank still without a log; then the idle
        rules while the run as a whole is quiet with a heartbeat."""
        for r in list(self.ranks.values()):
            if not r.done:
                notice = r.check_writer(now, self.dead_after_s)
                if notice is not None:
                    out.append(notice)
        running = self._running()
        if not running or not self.caught_up:
            return
        last_event = max(r.liveness.last_event for r in running)
        if max(r.liveness.last_beat for r in running) > last_event:
            out += self.pipeline.idle(now - last_event, self._last_seq)

    # -- the merge -----------------------------------------------------------------------------------

    def _holds(self, r: RankLog, now: float) -> bool:
        """Whether the rank holds the others back at its last key: it may still write, has nothing
        queued (a queued head is in the merge already) and is not quiet."""
        return not (r.done or r.queue or r.quiet_at(self.hold_s) <= now)

    def _merge_out(self, out: list[TailItem], now: float | None) -> None:
        """Take the events below the low watermark from the queues in ``(t, rank, seq)`` order (each
        rank's own order kept) and feed them to the pipeline; ``now`` None: all of them (flush)."""
        below: Key = (math.inf, 0, 0)
        if now is not None:
            below = min((r.last for r in self.ranks.values() if self._holds(r, now)), default=below)
        heads = self._heads
        batch: Batch = []
        while heads and heads[0][0] < below:
            _, rank = heapq.heappop(heads)
            r = self.ranks[rank]
            batch.append(r.queue.popleft())
            if r.queue:
                heapq.heappush(heads, (r.head(), rank))
            elif now is not None and self._holds(r, now):  # its queue ran dry: it holds from now on
                below = min(below, r.last)
        if batch:
            self._last_seq = batch[-1][0].seq
            out += self.pipeline.events(batch, self._last_seq)

    def _flush(self, out: list[TailItem]) -> None:
        self._merge_out(out, None)

    def _finish(self, out: list[TailItem]) -> None:
        """Every rank ended or is presumed dead: flush, then end, or raise :class:`WriterDead`."""
        if not self.ranks or not all(r.done for r in self.ranks.values()):
            return
        self._flush(out)
        dead = [r for _, r in sorted(self.ranks.items()) if r.dead is not None]
        if not dead:
            self.ended = True
            return
        ended = [k for k, r in sorted(self.ranks.items()) if r.cursor.ended]
        why = "; ".join(f"rank {r.rank}: {r.dead}" for r in dead)
        also = f"; rank(s) {rank_list(ended)} ended" if ended else ""
        raise WriterDead(f"writer presumed dead: {why}{also}; no run end", path=self.run_dir)


def rank_list(ranks: list[int]) -> str:
    """``0, 2, 3`` (the first 16, then how many more)."""
    shown = ", ".join(str(k) for k in ranks[:16])
    return shown + (f" and {len(ranks) - 16} more" if len(ranks) > 16 else "")


__all__ = ["HOLD_S", "LOCK_CHECK_S", "READ_AHEAD", "RankedFollower", "rank_list"]
