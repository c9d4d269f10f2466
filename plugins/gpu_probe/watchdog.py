"""The heartbeat watchdog of objective_contract_v1: a stall is an event, never an artifact write.

The original wrote its artifacts from the watchdog thread and called ``os._exit``. Here the
watchdog only records ``probe.stall`` and raises a flag; the training loop stops at its next
check and the artifacts are derived from the log as for any other run. A step that never returns
(a hung kernel) cannot reach that check: after a grace period the watchdog hands control to
``on_hung`` (the runner closes the log and derives the artifacts from it, then exits 0).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vrx_core.log import diagnostics

POLL_S = 0.5
#: How long a stalled step may take to come back before the run is finished without it.
HUNG_GRACE_S = 30.0


@dataclass(frozen=True)
class Stall:
    threshold_s: float
    age_s: float


@dataclass(frozen=True)
class Beat:
    """The final heartbeat snapshot (the original's ``hb.snapshot()`` after the run)."""

    armed: bool
    threshold_s: float
    age_s: float
    stalled: bool


class Heartbeat:
    """Progress clock plus the thread that watches it (0.5 s polls, as the original)."""

    def __init__(
        self,
        on_stall: Callable[[Stall], None],
        on_hung: Callable[[], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = POLL_S,
        hung_grace_s: float | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._armed = False
        self._threshold_s = 60.0
        self._last = clock()
        self._on_stall = on_stall
        self._on_hung = on_hung
        self._poll_s = poll_s
        self._hung_grace_s = HUNG_GRACE_S if hung_grace_s is None else hung_grace_s
        self.stalled = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="vrx-probe-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """The run is over (normally or after a stall it came back from): stop watching."""
        self._done.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def arm(self, threshold_s: float) -> None:
        with self._lock:
            self._armed = True
            self._threshold_s = float(threshold_s)
            self._last = self._clock()

    def progress(self) -> None:
        with self._lock:
            self._last = self._clock()

    def snapshot(self) -> Beat:
        with self._lock:
            return Beat(self._armed, self._threshold_s, self._clock() - self._last, self.stalled.is_set())

    def _watch(self) -> None:
        while not self._done.wait(self._poll_s):
            beat = self.snapshot()
            if beat.armed and beat.age_s > beat.threshold_s:
                self.stalled.set()
                try:
                    self._on_stall(Stall(beat.threshold_s, beat.age_s))
                except Exception as exc:
                    # The loop still stops (``stalled`` is set) and the end event says so.
                    diagnostics.get_logger().warning(f"probe watchdog could not record the stall: {exc}")
                if not self._done.wait(self._hung_grace_s) and self._on_hung is not None:
                    self._on_hung()
                return
