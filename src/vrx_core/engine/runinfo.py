"""A run at a glance: what ``vrx ls`` shows of each run, without reading its log in full.

Listing thousands of runs cannot read thousands of logs in full. :func:`inspect_run` reads only
the first line and the tail window of the log (:mod:`vrx_core.engine.logwindow`, checked by the
reader's rules), ``writer.lock`` (the holder, judged by :func:`vrx_core.log.lock.holder_alive`,
and its heartbeat) and ``derived.json`` (how far the last replay read). :func:`find_runs` finds the
runs under a directory.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from vrx_core.codec import json_safe
from vrx_core.engine.logwindow import TAIL_WINDOW, Glance, read_log
from vrx_core.engine.provenance import previous_log_record, read_provenance
from vrx_core.errors import NoSuchRun
from vrx_core.log.lock import boot_id, holder_alive, read_lock
from vrx_core.log.rundir import LOCK, LOG, PROVENANCE, RunDir

#: A holder that cannot be judged from here (another host) counts as alive while its heartbeat
#: (the lock's mtime) is at most this old; the tail's ``dead_after_s``.
STALE_AFTER_S: Final = 30.0
#: The statuses, in the order ``--sort status`` uses.
STATUSES: Final = ("running", "crashed", "corrupt", "newer", "ended")
END_STATUSES: Final = ("ok", "error", "interrupted")
#: Directories never searched for runs (besides hidden ones and symlinks).
SKIP_DIRS: Final = frozenset({"__pycache__", "node_modules"})


@dataclass(kw_only=True)
class RunInfo(Glance):
    """What :func:`inspect_run` found. ``status`` is one of :data:`STATUSES`."""

    path: Path
    #: The last replay's record (``derived.json``), summarised; None when never replayed.
    derived: dict[str, Any] | None = None
    #: Plugin verdicts by plugin name (filled in by the caller through ``vrx_run_verdict``).
    verdicts: dict[str, str] = field(default_factory=dict)
    #: A multi-rank run: each rank's status (as ``shown_status``); None for a single process.
    ranks: dict[int, str] | None = None

    @property
    def shown_status(self) -> str:
        """``ended``, ``ended/error``, ``ended/interrupted`` or the status itself."""
        if self.status == "ended" and self.end_status not in (None, "ok"):
            return f"ended/{self.end_status}"
        return self.status

    def duration(self, now: float) -> float | None:
        """Seconds from start to run_end (ended), to now (running), or to the last line read."""
        if self.start is None:
            return None
        if self.end is not None:
            return self.end - self.start
        if self.status == "running":
            return max(0.0, now - self.start)
        return None if self.last_t is None else self.last_t - self.start

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "path": os.fspath(self.path),
            "name": self.name,
            "run_id": self.run_id,
            "status": self.status,
            "end_status": self.end_status,
            "start": self.start,
            "start_utc": utc(self.start),
            "end": self.end,
            "last_event": self.last_t,
            "duration_s": self.duration(now),
            "lines": self.lines,
            "bytes": self.log_bytes,
            "metrics": json_safe(self.metrics),
            "step": self.step,
            "verdicts": self.verdicts,
            "why": self.why,
            "problem": self.problem,
            "torn_tail_bytes": self.torn_tail_bytes,
            "derived": self.derived,
            "ranks": None if self.ranks is None else {str(r): s for r, s in self.ranks.items()},
        }


def utc(t: float | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` of a Unix time, or None."""
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# -- finding runs -------------------------------------------------------------------------------


def find_runs(top: Path) -> Iterator[Path]:
    """Every run directory (a directory holding ``events.jsonl``) at or under ``top``, at any depth.

    A run's own subdirectories are searched too (a sweep keeps its probe runs inside it). Hidden
    directories, :data:`SKIP_DIRS` and symlinked directories are not entered (``top`` itself may
    be a symlink); a directory that cannot be read is passed over. ``top`` may also be a log file.
    """
    if top.is_file():
        if RunDir.is_log(top.name):
            yield top.parent
        return
    stack = [os.fspath(top)]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        subdirs = []
        found = False
        for e in entries:
            name = e.name
            if RunDir.is_log(name):  # events.jsonl, or a rank's events.rank<R>.jsonl
                if not found and _is_file(e):
                    found = True
                    yield Path(d)
            elif not name.startswith(".") and name not in SKIP_DIRS and _is_dir(e):
                subdirs.append(e.path)
        stack.extend(sorted(subdirs, reverse=True))


def _is_file(e: os.DirEntry[str]) -> bool:
    try:
        return e.is_file()
    except OSError:
        return False


def _is_dir(e: os.DirEntry[str]) -> bool:
    try:
        return e.is_dir(follow_symlinks=False)
    except OSError:
        return False


# -- one run ------------------------------------------------------------------------------------


@dataclass
class Host:
    """This machine's name and boot id, looked up once for many runs."""

    name: str = field(default_factory=socket.gethostname)
    boot: str = field(default_factory=boot_id)


def inspect_run(
    run_dir: str | os.PathLike[str],
    *,
    now: float | None = None,
    host: Host | None = None,
    window: int = TAIL_WINDOW,
    stale_after_s: float = STALE_AFTER_S,
) -> RunInfo:
    """Status, times, name and last metrics of one run from its head, tail, lock and derived.json.

    Raises :class:`NoSuchRun` when the run has no log; anything wrong inside the log is the
    ``corrupt`` status, never an exception.
    """
    root = Path(run_dir)
    if RunDir.is_log(root.name) and not root.is_dir():
        root = root.parent  # the run's events.jsonl names the run (RunDir.of)
    clock = time.time() if now is None else now
    here = host or Host()
    top = os.fspath(root)  # plain strings: a pathlib join costs more than reading a derived.json
    if not os.path.exists(os.path.join(top, LOG)):
        ranks = RunDir(root).ranks()
        if ranks:
            infos = {
                r: _inspect_log(
                    root,
                    RunDir(root).rank_log(r),
                    RunDir(root).rank_lock(r),
                    clock,
                    here,
                    window,
                    stale_after_s,
                )
                for r in ranks
            }
            return _combine_ranks(root, infos)
    info = _inspect_log(root, Path(top, LOG), Path(top, LOCK), clock, here, window, stale_after_s)
    derived = _read_json(os.path.join(top, PROVENANCE))
    if derived:
        _add_derived(info, derived, os.path.join(top, LOG))
    return info


def _inspect_log(  # noqa: PLR0917 - one private call site per kind of run, all positional
    root: Path, log_path: Path, lock: Path, now: float, host: Host, window: int, stale: float
) -> RunInfo:
    """One log's head and tail, then its writer's liveness when the log alone does not decide."""
    info = RunInfo(path=root, name=root.name or os.fspath(root))
    log = os.fspath(log_path)
    try:
        fd = os.open(log, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NoSuchRun("no such event log", path=log) from None
    except OSError as exc:
        raise NoSuchRun(f"cannot open event log: {exc.strerror}", path=log) from None
    try:
        info.log_bytes = os.fstat(fd).st_size
        read_log(fd, info, log, max(window, 1024))
    finally:
        os.close(fd)
    if not info.status:
        _liveness(info, root, lock, now=now, host=host, stale=stale)
    return info


#: How the ranks' statuses make the run's: the first that any rank has, in this order.
_RANK_PRECEDENCE = ("corrupt", "newer", "running", "crashed", "ended")


def _combine_ranks(root: Path, infos: dict[int, RunInfo]) -> RunInfo:
    """A multi-rank run as one row: corrupt if any rank is, else running while any rank runs, else
    crashed if any rank crashed, else ended; rank 0 gives the name and key metrics."""
    first = infos[min(infos)]
    run = RunInfo(path=root, name=first.name, run_id=first.run_id)
    run.status = next(s for s in _RANK_PRECEDENCE if any(i.status == s for i in infos.values()))
    run.ranks = {r: i.shown_status for r, i in infos.items()}
    starts = [i.start for i in infos.values() if i.start is not None]
    run.start = min(starts) if starts else None
    lasts = [i.last_t for i in infos.values() if i.last_t is not None]
    run.last_t = max(lasts) if lasts else None
    if run.status == "ended":
        run.end = max(i.end for i in infos.values() if i.end is not None)
        bad = sorted({i.end_status for i in infos.values() if i.end_status not in (None, "ok")} - {None})
        run.end_status = bad[0] if bad else "ok"
    run.lines = sum(i.lines for i in infos.values())
    run.log_bytes = sum(i.log_bytes for i in infos.values())
    run.metrics, run.step = first.metrics, first.step
    run.torn_tail_bytes = sum(i.torn_tail_bytes for i in infos.values())
    odd = {r: i for r, i in infos.items() if i.status != run.status or i.status != "ended"}
    run.why = "; ".join(
        f"rank {r}: {i.shown_status}" + (f" ({i.why})" if i.why else "") for r, i in odd.items()
    )
    run.problem = next((i.problem for i in infos.values() if i.problem), None)
    return run


def _read_json(path: str) -> dict[str, Any]:
    """A small JSON object file (``derived.json``), or {} when missing or unreadable."""
    try:
        with open(path, "rb") as f:
            data = msgspec.json.decode(f.read(1 << 20))
    except (OSError, msgspec.DecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _add_derived(info: RunInfo, derived: dict[str, Any], log: str) -> None:
    record = derived.get("log")
    record = record if isinstance(record, dict) else {}
    recorded = record.get("bytes")
    files = derived.get("files")
    failures = derived.get("failures")
    info.derived = {
        "files": len(files) if isinstance(files, dict) else 0,
        "failures": len(failures) if isinstance(failures, list) else 0,
        "log_bytes": recorded if isinstance(recorded, int) else None,
        "current": _current(recorded, info.log_bytes),
    }
    if isinstance(recorded, int) and recorded > info.log_bytes and info.status != "corrupt":
        info.status = "corrupt"
        info.problem = (
            f"{log}: the log is {info.log_bytes} bytes, shorter than the {recorded} bytes"
            " derived.json recorded"
        )
        info.why = "the log lost data since it was replayed"


def _current(recorded: object, log_bytes: int) -> bool:
    """Whether a replay that read ``recorded`` bytes of the log derived from all of it: logs only
    grow, so a log of another size changed since (``derived.current``)."""
    return recorded == log_bytes


def derived_current(run_dir: str | os.PathLike[str]) -> bool | None:
    """Whether the run's derived files are current: its ``derived.json`` recorded the log's size now
    (``vrx ls``'s ``derived.current``). None when never replayed (no readable ``derived.json`` log
    record) or when the log cannot be read."""
    run = RunDir.of(run_dir)
    record = previous_log_record(run.root)
    if record is None:
        return None
    try:
        size = os.stat(run.log).st_size
    except OSError:
        return None
    return _current(record["bytes"], size)


def _liveness(info: RunInfo, root: Path, lock: Path, *, now: float, host: Host, stale: float) -> None:
    """No run_end: running or crashed, by the one liveness rule (and the heartbeat where it cannot tell)."""
    holder, mtime = read_lock(root, lock)
    if holder is None and mtime is None:
        info.status, info.why = "crashed", "no run_end and no writer holds the run (writer.lock is missing)"
        return
    alive = holder_alive(holder or {}, host=host.name, boot=host.boot)
    who = f"host={(holder or {}).get('host', '?')}, pid={(holder or {}).get('pid', '?')}"
    if alive is True:
        info.status, info.why = "running", f"writer alive ({who})"
    elif alive is False:
        info.status, info.why = "crashed", f"no run_end and the writer is gone ({who})"
    else:
        age = now - (mtime or 0.0)
        if age <= stale:
            info.status, info.why = "running", f"heartbeat {max(age, 0.0):.0f} s ago ({who})"
        else:
            info.status, info.why = "crashed", f"no run_end and no heartbeat for {age:.0f} s ({who})"


def derived_by(run_dir: str | os.PathLike[str], relpath: str) -> str | None:
    """The plugin that wrote ``relpath`` of ``run_dir`` by its last replay (``derived.json``), or None.

    For ``vrx_run_verdict`` implementations: a file of a name another plugin also writes
    (``metrics.json``, ``summary.md``) is only theirs when this says so.
    """
    root = RunDir.of(run_dir).root
    try:
        st = root.joinpath(PROVENANCE).stat()
    except OSError:
        return None
    files = _provenance_files(str(root), st.st_mtime_ns, st.st_size)
    entry = files.get(relpath)
    plugin = entry.get("plugin") if isinstance(entry, dict) else None
    return plugin if isinstance(plugin, str) else None


def read_own(run_dir: str | os.PathLike[str], relpath: str, plugin: str) -> bytes | None:
    """The bytes of ``relpath`` in ``run_dir`` when ``plugin`` derived it by the last replay, else
    None: a ``vrx_run_verdict`` reads its own file, never another plugin's file of the same name."""
    try:
        with open(os.path.join(run_dir, relpath), "rb") as f:  # os.path: asked for every run listed
            data = f.read()
    except OSError:
        return None
    return data if derived_by(run_dir, relpath) == plugin else None


def read_own_json(run_dir: str | os.PathLike[str], relpath: str, plugin: str) -> Any:
    """:func:`read_own` parsed as JSON; None also for a file that is not valid JSON."""
    raw = read_own(run_dir, relpath, plugin)
    try:
        return None if raw is None else msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


@functools.lru_cache(maxsize=64)
def _provenance_files(root: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """``derived.json``'s files, parsed once per version of the file: ``vrx ls`` asks each
    plugin's verdict, and each asks which plugin wrote its file."""
    files = read_provenance(Path(root)).get("files")
    return files if isinstance(files, dict) else {}


__all__ = [
    "END_STATUSES",
    "STALE_AFTER_S",
    "STATUSES",
    "TAIL_WINDOW",
    "Host",
    "RunInfo",
    "derived_by",
    "derived_current",
    "find_runs",
    "inspect_run",
    "read_own",
    "read_own_json",
    "utc",
]
