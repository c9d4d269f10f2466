"""Event kinds of a sweep run (``vrx sweep``, VRA-78): the plan, each configuration and its outcome.

The sweep's own log is its memory: a configuration with a ``sweep.config_result`` is finished and a
resumed sweep skips it; one with only a ``sweep.config_start`` was interrupted and is run again.
The outcome carries the joined packet as data, so every sweep output is derived from this log
alone (``sweep_derive``), byte for byte on every replay.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from vrx_core.events import Event

Status = Literal["ok", "error"]


class SweepStarted(Event, frozen=True, kw_only=True, tag="sweep.start"):
    """One sweep session began (a new sweep, or a resume): its settings and the configurations.

    ``settings`` holds every knob (flags and defaults resolved); ``configs`` the plan in order,
    each ``{config_id, tier, expert_heads, batch, steps}``; ``skipped`` the configuration ids this
    session found finished in the log and will not run again; ``batch_targets`` the path of the
    ``ant_ratio_batch_targets_v0`` file the plan came from, if any.
    """

    argv: list[str]
    settings: dict[str, Any]
    configs: list[dict[str, Any]]
    skipped: list[str] = msgspec.field(default_factory=list)
    batch_targets: str | None = None


class SweepConfigStarted(Event, frozen=True, kw_only=True, tag="sweep.config_start"):
    """A configuration is about to run: probe, assoc, packet, in ``config_dir`` (relative to the run).

    ``attempt`` counts the starts of this configuration in the log (2 after an interrupted one);
    ``set_aside`` names where the remains of the interrupted attempt were moved.
    """

    config_id: str
    index: int
    total: int
    tier: str
    expert_heads: int
    batch: int
    steps: int
    config_dir: str
    attempt: int = 1
    set_aside: str | None = None


class SweepConfigResult(Event, frozen=True, kw_only=True, tag="sweep.config_result"):
    """A configuration finished: ``ok`` (a packet was joined) or ``error`` with its ``reasons``.

    ``stages`` maps ``probe``, ``assoc`` and ``packet`` (those that ran) to ``{rc, timed_out,
    seconds, attempts}``; ``rc`` 124 is a timeout. Outcomes are read from artifacts, never from exit
    codes: an assoc run that wrote ``report.json`` is ok whatever its rc (kept as ``cap_train_rc``
    in the packet). ``probe_pass`` is the combined PASS rule of the probe's ``metrics.json`` (None
    when it was not read); ``packet`` the ``ant_ratio_packet_v0`` object plus the sweep's
    ``cap_train_rc``, ``cap_train_nonzero_rc`` and ``cap_eval_device``. Run roots are relative to
    the sweep's run directory.
    """

    config_id: str
    index: int
    tier: str
    expert_heads: int
    batch: int
    steps: int
    status: Status
    reasons: list[str] = msgspec.field(default_factory=list)
    probe_pass: bool | None = None
    stages: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    seconds: float = 0.0
    probe_run_root: str = ""
    assoc_run_root: str = ""
    packet: dict[str, Any] | None = None


KINDS: list[type[Event]] = [SweepStarted, SweepConfigStarted, SweepConfigResult]
