"""Alerts: the rules of every plugin (``vrx_alert_rules``) applied to a live run, through one table.

The follower collects one :class:`~vrx_core.hooks.api.AlertRules` per plugin when it starts: the
core's own (:mod:`vrx_core.follow.core_alerts`: ``nan``, ``oom``, ``error``, ``stall``) and those of
the loaded plugins. :class:`AlertTable` maps each event kind to the rules that want it, built as
kinds first appear, so the per-event cost is a dict lookup and direct calls, never a pluggy call.
Alerts become :class:`~vrx_core.follow.stream.Notice` objects in the follower's stream. Rules that
raise are dropped with a ``plugin_failed`` notice; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from vrx_core.errors import PluginError
from vrx_core.events import AnyEvent, UnknownEvent
from vrx_core.follow import core_alerts
from vrx_core.follow.stream import Notice, event_tag
from vrx_core.hooks.api import Alert, AlertRules, ReplayContext

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

#: The name the core's rules go by in ``plugin_failed`` messages (their notices carry no plugin).
CORE = "vrx"

_Handler = Callable[[AnyEvent], list[Alert]]


def collect_rules(
    plugins: PluginSet | None, context: ReplayContext, stall_after_s: float
) -> tuple[list[tuple[str, AlertRules]], list[Notice]]:
    """The core's rules, then each plugin's (by name); and a ``plugin_failed`` notice per plugin
    whose ``vrx_alert_rules`` raised or returned something else than AlertRules or None."""
    rules: list[tuple[str, AlertRules]] = [(CORE, core_alerts.vrx_alert_rules(context, stall_after_s))]
    failed: list[Notice] = []
    if plugins is None:
        return rules, failed
    args = {"context": context, "stall_after_s": stall_after_s}
    impls = plugins.pm.hook.vrx_alert_rules.get_hookimpls()
    for impl in sorted(impls, key=lambda i: i.plugin_name):
        name = impl.plugin_name
        try:
            found = impl.function(**{k: args[k] for k in impl.argnames})
            if found is not None and not isinstance(found, AlertRules):
                raise TypeError(f"returned {type(found).__name__}, not a vrx_core.hooks.api.AlertRules")
        except Exception as exc:
            failed.append(_failure(name, "vrx_alert_rules", None, exc))
            continue
        if found is not None:
            rules.append((name, found))
    return rules, failed


def _failure(name: str, hook: str, seq: int | None, exc: BaseException) -> Notice:
    err = PluginError(f"{type(exc).__name__}: {exc}", plugin=name, hook=hook, seq=seq)
    return Notice("plugin_failed", err.render() + "; following without it", seq, "warning")


class AlertTable:
    """Applies alert rules to events (:meth:`on_event`) and to quiet spells (:meth:`on_idle`)."""

    def __init__(self, rules: Iterable[tuple[str, AlertRules]]) -> None:
        self.rules = list(rules)
        self._failed: set[str] = set()
        self._table: dict[Any, tuple[tuple[str, _Handler], ...]] = {}

    def _handlers_for(self, event: AnyEvent, out: list[Notice]) -> tuple[tuple[str, _Handler], ...]:
        tag = event_tag(event)
        cls = None if isinstance(event, UnknownEvent) else type(event)
        found = []
        for name, rules in self.rules:
            if name in self._failed:
                continue
            try:
                wanted = rules.wants(tag, cls)
            except Exception as exc:
                self._fail(name, "wants", event.seq, exc, out)
                continue
            if wanted:
                found.append((name, rules.on_event))
        hs = tuple(found)
        self._table[tag if cls is None else cls] = hs
        return hs

    def on_event(self, event: AnyEvent) -> list[Notice]:
        """The notices for one event (usually none)."""
        out: list[Notice] = []
        key = event.type if type(event) is UnknownEvent else type(event)
        handlers = self._table.get(key)
        if handlers is None:
            handlers = self._handlers_for(event, out)
        for name, handle in handlers:
            try:
                alerts = handle(event)
                if alerts:
                    out += self._notices(name, alerts, event.seq, event.rank)
            except Exception as exc:
                self._fail(name, "on_event", event.seq, exc, out)
        return out

    def on_idle(self, seconds: float, last_seq: int | None) -> list[Notice]:
        """The notices for a quiet spell ``seconds`` long (``0.0``: events resumed)."""
        out: list[Notice] = []
        for name, rules in self.rules:
            if name in self._failed:
                continue
            try:
                alerts = rules.on_idle(seconds)
                if alerts:
                    out += self._notices(name, alerts, last_seq)
            except Exception as exc:
                self._fail(name, "on_idle", None, exc, out)
        return out

    @staticmethod
    def _notices(
        name: str, alerts: Iterable[Alert], seq: int | None, rank: int | None = None
    ) -> list[Notice]:
        """The alerts as notices; about an event of a multi-rank run's ``rank``, they name it."""
        plugin = None if name == CORE else name
        out = []
        for a in alerts:
            if not isinstance(a, Alert):
                raise TypeError(f"returned {type(a).__name__} in its list, not a vrx_core.hooks.api.Alert")
            message = a.message if rank is None else f"rank {rank}: {a.message}"
            out.append(Notice(a.kind, message, seq if a.seq is None else a.seq, a.level, plugin, rank))
        return out

    def _fail(self, name: str, hook: str, seq: int | None, exc: BaseException, out: list[Notice]) -> None:
        out.append(_failure(name, hook, seq, exc))
        self._failed.add(name)
        self._table.clear()  # rebuild without the failed rules


__all__ = ["CORE", "AlertTable", "collect_rules"]
