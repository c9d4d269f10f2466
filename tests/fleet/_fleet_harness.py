"""Fleets of small runs for the ``vrx fleet`` tests: good, crashed, corrupt, and a plugin that fails."""

from __future__ import annotations

import os
from pathlib import Path

from vrx_core.events import Metric, Params
from vrx_core.log.writer import Recorder

#: A plugin that counts events into count.json; it raises on runs named bad-* (at seq 3),
#: kills its interpreter on runs named kill-*, calls sys.exit on runs named exit-*.
PLUGIN = """\
import os

from vrx_core import DerivedFiles, Deriver, ReplayContext, hookimpl

__version__ = "1"


class Count(Deriver):
    outputs = frozenset({"count.json"})

    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0

    def on_event(self, event) -> None:
        if self.name.startswith("bad-") and event.seq == 3:
            raise ValueError(f"boom on {self.name}")
        if self.name.startswith("kill-"):
            os._exit(3)
        if self.name.startswith("exit-"):
            raise SystemExit(4)
        self.n += 1

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("count.json", {"events": self.n})


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return Count(context.run_dir.name)
"""


def record(run: Path, *, n: int = 8, end: bool = True) -> Path:
    """A run with params and ``n`` loss metrics; ``end=False`` leaves it crashed (no run_end)."""
    rec = Recorder(run, environment=False, durability="os")
    rec.emit(Params(values={"lr": 0.1, "run": run.name}))
    for i in range(n):
        rec.emit(Metric(name="loss", value=1.0 / (i + 1), step=i))
    rec.close(end=end)
    return run


def corrupt(run: Path) -> Path:
    """Flip a bit in line 4 of the log: a checksum mismatch before the last sync line (corruption)."""
    log = run / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    line = bytearray(lines[3])
    line[line.index(b'"value"') + 9] ^= 1
    lines[3] = bytes(line)
    log.write_bytes(b"".join(lines))
    return run


def make_fleet(
    root: Path, good: int = 6, *, crashed: bool = True, broken: bool = True, bad: bool = True
) -> Path:
    """``good`` ended runs in two groups, with a crashed run, a corrupt one and one the plugin fails
    on among them (sorted by path, they fall in the middle)."""
    for i in range(good):
        record(root / f"g{i % 2}" / f"run-{i:02d}")
    if crashed:
        record(root / "g0" / "run-02-crashed", end=False)
    if broken:
        corrupt(record(root / "g1" / "run-03-corrupt"))
    if bad:
        record(root / "g0" / "bad-run")
    return root


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``root``: (mtime_ns, bytes)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = Path(d) / f
            out[p.relative_to(root).as_posix()] = (p.stat().st_mtime_ns, p.read_bytes())
    return out
