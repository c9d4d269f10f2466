"""Progress bars for long commands: a Rich bar on a terminal, nothing at all when piped."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

Update = Callable[[int], None]


@contextlib.contextmanager
def progress_bar(label: str, total: int, *, unit: str = "bytes") -> Iterator[Update | None]:
    """Yield ``update(done)`` and show a bar with rate and ETA on a terminal (stderr); yield None
    when there is no terminal, so the work skips its progress calls altogether.

    Output meant for scripts stays clean: nothing extra is written when stderr is not a terminal.
    """
    if not _interactive() or total <= 0:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    amount = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *amount,
        TimeRemainingColumn(),
        transient=True,
        console=_console(),
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def _interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def _console() -> Console:
    from rich.console import Console

    return Console(stderr=True)
