"""Reading a multi-rank run: each rank's log checked on its own, merged on read.

A rank writes ``events.rank<R>.jsonl`` with its own seq, salt, lock and durability. Readers merge
the ranks deterministically by ``(t, rank, seq)`` with a heap over one lazy reader per rank, so
nothing holds a whole log; each event carries the ``rank`` of the log it came from. Within a rank
the log's order is kept even when its clock stepped back (the heap then emits that rank's later
events early rather than reorder them). ``skew`` reports each rank's measured clock offset to
rank 0 (``run_start.clock_offset_s``, when ``torch.distributed`` measured it).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator
from pathlib import Path

import msgspec

from vrx_core.errors import NoSuchRun
from vrx_core.events import AnyEvent, EventRegistry
from vrx_core.log.reader import LogReader, Mode, ReadReport
from vrx_core.log.rundir import RunDir

_set_rank = msgspec.structs.force_setattr


class RunReader:
    """Every event of a run: its one log, or its per-rank logs merged by ``(t, rank, seq)``.

    >>> reader = RunReader("runs/ddp")
    >>> for event in reader: print(event.rank, event.seq, event)
    >>> reader.reports[0].complete, reader.skew
    """

    def __init__(
        self,
        run: str | os.PathLike[str],
        *,
        mode: Mode = "recover",
        registry: EventRegistry | None = None,
        ranks: set[int] | None = None,
    ) -> None:
        self.run = RunDir.of(run)
        logs = self.run.logs()
        if ranks is not None:
            logs = [(r, p) for r, p in logs if r in ranks]
            if not logs:
                raise NoSuchRun(f"no log of rank(s) {sorted(ranks)} in this run", path=self.run.root)
        if logs == [(None, self.run.log)]:
            logs = [(None, Path(run))]  # as given: a log kept under another name, or a run directory
        self.readers: dict[int | None, LogReader] = {
            rank: LogReader(path, mode=mode, registry=registry) for rank, path in logs
        }

    @property
    def multi_rank(self) -> bool:
        return None not in self.readers

    @property
    def reports(self) -> dict[int | None, ReadReport]:
        """Each log's report (key None for a single-process run), filled in as reading advances."""
        return {rank: reader.report for rank, reader in self.readers.items()}

    @property
    def skew(self) -> dict[int, float | None]:
        """Each rank's clock offset to rank 0 as measured at its start (None: not measured)."""
        found: dict[int, float | None] = {}
        for rank, report in self.reports.items():
            if rank is not None:
                found[rank] = report.run_start.clock_offset_s if report.run_start is not None else None
        return found

    def __iter__(self) -> Iterator[AnyEvent]:
        if not self.multi_rank:
            return iter(self.readers[None])
        streams = [_ranked(rank, reader) for rank, reader in self.readers.items() if rank is not None]
        return heapq.merge(*streams, key=_order)


def _ranked(rank: int, reader: LogReader) -> Iterator[AnyEvent]:
    for event in reader:
        _set_rank(event, "rank", rank)
        yield event


def _order(event: AnyEvent) -> tuple[float, int, int]:
    return (event.t, event.rank or 0, event.seq)


__all__ = ["RunReader"]
