"""A test plugin for the tail tests: counts, sums and last values, so incremental == full is checkable."""

from __future__ import annotations

import math
from typing import Any

from vrx_core import hookimpl
from vrx_core.events import AnyEvent, Metric, event_tag
from vrx_core.hooks.api import DerivedFiles, Deriver, ReplayContext


class TailStats(Deriver):
    outputs = frozenset({"tail_stats.json"})

    def __init__(self) -> None:
        self.kinds: dict[str, int] = {}
        self.sums: dict[str, float] = {}
        self.last: dict[str, Any] = {}
        self.nans = 0
        self.max_seq = -1

    def on_event(self, event: AnyEvent) -> None:
        tag = event_tag(event)
        self.kinds[tag] = self.kinds.get(tag, 0) + 1
        self.max_seq = max(self.max_seq, event.seq)
        if isinstance(event, Metric):
            if math.isnan(event.value):
                self.nans += 1
            else:
                self.sums[event.name] = self.sums.get(event.name, 0.0) + event.value
            self.last[event.name] = [event.step, repr(event.value)]

    def snapshot(self) -> dict[str, Any]:
        return {
            "kinds": dict(self.kinds),
            "sums": dict(self.sums),
            "last": dict(self.last),
            "nans": self.nans,
            "max_seq": self.max_seq,
        }

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("tail_stats.json", self.snapshot())


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return TailStats()
