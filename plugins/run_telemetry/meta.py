"""The provenance parts of ``summary.json``'s ``meta``, from the recorded ``environment`` event.

Upstream (model_guided_research's ``nanochat/report.py``) asks git, psutil and torch at the end of
a run; here every fact comes from what the recorder captured at the start, so a replay gives the
same bytes. A run recorded without an environment gets the "unknown"/null values documented in
docs/summary.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from vrx_core.events import Environment

UNKNOWN: Final = "unknown"
_GIB: Final = 1024**3


def gib(value: Any) -> float | None:
    """Bytes as GiB (``/ 1024**3``, unrounded, as upstream); None for anything but a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value / _GIB


def git_section(env: Environment | None) -> dict[str, Any]:
    """``{commit (7 chars), commit_full, branch, dirty, message}``; "unknown" where git could not
    tell (``dirty``: null, where upstream would write false)."""
    git = env.git if env is not None else None
    full = git.commit_full if git is not None else None
    return {
        "commit": full[:7] if full else UNKNOWN,
        "commit_full": full or UNKNOWN,
        "branch": (git.branch if git is not None else None) or UNKNOWN,
        "dirty": git.dirty if git is not None else None,
        "message": (git.message if git is not None else None) or UNKNOWN,
    }


def system_section(env: Environment | None) -> dict[str, Any]:
    """Host facts; ``cpu_count`` and ``cpu_count_logical`` are both ``os.cpu_count()`` (vrx does not
    record physical cores)."""
    host: Mapping[str, Any] = env.host if env is not None else {}
    python: Mapping[str, Any] = env.python if env is not None else {}
    torch = env.torch if env is not None else None
    return {
        "hostname": host.get("hostname"),
        "platform": host.get("platform"),
        "python_version": python.get("version"),
        "torch_version": torch.version if torch is not None else None,
        "cpu_count": host.get("cpu_count"),
        "cpu_count_logical": host.get("cpu_count"),
        "memory_gb": gib(host.get("memory_bytes")),
        "user": host.get("user"),
    }


def gpu_section(env: Environment | None) -> dict[str, Any]:
    """``{"available": false}`` without CUDA (as upstream), else the visible devices."""
    torch = env.torch if env is not None else None
    if torch is None or not torch.cuda_available:
        return {"available": False}
    return {
        "available": True,
        "count": len(torch.devices),
        "names": [d.get("name") for d in torch.devices],
        "memory_gb": [gib(d.get("total_memory_bytes")) for d in torch.devices],
        "cuda_version": torch.cuda_version or UNKNOWN,
    }


def ddp_section(env_vars: Mapping[str, str]) -> dict[str, Any]:
    """``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` as torchrun sets them; enabled iff ``RANK`` is set
    (nanochat's rule)."""

    def as_int(key: str, default: int) -> int:
        try:
            return int(env_vars[key])
        except (KeyError, ValueError):
            return default

    return {
        "enabled": as_int("RANK", -1) != -1,
        "world_size": as_int("WORLD_SIZE", 1),
        "rank": as_int("RANK", 0),
        "local_rank": as_int("LOCAL_RANK", 0),
    }


def default_device(env: Environment | None) -> str:
    """``cuda`` when the recorded torch saw CUDA, ``cpu`` when it did not, else ``unknown``."""
    torch = env.torch if env is not None else None
    if torch is None:
        return UNKNOWN
    return "cuda" if torch.cuda_available else "cpu"


__all__ = ["UNKNOWN", "ddp_section", "default_device", "gib", "git_section", "gpu_section", "system_section"]
