"""Trees of many runs for the benchmarks that walk them (``ls.py``, ``fleet.py``).

One recorded run's log copied N times (``g000/run-00000`` ...), built once and cached under
``$TMPDIR`` (a ``.complete`` marker says the tree is whole), so reruns measure the command and not
the recording.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def copied_tree(name: str, runs: int, record: Callable[[Any], None]) -> Path:
    """``$TMPDIR/vrx-bench-NAME``: ``runs`` copies of the ``events.jsonl`` that ``record(recorder)``
    writes (a Recorder without environment capture, OS durability)."""
    from vrx_core.log.writer import Recorder

    tree = Path(tempfile.gettempdir()) / f"vrx-bench-{name}"
    if (tree / ".complete").exists():
        return tree
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    template = tree / ".template"
    with Recorder(template, environment=False, durability="os") as rec:
        record(rec)
    log = (template / "events.jsonl").read_bytes()
    for n in range(runs):
        run = tree / f"g{n // 100:03d}" / f"run-{n:05d}"
        run.mkdir(parents=True)
        (run / "events.jsonl").write_bytes(log)
    shutil.rmtree(template)
    (tree / ".complete").write_text("")
    return tree
