"""The objective contract's locked PASS rule, shared by every tool that reads a probe's metrics.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_probe_pass(metrics: Mapping[str, Any]) -> bool:
    """PASS iff ``stability_pass is True`` and each of ``had_oom``, ``had_nan``, ``had_inf`` ``is False``.

    Identity checks on purpose (ant_ratio_packet_v0's locked rule): a missing ``had_*`` key, a
    ``1`` or a ``"true"`` is a FAIL. PASS/FAIL is never read from an exit code.
    """
    return (
        metrics.get("stability_pass") is True
        and metrics.get("had_oom") is False
        and metrics.get("had_nan") is False
        and metrics.get("had_inf") is False
    )
