"""Replay, check or verify many runs at once: on a local process pool or on Dask distributed.

The runs travel in chunks (a replay of a small run costs milliseconds, a task round trip about as
much), each chunk a :class:`~vrx_core.engine.fleet_worker.Chunk` carrying the client's plugin
selection and fingerprint; a worker runs :func:`~vrx_core.engine.fleet_worker.run_chunk` and sends
back one small row per run. Derived files are written beside each run by the worker, exactly as
``vrx replay`` writes them, so every worker must see the runs at the same paths (shared storage).

Engines: ``local`` (default) is a ``concurrent.futures`` process pool of ``jobs`` workers started
through a fork server (``jobs=1``: in this process, no pool); ``dask`` is a Dask ``LocalCluster`` of
``jobs`` single-threaded worker processes, or the cluster whose scheduler is at ``address``
(``pip install 'vrx-core[fleet]'``).

One bad run never stops the fleet: every failure inside a run is that run's row, and a chunk whose
worker died (a plugin that crashed the interpreter) is run again alone, then split in halves
until the run that kills its worker is alone, and that run alone fails.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from vrx_core.engine.fleet_worker import STATUSES, Chunk, Op, RunRow, reset_worker, run_chunk
from vrx_core.errors import ExitCode, VrxError
from vrx_core.hooks.discovery import Selection

Engine = Literal["local", "dask"]
ENGINES: Final = ("local", "dask")
#: Chunks per worker: enough for an even spread and a progress bar that moves, few enough that the
#: round trips stay negligible.
CHUNKS_PER_WORKER: Final = 8
MAX_CHUNK: Final = 1000
#: How long to try to reach the scheduler at ``address``, and to wait for its first worker.
CONNECT_S: Final = 10.0
WORKER_WAIT_S: Final = 60.0
EXTRA_HINT: Final = "pip install 'vrx-core[fleet]'"


class FleetUnavailable(VrxError):
    """The engine cannot run: Dask is not installed, or the scheduler cannot be reached."""

    exit_code = ExitCode.UNAVAILABLE


@dataclass
class FleetResult:
    """Every run's row (in path order) and how the fleet ran."""

    op: Op
    rows: list[RunRow]
    engine: str
    workers: int
    chunks: int
    elapsed_s: float
    #: Chunks (or halves of chunks) run again, alone, after their worker died.
    retried: int = 0

    def counts(self) -> dict[str, int]:
        found = Counter(r.status for r in self.rows)
        return {status: found.get(status, 0) for status in STATUSES[self.op]}

    @property
    def exit_code(self) -> ExitCode:
        """1 any run failed; else 65 any corrupt (or drift); else 3 any incomplete; else 0."""
        counts = Counter(r.status for r in self.rows)
        if counts["failed"]:
            return ExitCode.FAILED
        if counts["corrupt"] or counts["drift"]:
            return ExitCode.DATAERR
        if counts["incomplete"]:
            return ExitCode.INCOMPLETE
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.op,
            "engine": self.engine,
            "workers": self.workers,
            "chunks": self.chunks,
            "retried_chunks": self.retried,
            "runs": len(self.rows),
            "elapsed_s": round(self.elapsed_s, 3),
            "exit_code": int(self.exit_code),
            "counts": self.counts(),
            "rows": [r.to_json() for r in self.rows],
        }


def chunk_size(runs: int, workers: int) -> int:
    """About :data:`CHUNKS_PER_WORKER` chunks per worker, at least one run, at most :data:`MAX_CHUNK`."""
    return max(1, min(MAX_CHUNK, runs // max(1, workers * CHUNKS_PER_WORKER)))


def split(paths: Sequence[str], size: int) -> list[tuple[str, ...]]:
    return [tuple(paths[i : i + size]) for i in range(0, len(paths), size)]


@dataclass
class FleetOptions:
    """How to run a fleet: the operation, the plugins, the engine and its size."""

    op: Op = "replay"
    selection: Selection = field(default_factory=Selection)
    fingerprint: dict[str, tuple[str, str]] = field(default_factory=dict)
    force: bool = False
    engine: Engine = "local"
    jobs: int | None = None
    address: str | None = None
    #: ``LocalCluster(processes=...)`` when no address is given (False: threads, for tests).
    dask_processes: bool = True


def run_fleet(
    paths: Sequence[str | os.PathLike[str]],
    options: FleetOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> FleetResult:
    """``options.op`` over every run in ``paths``; ``progress(runs_done)`` after each chunk."""
    runs = sorted({os.fspath(p) for p in paths})
    if not runs:  # nothing to start a pool or a cluster for
        return FleetResult(options.op, [], options.engine, 0, 0, 0.0)
    started = time.perf_counter()
    jobs = min(_jobs(options.jobs), len(runs))  # no more local workers than runs
    backend = _dask_backend(options, jobs) if options.engine == "dask" else _LocalBackend(jobs)
    try:
        size = chunk_size(len(runs), backend.workers)
        chunks = [
            Chunk(options.op, part, options.selection, options.fingerprint, options.force)
            for part in split(runs, size)
        ]
        driver = _Driver(backend, progress)
        rows = driver.run(chunks)
    finally:
        backend.close()
    return FleetResult(
        op=options.op,
        rows=sorted(rows, key=lambda r: r.path),
        engine=backend.name,
        workers=backend.workers,
        chunks=len(chunks),
        elapsed_s=time.perf_counter() - started,
        retried=driver.retried,
    )


def _jobs(jobs: int | None) -> int:
    return max(1, jobs if jobs is not None else (os.cpu_count() or 1))


# -- the driver: submit, collect, retry what a dead worker took down -----------------------------


class _Driver:
    """Keeps up to ``max_in_flight`` chunks in flight. A chunk that raises (its worker died) becomes
    a suspect; suspects then run one at a time, alone: one that fails alone is split in halves, and
    a run that fails alone is that run's failure. Innocent chunks caught in the same crash pass."""

    def __init__(self, backend: _Backend, progress: Callable[[int], None] | None) -> None:
        self.backend = backend
        self.progress = progress
        self.retried = 0

    def run(self, chunks: list[Chunk]) -> list[RunRow]:
        rows: list[RunRow] = []
        pending = chunks[::-1]
        suspects: list[Chunk] = []
        flying: dict[Any, tuple[Chunk, bool]] = {}  # future -> (chunk, ran alone)
        while pending or suspects or flying:
            if suspects:
                if not flying:
                    self.retried += 1
                    chunk = suspects.pop()
                    flying[self.backend.submit(chunk)] = (chunk, True)
            else:
                while pending and len(flying) < self.backend.max_in_flight:
                    chunk = pending.pop()
                    flying[self.backend.submit(chunk)] = (chunk, False)
            for future in self.backend.wait_any(list(flying)):
                chunk, alone = flying.pop(future)
                try:
                    rows += self.backend.result(future)
                except Exception as exc:
                    self.backend.recover(future, exc)
                    rows += _suspect(chunk, alone, exc, suspects)
                if self.progress is not None:
                    self.progress(len(rows))
        return rows


def _suspect(chunk: Chunk, alone: bool, exc: Exception, suspects: list[Chunk]) -> list[RunRow]:
    if not alone:
        suspects.append(chunk)
    elif len(chunk.paths) == 1:
        why = f"the worker died while on this run: {type(exc).__name__}: {exc}".rstrip(": ")
        return [RunRow(chunk.paths[0], "failed", reason=why)]
    else:
        half = (len(chunk.paths) + 1) // 2
        for part in (chunk.paths[half:], chunk.paths[:half]):
            suspects.append(Chunk(chunk.op, part, chunk.selection, chunk.fingerprint, chunk.force))
    return []


# -- engines ------------------------------------------------------------------------------------


class _Backend:
    name = "?"
    workers = 1
    max_in_flight = 1

    def submit(self, chunk: Chunk) -> Any:
        raise NotImplementedError

    def wait_any(self, futures: list[Any]) -> Iterable[Any]:
        raise NotImplementedError

    def result(self, future: Any) -> list[RunRow]:
        raise NotImplementedError

    def recover(self, future: Any, exc: BaseException) -> None:
        """After ``future`` raised: make the engine usable again (a broken pool is replaced)."""

    def close(self) -> None:
        """Stop whatever the engine started."""


class _LocalBackend(_Backend):
    """A process pool whose workers fork from a fork server (no threads inherited); in-process
    for one job."""

    name = "local"

    def __init__(self, jobs: int) -> None:
        self.workers = jobs
        self.max_in_flight = 2 * jobs
        self.pool: ProcessPoolExecutor | None = None
        #: The pool each future was submitted to: only a failure of the current pool replaces it.
        self.owner: dict[Future[list[RunRow]], ProcessPoolExecutor] = {}

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            import multiprocessing

            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["vrx_core.engine.fleet_worker"])
            self.pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=reset_worker)
        return self.pool

    def submit(self, chunk: Chunk) -> Future[list[RunRow]]:
        if self.workers == 1:
            done: Future[list[RunRow]] = Future()
            done.set_result(run_chunk(chunk))
            return done
        pool = self._pool()
        try:
            future = pool.submit(run_chunk, chunk)
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(exc)
        self.owner[future] = pool
        return future

    def wait_any(self, futures: list[Any]) -> Iterable[Any]:
        return wait(futures, return_when=FIRST_COMPLETED).done

    def result(self, future: Any) -> list[RunRow]:
        rows: list[RunRow] = future.result()  # raised: recover() forgets the future
        self.owner.pop(future, None)
        return rows

    def recover(self, future: Any, exc: BaseException) -> None:
        pool = self.owner.pop(future, None)
        if isinstance(exc, BrokenProcessPool) and pool is not None and pool is self.pool:
            pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


class _DaskBackend(_Backend):
    name = "dask"

    def __init__(self, client: Any, cluster: Any, distributed: Any) -> None:
        self.client = client
        self.cluster = cluster
        self.distributed = distributed
        self.workers = max(1, sum(client.nthreads().values()))
        self.max_in_flight = 1 << 30  # the scheduler queues; a dead worker's task is retried there

    def submit(self, chunk: Chunk) -> Any:
        return self.client.submit(run_chunk, chunk, pure=False)

    def wait_any(self, futures: list[Any]) -> Iterable[Any]:
        return self.distributed.wait(futures, return_when="FIRST_COMPLETED").done  # type: ignore[no-any-return]

    def result(self, future: Any) -> list[RunRow]:
        rows: list[RunRow] = future.result()
        return rows

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _dask_backend(options: FleetOptions, jobs: int) -> _DaskBackend:
    import importlib

    try:
        # Imported by name: an optional extra, typed Any here whether or not it is installed.
        distributed: Any = importlib.import_module("distributed")
    except ImportError as exc:
        raise FleetUnavailable(
            f"--engine dask needs Dask distributed ({exc.name or 'distributed'} is not installed): "
            f"{EXTRA_HINT}"
        ) from None
    if options.address is None:
        try:
            cluster = distributed.LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=options.dask_processes,
                dashboard_address=None,
            )
        except Exception as exc:
            raise FleetUnavailable(f"cannot start a Dask LocalCluster: {type(exc).__name__}: {exc}") from exc
        return _DaskBackend(distributed.Client(cluster), cluster, distributed)
    try:
        client = distributed.Client(options.address, timeout=f"{CONNECT_S}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise FleetUnavailable(f"cannot reach the Dask scheduler at {options.address}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise FleetUnavailable(
            f"no Dask worker joined the scheduler at {options.address} within {WORKER_WAIT_S:.0f} s "
            f"(start one: dask worker {options.address}): {exc}"
        ) from None
    return _DaskBackend(client, None, distributed)


__all__ = [
    "ENGINES",
    "FleetOptions",
    "FleetResult",
    "FleetUnavailable",
    "chunk_size",
    "run_fleet",
]
