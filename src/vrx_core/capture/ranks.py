"""Which rank of a distributed job this process is, and how its clock relates to rank 0's.

torchrun (and most launchers) export ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; explicit
arguments win over them. A job of one process is a single-process run (``events.jsonl``). The
clock offset is measured only when ``torch.distributed`` is initialised, and it is a collective:
every rank must create its recorder.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vrx_core.errors import UsageError


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job."""

    rank: int
    world_size: int
    local_rank: int | None = None


def resolve_ranks(
    rank: int | None = None,
    world_size: int | None = None,
    local_rank: int | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Ranks | None:
    """The ranks from the arguments, else from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; None for a
    single-process run (no world size, or a world of one)."""
    env = os.environ if environ is None else environ
    world = world_size if world_size is not None else _env_int(env, "WORLD_SIZE")
    if world is None or world == 1:
        if rank not in (None, 0):
            raise UsageError(f"rank {rank} given without a world_size > 1")
        return None
    me = rank if rank is not None else _env_int(env, "RANK")
    local = local_rank if local_rank is not None else _env_int(env, "LOCAL_RANK")
    if me is None:
        raise UsageError(f"world size {world} but no rank: pass rank= or set RANK")
    if isinstance(world, bool) or world < 1:
        raise UsageError(f"world_size must be an integer >= 1, got {world!r}")
    if isinstance(me, bool) or not 0 <= me < world:
        raise UsageError(f"rank must be in 0..{world - 1}, got {me!r}")
    return Ranks(rank=me, world_size=world, local_rank=local)


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"${name} must be an integer, got {raw!r}") from None


def distributed() -> Any | None:
    """``torch.distributed`` when the process imported torch and initialised a process group."""
    torch = sys.modules.get("torch")
    dist = getattr(torch, "distributed", None) if torch is not None else None
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist


def clock_offset_s(dist: Any) -> float:
    """Rank 0's wall clock minus this rank's, read right after a barrier (a collective)."""
    dist.barrier()
    now = time.time()
    clocks: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(clocks, now)
    return float(clocks[0]) - now


def agree_on(dist: Any, value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a collective): the run directory a layout chose."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


__all__ = ["Ranks", "agree_on", "clock_offset_s", "distributed", "resolve_ranks"]
