"""What happens to checked events on their way out of a follower: the plugins' derivers are fed,
the alert rules applied, and snapshots taken, turning batches of events into stream items.

It knows nothing about files: a follower feeds it from one log's cursor; a per-rank merge could
feed it the merged events of several logs (in the order it wants them derived).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vrx_core.codec import stream_json
from vrx_core.engine.replay import Replayer
from vrx_core.events import AnyEvent
from vrx_core.follow.alerts import AlertTable, collect_rules
from vrx_core.follow.stream import Notice, Snapshot, TailItem
from vrx_core.hooks.api import ReplayContext

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet


class EventPipeline:
    """Derivers, alert rules and snapshots for one live run.

    Args:
        plugins: the loaded plugins (None: only the core's alert rules).
        context: handed to ``vrx_deriver`` and ``vrx_alert_rules``.
        derive: feed the plugins' derivers.
        snapshots: emit a :class:`Snapshot` after each batch that changed a plugin's snapshot.
        stall_after_s: handed to ``vrx_alert_rules`` (the core's ``stall`` rule).
    """

    def __init__(
        self,
        plugins: PluginSet | None,
        context: ReplayContext,
        *,
        derive: bool = True,
        snapshots: bool = False,
        stall_after_s: float,
    ) -> None:
        derivers = plugins.derivers(context) if plugins is not None and derive else []
        self.replayer = Replayer(derivers)
        rules, self._pending = collect_rules(plugins, context, stall_after_s)
        self.alerts = AlertTable(rules)
        self.want_snapshots = snapshots
        self._snap_bytes: dict[str, bytes] = {}
        self._failures_seen = 0
        self._stalled = False  # a "stall" alert was shown and no event came since
        self._idle_told = False  # on_idle was called during the current quiet spell

    def pending(self) -> list[Notice]:
        """Notices from setting up (alert rules that failed to load); each returned once."""
        out, self._pending = self._pending, []
        return out

    def events(self, batch: list[tuple[AnyEvent, bool]], last_seq: int) -> list[TailItem]:
        """Feed a batch (events in seq order, each with whether to show it) and return the items:
        each shown event followed by its alerts, then failures and a snapshot."""
        out: list[TailItem] = []
        if not batch:
            return out
        self.replayer.feed([ev for ev, _ in batch])
        if self._idle_told:
            self._idle_told = False
            out += self.alerts.on_idle(0.0, last_seq)  # events resumed: rules re-arm
        if self._stalled:
            self._stalled = False
            out.append(Notice("active", "events are arriving again", batch[0][0].seq))
        alerts = self.alerts
        for ev, shown in batch:
            if shown:
                out.append(ev)
            found = alerts.on_event(ev)
            if found:
                out += found
        self._collect_failures(out)
        if self.want_snapshots and self.replayer.derivers:
            self._snapshot(out, last_seq)
        return out

    def idle(self, seconds: float, last_seq: int) -> list[Notice]:
        """The run is quiet (no event for ``seconds``) while its writer is alive: the idle rules."""
        self._idle_told = True
        out = self.alerts.on_idle(seconds, last_seq)
        if any(n.kind == "stall" for n in out):
            self._stalled = True
        return out

    @property
    def failed(self) -> int:
        """How many derivers failed so far."""
        return len(self.replayer.failures)

    def _collect_failures(self, out: list[TailItem]) -> None:
        failures = self.replayer.failures
        while self._failures_seen < len(failures):
            f = failures[self._failures_seen]
            self._failures_seen += 1
            out.append(Notice("plugin_failed", f.render() + "; following without it", f.seq, "warning"))

    def _snapshot(self, out: list[TailItem], last_seq: int) -> None:
        snaps = self.replayer.snapshots()
        self._collect_failures(out)
        changed: list[str] = []
        for name, snap in snaps.items():
            encoded = stream_json(snap)
            if self._snap_bytes.get(name) != encoded:
                self._snap_bytes[name] = encoded
                changed.append(name)
        if changed:
            out.append(Snapshot(last_seq, snaps, tuple(changed)))


__all__ = ["EventPipeline"]
