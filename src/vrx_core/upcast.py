"""Upcasters: pure functions that lift a stored event from schema version v to v+1.

Stored events are permanent; when a kind's shape must change, its class bumps
``__vrx_version__`` and registers ``upcast_<kind>_v<N>_v<N+1>(d) -> d`` for every step. The reader
applies the chain to the raw dict before the typed object is built, so plugins only ever see the
current shape. A missing step is a bug in the plugin that defined the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """(kind, from_version) -> upcaster, applied in order by :meth:`lift`."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def add(self, kind: str, from_version: int, fn: Upcaster) -> None:
        key = (kind, from_version)
        if key in self._steps and self._steps[key] is not fn:
            raise ValueError(f"two upcasters for {kind!r} v{from_version}")
        self._steps[key] = fn

    def lift(self, kind: str, version: int, target: int, data: dict[str, Any]) -> dict[str, Any]:
        """Apply every step from ``version`` to ``target``; raise LookupError if one is missing."""
        while version < target:
            step = self._steps.get((kind, version))
            if step is None:
                raise LookupError(f"no upcaster for {kind!r} from v{version} to v{version + 1}")
            data = step(dict(data))
            version += 1
        return data

    def copy(self) -> Upcasters:
        new = Upcasters()
        new._steps = dict(self._steps)
        return new
