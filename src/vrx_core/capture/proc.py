"""Running a small command for a fact, injectable so tests can play a machine without it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple


class Completed(NamedTuple):
    """A subprocess's outcome: exit code, stdout, stderr, or ``error`` when it could not run."""

    returncode: int
    stdout: str
    stderr: str
    error: str | None = None


#: ``run(argv, cwd, timeout_s)``: how commands are run (injectable).
Runner = Callable[[Sequence[str], Path | None, float], Completed]
#: ``which(name)``: the path of a program, or None (injectable).
Which = Callable[[str], str | None]


def run_command(argv: Sequence[str], cwd: Path | None, timeout_s: float) -> Completed:
    """Run ``argv`` and capture its text output; never raises (a failure to run is ``error``)."""
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",  # a stray byte must not cost the whole output, nor reach the log unpaired
            check=False,
            timeout=timeout_s,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return Completed(999, "", "", f"{type(exc).__name__}: {exc}")
    return Completed(done.returncode, done.stdout or "", done.stderr or "")


def truncate(text: str, max_chars: int) -> str:
    """``text`` when it fits, else its start plus a marker, within ``max_chars`` characters."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 32] + "\n...<truncated>...\n"


__all__ = ["Completed", "Runner", "Which", "run_command", "truncate"]
