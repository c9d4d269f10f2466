"""The ranks of a multi-rank run in ``vrx tail``'s views: which rank each event and metric is from,
and which ranks are running, ended, dead or missing. A single-process run shows none of this."""

from __future__ import annotations

from vrx_core.events import AnyEvent, Metric, RunEnd
from vrx_core.follow.choose import AnyFollower
from vrx_core.follow.ranks import RankedFollower, rank_list

#: The order the states of the ranks are listed in.
_STATES = ("running", "waiting", "ended", "dead", "missing")


def metric_key(ev: Metric) -> str:
    """The row of a metric in the view: its name, and in a multi-rank run its rank (``loss [r2]``)."""
    return ev.name if ev.rank is None else f"{ev.name} [r{ev.rank}]"


def first_new_seq(follower: AnyFollower, ev: AnyEvent) -> int | None:
    """Seq of the first event of ``ev``'s log written after the tail started (None: none yet)."""
    if isinstance(follower, RankedFollower):
        return follower.first_new_seq_of(ev.rank)
    return follower.first_new_seq


def rank_states(follower: AnyFollower) -> dict[int, str] | None:
    """Each rank's state (running, waiting, ended, dead, missing); None for a single-process run."""
    return follower.rank_states() if isinstance(follower, RankedFollower) else None


def ranks_line(follower: AnyFollower) -> str | None:
    """``4 (world size 4): running 0, 1, 3; dead 2``; None for a single-process run."""
    if not isinstance(follower, RankedFollower):
        return None
    states = follower.rank_states()
    by: dict[str, list[int]] = {}
    for rank, state in states.items():
        by.setdefault(state, []).append(rank)
    size = f" (world size {follower.world_size})" if follower.world_size else ""
    return f"{len(states)}{size}: " + "; ".join(f"{s} {rank_list(by[s])}" for s in _STATES if s in by)


def all_ended(follower: AnyFollower, ends: dict[int, RunEnd]) -> RunEnd | None:
    """The run end of a multi-rank run once every rank's ``run_end`` is in ``ends``: the first
    rank's that did not end ``ok``, else the latest; None while a rank has not ended."""
    states = rank_states(follower)
    if not ends or states is None or not set(states) <= set(ends):
        return None
    failed = [e for _, e in sorted(ends.items()) if e.status != "ok"]
    return failed[0] if failed else max(ends.values(), key=lambda e: e.t)


__all__ = ["AnyFollower", "all_ended", "first_new_seq", "metric_key", "rank_states", "ranks_line"]
