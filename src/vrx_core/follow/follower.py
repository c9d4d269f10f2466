"""Follow a live run: ``vrx tail`` and :func:`follow`.

A :class:`Follower` composes the parts of :mod:`vrx_core.follow` (see there), each usable on its
own: a :class:`~vrx_core.follow.watch.ChangeWatcher` says when to look, a
:class:`~vrx_core.follow.cursor.LogCursor` reads and checks what is new, a
:class:`~vrx_core.follow.liveness.Liveness` judges the writer, and an
:class:`~vrx_core.follow.pipeline.EventPipeline` feeds the plugins' derivers and alert rules. The
last snapshot equals a replay's: derivers are folds, fed the same events in the same order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, overload

from vrx_core.errors import NoSuchRun, VrxError
from vrx_core.events import AnyEvent, EventRegistry
from vrx_core.follow.cursor import Batch, LogCursor, Position
from vrx_core.follow.liveness import CHECK_S, DEAD_AFTER_S, QUICK_DEAD_S, STALL_AFTER_S, Liveness
from vrx_core.follow.pipeline import EventPipeline
from vrx_core.follow.stream import LogChanged, Notice, Snapshot, TailItem, TailTimeout, WriterDead
from vrx_core.follow.watch import (
    LOCAL_POLL_S,
    NETWORK_POLL_MAX_S,
    NETWORK_POLL_S,
    ChangeWatcher,
    fs_type,
    is_network_fs,
)
from vrx_core.hooks.api import ReplayContext
from vrx_core.log.framing import MAX_LINE_BYTES
from vrx_core.log.reader import ReadReport, default_registry
from vrx_core.log.rundir import LOG

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

#: How often a missing run directory is looked for.
WAIT_DIR_S: Final = 0.1


class Follower:
    """Reads a live log incrementally; :meth:`read` returns what arrived, waiting up to ``timeout``.

    :func:`follow` wraps it in an iterator; ``vrx tail`` drives it directly to refresh its view
    between events. Errors surface from :meth:`read`: :class:`WriterDead` (exit 3),
    :class:`LogChanged` or :class:`~vrx_core.errors.CorruptLog` (65),
    :class:`~vrx_core.errors.NewerFormat` (78). Events read before an error are returned first.

    Args:
        run_dir: the run directory (or its ``events.jsonl``); it may not exist yet.
        from_start: yield the events already in the log (default); with False only later ones.
            Earlier events are read and checked either way, and fed to the plugins.
        registry: event kinds to decode (default: the plugins' registry, else the installed plugins'
            kinds, as readers decode by default).
        plugins: a loaded :class:`~vrx_core.hooks.manager.PluginSet`: its derivers are fed every
            event (unless ``derive=False``) and its alert rules (``vrx_alert_rules``) applied.
            The core's alert rules apply in any case.
        snapshots: yield a :class:`Snapshot` after each batch that changed a plugin's snapshot.
        derive: feed the plugins' derivers (``vrx tail --events`` does not).
        poll: None picks inotify on a local file system and polling otherwise; True forces
            polling; False forces inotify (falling back to polling where unavailable).
        poll_interval: seconds between polls (default 0.01 local, 0.5 network).
        dead_after_s: no log growth and no heartbeat for this long: :class:`WriterDead`.
        stall_after_s: no event for this long while the heartbeat is alive: a ``stall`` notice.
        resume: a :class:`~vrx_core.follow.cursor.Position` saved from an earlier follower of the
            same log (``follower.position``): reading goes on from there (the prefix is rehashed
            once, not re-read as events; plugins see only the later events).
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
        resume: Position | None = None,
    ) -> None:
        p = Path(run_dir)
        if p.name == LOG and not p.is_dir():
            p = p.parent
        self.run_dir = p
        self.path = p / LOG
        self.registry = registry or (plugins.registry if plugins is not None else default_registry())
        self.cursor = LogCursor(self.path, self.registry, from_start=from_start, max_line=max_line)
        self.check_s = check_s
        context = ReplayContext(run_dir=p, out_dir=None, registry=self.registry)
        self.pipeline = EventPipeline(
            plugins, context, derive=derive, snapshots=snapshots, stall_after_s=stall_after_s
        )
        self._resume = resume

        self.watcher = ChangeWatcher(p, poll=poll, poll_interval=poll_interval)
        now = time.monotonic()
        self.liveness = Liveness(p, dead_after_s=dead_after_s, now=now)
        self.started = now
        self._next_check = now
        self._deleted = False
        self._pending_error: VrxError | None = None
        self._waited = False
        self._opened_once = False
        #: True once the log has been read to its end at least once.
        self.caught_up = False

    # -- public ------------------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        """How changes are noticed: ``inotify``, ``poll`` or ``poll (network fs <type>)``."""
        return self.watcher.mode

    @property
    def report(self) -> ReadReport:
        """The checker's report: lines, last seq, run start, ..."""
        return self.cursor.report

    @property
    def offset(self) -> int:
        """Bytes of the log read and checked so far (always at a line boundary)."""
        return self.cursor.offset

    @property
    def position(self) -> Position:
        """Where the read stands; pass it as ``resume`` to a later follower of the same log."""
        return self.cursor.position

    @property
    def ended(self) -> bool:
        """True once a run end was read and nothing follows it."""
        return self.cursor.ended

    @property
    def first_new_seq(self) -> int | None:
        """Seq of the first event that was not yet in the log when it was opened (None: none yet)."""
        return self.cursor.first_new_seq

    @property
    def holder(self) -> dict[str, Any] | None:
        """Holder of ``writer.lock`` at the last check (host, pid, ...), or None."""
        return self.liveness.holder

    @property
    def exists(self) -> bool:
        """Whether the log was found (it may not exist yet)."""
        return self._opened_once

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last ``\\n`` at the last read: a line still being written (or torn)."""
        return self.cursor.partial

    def heartbeat_age(self) -> float | None:
        """Seconds since the writer's lock was last seen to change, or None if never."""
        return self.liveness.heartbeat_age()

    def event_age(self) -> float:
        """Seconds since the last event arrived (or since the tail started)."""
        return self.liveness.event_age()

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
            if self.cursor.more:
                continue
            wait = self._next_wake(now)
            if deadline is not None:
                wait = min(wait, deadline - now)
            self.watcher.wait(max(0.0, wait))

    def catch_up(self, timeout: float | None = None) -> list[TailItem]:
        """Read the log up to its current end and return everything (``--once``).

        Raises :class:`NoSuchRun` if the log does not exist (after waiting up to ``timeout``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        items: list[TailItem] = []
        while not (self.caught_up or self.ended):
            items += self._step()
            if self.caught_up or self.ended:
                break
            if not self._opened_once:
                now = time.monotonic()
                if deadline is None or now >= deadline:
                    raise self.timeout_error(timeout)
                self.watcher.wait(min(self._next_wake(now), deadline - now))
        return items

    def timeout_error(self, timeout: float | None) -> VrxError:
        """The error for an expired ``timeout``: no run (66) or still running (124 in the CLI)."""
        if not self._opened_once:
            within = "" if not timeout else f" within {timeout:g} s"
            return NoSuchRun(f"no event log appeared{within}", path=self.path)
        return TailTimeout(
            f"timed out after {timeout:g} s; the run is still going (last seq {self.report.last_seq})",
            path=self.path,
        )

    def close(self) -> None:
        self.cursor.close()
        self.watcher.close()

    def __enter__(self) -> Follower:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- one step ------------------------------------------------------------------------------------

    def _next_wake(self, now: float) -> float:
        if self.cursor.fd < 0 and not self.run_dir.is_dir():
            wake = WAIT_DIR_S
        else:
            wake = self.watcher.timeout(self._next_check - now)
        if self.cursor.residue is not None:
            wake = min(wake, self.cursor.retry_at - now)
        return max(0.0, wake)

    def _arm(self) -> None:
        self.watcher.arm(self.cursor.fd >= 0 and not self._deleted)

    def _step(self) -> list[TailItem]:
        """Look once: open, check identity, read what is new, check the writer. Never waits."""
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        out: list[TailItem] = list(self.pipeline.pending())
        try:
            self._step_into(out)
        except VrxError as exc:
            if any(not isinstance(i, Notice) for i in out):
                self._pending_error = exc  # hand over what was read first
                return out
            raise
        return out

    def _step_into(self, out: list[TailItem]) -> None:
        now = time.monotonic()
        if self.cursor.fd < 0 and not self._open(out, now):
            self._arm()
            return
        self._arm()
        w = self.watcher
        if w.network and self.cursor.revalidate():
            w.identity_dirty = True
        if w.identity_dirty or now >= self._next_check:
            w.identity_dirty = False
            self._check_identity(out)
        batch: Batch = []
        try:
            self._drain(batch, out, now)
        finally:
            self._finish_batch(out, batch)  # lines accepted before an error are still shown
        if not self.cursor.more and not self.caught_up:
            self.caught_up = True
            out.append(
                Notice(
                    "caught_up", f"read {self.report.lines} line(s) so far; following", self.report.last_seq
                )
            )
        if self.ended:
            return
        if w.lock_dirty or now >= self._next_check:
            w.lock_dirty = False
            self._next_check = now + w.check_every(self.check_s)
            self._check_writer(out, now)  # growth just now counts as liveness: no false verdict

    def _open(self, out: list[TailItem], now: float) -> bool:
        if not self.cursor.open(all_new=self._waited):
            if not self._waited:
                self._waited = True
                where = "run directory" if not self.run_dir.is_dir() else "event log"
                out.append(Notice("waiting", f"waiting for the {where} to appear: {self.path}"))
            return False
        if self._resume is not None:
            resume, self._resume = self._resume, None
            self.cursor.restore(resume)
        self._opened_once = True
        self.liveness.opened(now)
        if self._waited:
            out.append(Notice("found", f"event log appeared: {self.path}"))
        return True

    def _drain(self, batch: Batch, out: list[TailItem], now: float) -> bool:
        c = self.cursor
        try:
            return c.drain(batch, out, now)
        finally:
            if c.grew:
                self.liveness.grew(now)
            if c.changed:
                self.watcher.activity()
            elif c.idle:
                self.watcher.idle()

    def _finish_batch(self, out: list[TailItem], batch: Batch) -> None:
        """Feed the plugins, emit the events (those marked shown) with their alerts, then a snapshot."""
        if batch:
            items = self.pipeline.events(batch, self.report.last_seq)
            self.liveness.events(time.monotonic())
            out += items

    # -- identity and liveness -------------------------------------------------------------------------

    def _check_identity(self, out: list[TailItem]) -> None:
        now_at_path = self.cursor.at_path()
        if now_at_path == "missing":
            if not self._deleted:
                self._deleted = True
                out.append(
                    Notice(
                        "deleted",
                        f"{self.path} was deleted; following the open file and waiting for it to reappear",
                        self.report.last_seq,
                        "warning",
                    )
                )
            return
        if now_at_path != "other":
            if now_at_path == "same":
                self._deleted = False
            return
        # Replaced: read the old file to its end, then accept the new one only if its bytes up to
        # our offset are the ones we read.
        batch: Batch = []
        now = time.monotonic()
        try:
            while self._drain(batch, out, now):
                pass
        finally:
            self._finish_batch(out, batch)
        if self.ended or not self.cursor.switch_to_path():
            return  # ended; or gone again: the next check looks once more
        self._deleted = False
        self.watcher.forget_file()
        self._arm()
        out.append(
            Notice(
                "replaced",
                f"{self.path} was replaced by a file with the same first {self.offset} bytes; following it",
                self.report.last_seq,
            )
        )

    def _check_writer(self, out: list[TailItem], now: float) -> None:
        why = self.liveness.check(now)
        if why is not None:
            raise WriterDead(
                f"writer presumed dead: {why}; last seq {self.report.last_seq}, no run end"
                + self.cursor.unread_note(),
                path=self.path,
            )
        quiet = self.liveness.quiet_but_alive(now)
        if quiet is not None and self.caught_up:
            out += self.pipeline.idle(quiet, self.report.last_seq)


# -- the iterator API --------------------------------------------------------------------------


@overload
def follow(
    run_dir: str | os.PathLike[str],
    *,
    from_start: bool = ...,
    registry: EventRegistry | None = ...,
    plugins: PluginSet | None = ...,
    snapshots: Literal[False] = ...,
    notices: Literal[False] = ...,
    timeout: float | None = ...,
    poll: bool | None = ...,
    poll_interval: float | None = ...,
    dead_after_s: float = ...,
    stall_after_s: float = ...,
) -> Iterator[AnyEvent]: ...


@overload
def follow(
    run_dir: str | os.PathLike[str],
    *,
    from_start: bool = ...,
    registry: EventRegistry | None = ...,
    plugins: PluginSet | None = ...,
    snapshots: bool = ...,
    notices: bool = ...,
    timeout: float | None = ...,
    poll: bool | None = ...,
    poll_interval: float | None = ...,
    dead_after_s: float = ...,
    stall_after_s: float = ...,
) -> Iterator[TailItem]: ...


def follow(
    run_dir: str | os.PathLike[str],
    *,
    from_start: bool = True,
    registry: EventRegistry | None = None,
    plugins: PluginSet | None = None,
    snapshots: bool = False,
    notices: bool = False,
    timeout: float | None = None,
    poll: bool | None = None,
    poll_interval: float | None = None,
    dead_after_s: float = DEAD_AFTER_S,
    stall_after_s: float = STALL_AFTER_S,
) -> Iterator[TailItem]:
    """Yield a run's events as they land: the log so far, then each new event within milliseconds.

    >>> for event in follow("runs/demo"):
    ...     print(event)

    The iterator ends after the run end event. It waits for a run that has not started yet.
    A multi-rank run's ranks are merged live (:class:`~vrx_core.follow.ranks.RankedFollower`).
    With ``snapshots=True`` (and ``plugins``) it also yields a :class:`Snapshot` after each batch
    of events that changed a plugin's derived values; with ``notices=True`` it yields
    :class:`Notice` objects (waiting, caught up, and the alerts: NaN, OOM, stall, plugins' own, ...).

    Raises:
        WriterDead: no event and no heartbeat for ``dead_after_s`` (see :mod:`vrx_core.follow.liveness`).
        LogChanged: the log shrank, or was replaced or rewritten with different bytes.
        CorruptLog: a committed line is damaged before the durable point.
        NoSuchRun: ``timeout`` expired before the log appeared.
        TailTimeout: ``timeout`` (seconds, for the whole iteration) expired on a live run.
    """
    from vrx_core.follow.choose import follow_run  # a multi-rank run: its ranks merged live

    yield from follow_run(
        run_dir,
        timeout=timeout,
        notices=notices,
        from_start=from_start,
        registry=registry,
        plugins=plugins,
        snapshots=snapshots,
        poll=poll,
        poll_interval=poll_interval,
        dead_after_s=dead_after_s,
        stall_after_s=stall_after_s,
    )


__all__ = [
    "DEAD_AFTER_S",
    "LOCAL_POLL_S",
    "NETWORK_POLL_MAX_S",
    "NETWORK_POLL_S",
    "QUICK_DEAD_S",
    "STALL_AFTER_S",
    "Follower",
    "LogChanged",
    "Notice",
    "Position",
    "Snapshot",
    "TailItem",
    "TailTimeout",
    "WriterDead",
    "follow",
    "fs_type",
    "is_network_fs",
]
