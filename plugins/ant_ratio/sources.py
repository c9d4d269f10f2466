"""What ``vrx packet`` reads from outside the log, once, at record time: the four input files,
the clock and git. Everything here becomes an event; nothing here runs during a replay.

A probe root is one written by ``vrx probe run`` or by the original ``gpu_capacity_probe.py``
(``metrics.json``, ``env.json``, ``run_cmd.txt``); an assoc root holds ``report.json`` (the
original ``eval_ckpt_assoc_byte.py`` or vrx). The files are the same either way.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrx_core.capture.git import git_toplevel, read_git
from vrx_core.events import Source
from vrx_core.log.rundir import RunDir

from .packet import ENV, METRICS, REPORT, RUN_CMD

#: A source's text goes into one log line, which the reader caps at 1 MiB; JSON escaping grows it.
MAX_SOURCE_BYTES = 400_000


class InputError(ValueError):
    """An input file that is missing, unreadable or not a JSON object."""


@dataclass(frozen=True)
class InputFile:
    """One input file as read: where (absolute, and as the user named it), its bytes and object."""

    name: str
    path: Path
    shown: str
    data: bytes
    obj: dict[str, Any]

    def source(self) -> Source:
        """The ``source`` event that records this file (its text: replay derives from it)."""
        return Source(
            path=str(self.path),
            sha256=hashlib.sha256(self.data).hexdigest(),
            size_bytes=len(self.data),
            text=self.data.decode("utf-8"),
        )


@dataclass(frozen=True)
class Inputs:
    """The four input files of a packet, by name, and the two roots (absolute, resolved)."""

    probe_root: Path
    assoc_root: Path
    files: dict[str, InputFile]

    def objects(self) -> dict[str, dict[str, Any]]:
        return {name: f.obj for name, f in self.files.items()}


def read_inputs(probe_root: str, assoc_root: str) -> tuple[Inputs | None, list[str]]:
    """Read and parse the four files; on any problem, None and every problem as ``FILE: what``."""
    roots = {METRICS: probe_root, ENV: probe_root, RUN_CMD: probe_root, REPORT: assoc_root}
    files: dict[str, InputFile] = {}
    problems: list[str] = []
    for name, root in roots.items():
        shown = str(Path(root) / name)
        try:
            files[name] = _read(name, Path(root), shown)
        except InputError as exc:
            problems.append(f"{shown}: {exc}")
    if problems:
        return None, problems
    return Inputs(Path(probe_root).resolve(), Path(assoc_root).resolve(), files), []


def _read(name: str, root: Path, shown: str) -> InputFile:
    path = (root / name).resolve()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(_missing(root)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_SOURCE_BYTES:
        raise InputError(f"too large to record ({len(data)} bytes; the limit is {MAX_SOURCE_BYTES})")
    try:
        obj = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"failed to parse JSON (not UTF-8: {exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise InputError(f"failed to parse JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise InputError(f"not a JSON object (a JSON {type(obj).__name__})")
    return InputFile(name, path, shown, data, obj)


def _missing(root: Path) -> str:
    if not root.is_dir():
        return "missing required artifact (no such directory)"
    if RunDir(root).log.is_file():
        # A vrx run whose derived files were deleted, or that was killed before its metrics.
        return f"missing required artifact (the run has a log: `vrx replay {root}` derives its files)"
    return "missing required artifact"


# -- context, captured once per packet run ---------------------------------------------------------


def utc_now() -> str:
    """The packet's ``generated_utc``: now, UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def git_context(cwd: Path) -> tuple[Path | None, str | None]:
    """The git work tree ``cwd`` is in and its ``HEAD`` commit; None for what git cannot say."""
    top = git_toplevel(cwd)
    if top is None:
        return None, None
    root = top.resolve()
    return root, read_git(root).commit_full
