"""Which follower a run needs, and the loop of :func:`~vrx_core.follow.follower.follow`.

A run with per-rank logs (``events.rank<R>.jsonl``) and no ``events.jsonl`` is followed by a
:class:`~vrx_core.follow.ranks.RankedFollower`, any other by a
:class:`~vrx_core.follow.follower.Follower`. A run that does not exist yet is waited for as a
single-process run; if rank logs appear instead, :func:`switch_to_ranks` puts a
:class:`~vrx_core.follow.ranks.RankedFollower` in the waiting follower's place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any, Final

from vrx_core.follow.follower import Follower
from vrx_core.follow.ranks import RankedFollower
from vrx_core.follow.stream import Notice, TailItem
from vrx_core.log.rundir import RunDir

AnyFollower = Follower | RankedFollower
#: While a tail waits for a run, how often it looks whether rank logs appeared instead.
RANKS_LOOK_S: Final = 0.1


def is_multi_rank(run_dir: str | os.PathLike[str]) -> bool:
    """True for a run with per-rank logs (``events.rank<R>.jsonl``) and no ``events.jsonl``."""
    run = RunDir.of(run_dir)
    return not run.log.exists() and bool(run.ranks())


def make_follower(run_dir: str | os.PathLike[str], **options: Any) -> AnyFollower:
    """A :class:`RankedFollower` for a multi-rank run, else a :class:`Follower` (same options)."""
    if is_multi_rank(run_dir):
        return RankedFollower(run_dir, **options)
    return Follower(run_dir, **options)


def waiting(f: AnyFollower) -> bool:
    """A follower still waiting for a single-process log that may yet turn out to be rank logs."""
    return isinstance(f, Follower) and not f.exists


def switch_to_ranks(f: AnyFollower, run_dir: str | os.PathLike[str], **options: Any) -> AnyFollower:
    """``f``, or, when ``f`` waited for ``events.jsonl`` and rank logs appeared instead, a
    :class:`RankedFollower` of the run (``f`` closed) for which none of them is history."""
    if not waiting(f) or not is_multi_rank(run_dir):
        return f
    f.close()
    return RankedFollower(run_dir, appeared=True, **options)


def follow_run(
    run_dir: str | os.PathLike[str], *, timeout: float | None, notices: bool, **options: Any
) -> Iterator[TailItem]:
    """The items of :func:`~vrx_core.follow.follower.follow` (which documents them)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    f = make_follower(run_dir, **options)
    try:
        while not f.ended:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise f.timeout_error(timeout)
            if waiting(f):  # look for rank logs now and then
                remaining = RANKS_LOOK_S if remaining is None else min(remaining, RANKS_LOOK_S)
            items = f.read(remaining)
            f = switch_to_ranks(f, run_dir, **options)
            for item in items:
                if notices or not isinstance(item, Notice):
                    yield item
    finally:
        f.close()


__all__ = [
    "RANKS_LOOK_S",
    "AnyFollower",
    "follow_run",
    "is_multi_rank",
    "make_follower",
    "switch_to_ranks",
    "waiting",
]
