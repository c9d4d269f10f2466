"""What ``derived.json`` remembers about the log, and noticing when the log lost what it recorded.

Every replay records the log it read: the bytes consumed, their sha256, the last seq, whether the
run had ended. Logs only grow, so a log that is now shorter than that, or whose first recorded
bytes hash differently, lost data after the replay (truncation, a rewrite, a restore of an old
copy). Replay then refuses to overwrite the evidence (exit 65) unless forced, and a forced replay
keeps the old record under ``log.superseded``; ``vrx verify`` reports every such loss as CORRUPT.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

from vrx_core.errors import ExitCode, VrxError
from vrx_core.log.rundir import RunDir

_READ = 1 << 20


class LogRegressed(VrxError):
    """The log no longer holds what an earlier replay derived from; nothing was written."""

    exit_code = ExitCode.DATAERR


def read_provenance(out_dir: Path) -> dict[str, Any]:
    """The ``derived.json`` in ``out_dir`` as a dict; empty when missing or unreadable."""
    try:
        data = msgspec.json.decode(RunDir(out_dir).provenance.read_bytes())
    except (OSError, msgspec.DecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def previous_log_record(out_dir: Path) -> dict[str, Any] | None:
    """The ``log`` record of the ``derived.json`` in ``out_dir``, if there is a readable one."""
    log = read_provenance(out_dir).get("log")
    return log if isinstance(log, dict) and isinstance(log.get("bytes"), int) else None


def lost_data(log_path: Path, record: dict[str, Any]) -> str | None:
    """Why the log at ``log_path`` no longer extends what ``record`` describes, or None if it does."""
    recorded = int(record["bytes"])
    try:
        size = os.stat(log_path).st_size
    except FileNotFoundError:
        return f"the log is gone; derived.json recorded {_described(record)}"
    if size < recorded:
        return f"the log is {size} bytes, shorter than the {_described(record)} derived.json recorded"
    digest = record.get("sha256")
    if record.get("salvaged") or not isinstance(digest, str):
        return None  # a salvaged replay hashed only the lines it kept: only the size can be compared
    if _prefix_sha256(log_path, recorded) != digest:
        return f"the first {recorded} bytes of the log differ from those derived.json recorded"
    return None


def ranks_lost_data(run_dir: Path, out_dir: Path) -> str | None:
    """:func:`lost_data` for a multi-rank run: the first rank whose log no longer extends what the
    ``derived.json`` in ``out_dir`` recorded for it (its ``log.ranks`` records), or None."""
    log = read_provenance(out_dir).get("log")
    ranks = log.get("ranks") if isinstance(log, dict) else None
    if not isinstance(ranks, dict):
        return None
    for rank, record in sorted(ranks.items()):
        if isinstance(record, dict) and isinstance(record.get("bytes"), int) and rank.isdigit():
            why = lost_data(RunDir(run_dir).rank_log(int(rank)), record)
            if why is not None:
                return f"rank {rank}: {why}"
    return None


def superseded(record: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    """The chain a forced replay keeps: the record it replaces (with why), then older ones."""
    older = record.get("superseded")
    head = {k: v for k, v in record.items() if k != "superseded"} | {"reason": reason}
    return [head, *(older if isinstance(older, list) else [])]


def provenance_problems(run_dir: str | os.PathLike[str]) -> list[str]:
    """``vrx verify``'s check: every recorded state of the log (current and superseded) that the log
    no longer extends."""
    run = RunDir.of(run_dir)
    record = previous_log_record(run.root)
    if record is None:
        return []
    records = [record, *[r for r in record.get("superseded") or () if isinstance(r, dict)]]
    problems = []
    for r in records:
        if not isinstance(r.get("bytes"), int):
            continue
        why = lost_data(run.log, r)
        if why is not None:
            problems.append(f"{run.provenance}: {why}")
    return problems


def _described(record: dict[str, Any]) -> str:
    seq = record.get("last_seq")
    state = "complete" if record.get("complete") else "incomplete"
    return f"{record['bytes']} bytes (seq 0..{seq}, {state})"


def _prefix_sha256(path: Path, n: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = n
        while left > 0:
            chunk = f.read(min(_READ, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()
