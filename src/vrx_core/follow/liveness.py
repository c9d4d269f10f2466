"""Liveness: is the writer of a live run still there?

The writer touches ``writer.lock`` (a rank of a multi-rank run its ``writer.rank<R>.lock``) every
``heartbeat_s`` (1 s) while alive. Any change to the lock's
mtime or content, or any growth of the log, is a sign of life, timed on this process's monotonic
clock (no two machines' clocks are ever compared). The writer is presumed dead when there is no
run end and nothing changed for ``dead_after_s`` (30 s); after :data:`QUICK_DEAD_S` already when
no lock exists (no writer holds the run) or when :func:`vrx_core.log.lock.holder_alive`, the rule
the lock itself uses, says the holder is dead (a process on this host that no longer exists, or a
host that rebooted since). A holder that cannot be judged from here (another host, a record
without a pid) gets the full ``dead_after_s``.
"""

from __future__ import annotations

import math
import socket
import time
from pathlib import Path
from typing import Any, Final

from vrx_core.codec import stream_json
from vrx_core.log.lock import boot_id, holder_alive, read_lock
from vrx_core.log.rundir import LOCK

#: No log growth and no heartbeat for this long: the writer is presumed dead (exit 3).
DEAD_AFTER_S: Final = 30.0
#: The shorter grace when the lock's holder is dead by :func:`holder_alive`, or no lock exists.
QUICK_DEAD_S: Final = 3.0
#: No event for this long while the heartbeat is alive: a "stall" warning.
STALL_AFTER_S: Final = 60.0
#: How often the lock (heartbeat) and the log's identity are checked.
CHECK_S: Final = 0.5


class Liveness:
    """Signs of the writer's life and the dead-writer verdict.

    The follower reports what it saw (:meth:`grew`, :meth:`events`) and asks :meth:`check` every
    :data:`CHECK_S`; :meth:`check` reads ``writer.lock`` and returns why the writer is presumed
    dead, or None.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        dead_after_s: float = DEAD_AFTER_S,
        now: float | None = None,
        lock: Path | None = None,
    ) -> None:
        self.run_dir = run_dir
        #: The lock to read: ``writer.lock`` (None), or a rank's own (``writer.rank<R>.lock``).
        self.lock = lock
        self.dead_after_s = dead_after_s
        now = time.monotonic() if now is None else now
        #: Monotonic times of the last sign of life, heartbeat (lock change) and event.
        self.last_alive = now
        self.last_beat = -math.inf
        self.last_event = now
        #: Holder of ``writer.lock`` at the last check (host, pid, ...), or None.
        self.holder: dict[str, Any] | None = None
        self._lock_sig: tuple[Any, ...] | None = None
        self._host = socket.gethostname()
        self._boot = boot_id()

    def opened(self, now: float) -> None:
        """The log was opened: the clocks start now."""
        self.last_alive = self.last_event = now

    def grew(self, now: float) -> None:
        """The log grew: the writer is alive."""
        self.last_alive = now

    def events(self, now: float) -> None:
        """Events arrived."""
        self.last_event = now

    def heartbeat_age(self, now: float | None = None) -> float | None:
        """Seconds since the writer's lock was last seen to change, or None if never."""
        if self.last_beat == -math.inf:
            return None
        return (time.monotonic() if now is None else now) - self.last_beat

    def event_age(self, now: float | None = None) -> float:
        """Seconds since the last event arrived (or since the log was opened)."""
        return (time.monotonic() if now is None else now) - self.last_event

    def quiet_but_alive(self, now: float) -> float | None:
        """Seconds since the last event when the heartbeat was seen after it (a quiet, live writer)."""
        return now - self.last_event if self.last_beat > self.last_event else None

    def holder_alive(self, holder: dict[str, Any]) -> bool | None:
        """:func:`vrx_core.log.lock.holder_alive` with this host's name and boot id cached."""
        return holder_alive(holder, host=self._host, boot=self._boot)

    def check(self, now: float) -> str | None:
        """Read the lock; return why the writer is presumed dead, or None while it may be alive."""
        holder, mtime = read_lock(self.run_dir, self.lock)
        self.holder = holder
        sig = None if holder is None and mtime is None else (mtime, stream_json(holder))
        if sig != self._lock_sig:
            self._lock_sig = sig
            if sig is not None:
                self.last_alive = self.last_beat = now
        quiet = now - self.last_alive
        if holder is None and mtime is None:
            limit = min(self.dead_after_s, QUICK_DEAD_S)
            why = f"no writer holds the run ({LOCK if self.lock is None else self.lock.name} is missing)"
        elif holder is not None and self.holder_alive(holder) is False:
            limit = min(self.dead_after_s, QUICK_DEAD_S)
            rebooted = holder.get("boot_id") not in (None, "", self._boot) and self._boot
            why = f"the writer process (pid {holder.get('pid')} on this host) is gone" + (
                " (the host rebooted since)" if rebooted else ""
            )
        else:
            limit = self.dead_after_s
            who = f" (host={holder.get('host', '?')}, pid={holder.get('pid', '?')})" if holder else ""
            why = f"no event and no heartbeat for {quiet:.1f} s{who}"
        return why if quiet >= limit else None


__all__ = ["CHECK_S", "DEAD_AFTER_S", "QUICK_DEAD_S", "Liveness"]
