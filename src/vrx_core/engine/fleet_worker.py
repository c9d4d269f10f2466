"""What a fleet worker does with one chunk of runs: replay, check or verify each, summarised.

:func:`run_chunk` is the task a worker process runs (a local pool's or a Dask worker's). It loads
the client's plugin selection once per process, refuses the chunk when the plugins it has differ
from the client's (names, versions, code hashes: :mod:`vrx_core.engine.plugincode`), and returns
one small :class:`RunRow` per run, never derived bytes: the files are written beside each run by
the same :func:`~vrx_core.engine.replay.replay` that ``vrx replay`` calls. One run's failure, of
any kind, is that run's row; the other runs of the chunk go on.

Incremental: a run whose ``derived.json`` records this very plugin set, no plugin failure, a
recover-mode read of a log with the same size and sha256 as the log now, and whose derived files
are all still there, is up to date and skipped without writing anything.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from vrx_core.engine import plugincode
from vrx_core.engine.plugincode import fingerprint, plugin_record
from vrx_core.engine.provenance import read_provenance
from vrx_core.errors import ExitCode, VrxError
from vrx_core.hooks.discovery import Selection
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.rundir import LOG, RunDir

Op = Literal["replay", "check", "verify"]
#: Every status a row can have; which ones an operation produces is in :data:`STATUSES`.
STATUSES: Final[dict[str, tuple[str, ...]]] = {
    "replay": ("replayed", "skipped", "incomplete", "failed", "corrupt"),
    "check": ("ok", "drift", "incomplete", "failed", "corrupt"),
    "verify": ("ok", "incomplete", "failed", "corrupt"),
}
_READ = 1 << 20


@dataclass
class RunRow:
    """One run's outcome: what the client counts and prints (small: it crosses the network)."""

    path: str
    status: str
    #: What was done: ``replayed``, ``skipped``, ``checked``, ``verified`` or ``none``.
    action: str = "none"
    #: Derived files written (replay), compared (check), or recorded by the up-to-date replay (skip).
    files: int = 0
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "action": self.action,
            "files": self.files,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Chunk:
    """A task: some runs, the operation, and the client's plugin selection and fingerprint."""

    op: Op
    paths: tuple[str, ...]
    selection: Selection
    #: The client's ``{name: (version, code hash)}``.
    fingerprint: dict[str, tuple[str, str]] = field(default_factory=dict)
    force: bool = False


# -- the worker's plugins -----------------------------------------------------------------------

_PLUGINS: dict[str, PluginSet] = {}


def _selection_key(sel: Selection) -> str:
    only = None if sel.only is None else sorted(sel.only)
    return repr((sel.enable, sorted(sel.block), [os.fspath(d) for d in sel.dirs], only))


def plugins_for(selection: Selection) -> PluginSet:
    """The plugins ``selection`` loads here, once per process (a broken plugin is skipped, and then
    missing from this worker's fingerprint)."""
    key = _selection_key(selection)
    plugins = _PLUGINS.get(key)
    if plugins is None:
        plugins = _PLUGINS[key] = PluginSet.load(selection, strict=False)
    return plugins


def reset_worker() -> None:
    """Forget the plugins loaded and hashed so far (a pool's initializer: a worker judges the code
    it loads itself, whatever it inherited)."""
    _PLUGINS.clear()
    plugincode.clear_cache()


def difference(here: dict[str, tuple[str, str]], client: dict[str, tuple[str, str]]) -> str | None:
    """Where this worker's plugin set differs from the client's, one clause per plugin; None if same."""
    parts = []
    for name in sorted(set(here) | set(client)):
        mine, theirs = here.get(name), client.get(name)
        if mine is not None and theirs is not None and tuple(mine) == tuple(theirs):
            continue
        parts.append(f"{name} {_described(mine)} here, {_described(theirs)} on the client")
    return "; ".join(parts) or None


def _described(entry: tuple[str, str] | None) -> str:
    if entry is None:
        return "missing"
    version, code = entry
    return f"{version} (code {code[:12]})"


# -- a chunk ------------------------------------------------------------------------------------


def run_chunk(chunk: Chunk) -> list[RunRow]:
    """Each run of ``chunk`` through ``chunk.op``; every run gets a row, whatever happens to it."""
    try:
        plugins = plugins_for(chunk.selection)
    except Exception as exc:
        why = f"the worker ({socket.gethostname()}) cannot load the plugins: {type(exc).__name__}: {exc}"
        return [RunRow(p, "failed", reason=why) for p in chunk.paths]
    diff = difference(fingerprint(plugins), chunk.fingerprint)
    if diff is not None:
        why = f"worker plugin set differs ({socket.gethostname()}): {diff}"
        if plugins.skipped:
            why += "; skipped here: " + "; ".join(s.render() for s in plugins.skipped.values())
        return [RunRow(p, "failed", reason=why) for p in chunk.paths]
    record = plugin_record(plugins) if chunk.op == "replay" and not chunk.force else None
    rows = []
    for path in chunk.paths:
        try:
            if chunk.op == "replay":
                rows.append(replay_one(path, plugins, record))
            elif chunk.op == "check":
                rows.append(check_one(path, plugins))
            else:
                rows.append(verify_one(path, plugins))
        except VrxError as exc:
            corrupt = exc.exit_code == ExitCode.DATAERR
            rows.append(RunRow(path, "corrupt" if corrupt else "failed", reason=str(exc)))
        except (Exception, SystemExit) as exc:  # a plugin's sys.exit() ends its run, not the worker
            rows.append(RunRow(path, "failed", reason=f"{type(exc).__name__}: {exc}"))
    return rows


def replay_one(path: str, plugins: PluginSet, record: dict[str, Any] | None) -> RunRow:
    """Replay one run as ``vrx replay`` does, unless ``record`` (the plugin set) says it is up to date."""
    from vrx_core.engine.replay import replay

    if record is not None:
        previous = up_to_date(Path(path), record)
        if previous is not None:
            files = len(previous.get("files") or ())
            logs = previous["log"]
            records = list(logs["ranks"].values()) if "ranks" in logs else [logs]  # a multi-rank run's
            if all(rec.get("complete") for rec in records):
                return RunRow(path, "skipped", "skipped", files)
            seqs = ", ".join(str(rec.get("last_seq")) for rec in records)
            why = (
                "no run_end (crashed or still running); skipped: up to date since an earlier "
                f"recover-mode replay to seq {seqs}"
            )
            return RunRow(path, "incomplete", "skipped", files, why)
    result = replay(path, plugins)
    files = len(result.files)
    if result.failures:
        why = "; ".join(f.render() for f in result.failures)
        return RunRow(path, "failed", "replayed", files, f"{why} (the other plugins' files were written)")
    report = result.report
    if not report.complete:
        why = (
            f"no run_end (crashed or still running); replayed in recover mode to seq {report.last_seq}, "
            f"{files} file(s) written"
        )
        if report.residue is not None:
            why += f"; stopped at crash residue: {report.residue.render(report.path)}"
        return RunRow(path, "incomplete", "replayed", files, why)
    return RunRow(path, "replayed", "replayed", files)


def check_one(path: str, plugins: PluginSet) -> RunRow:
    """``vrx replay --check`` of one run: ``ok``, ``drift`` (naming the files), ``incomplete``."""
    from vrx_core.engine.replay import check

    result, drifts = check(path, plugins)
    files = len(result.files)
    if result.failures:
        return RunRow(path, "failed", "checked", files, "; ".join(f.render() for f in result.failures))
    if drifts:
        named = ", ".join(f"{d.path} ({d.reason})" for d in drifts[:5])
        more = f", and {len(drifts) - 5} more" if len(drifts) > 5 else ""
        return RunRow(path, "drift", "checked", files, f"{len(drifts)} difference(s): {named}{more}")
    if not result.report.complete:
        why = "no run_end (crashed or still running); the files match a fresh recover-mode replay"
        return RunRow(path, "incomplete", "checked", files, why)
    return RunRow(path, "ok", "checked", files)


def verify_one(path: str, plugins: PluginSet) -> RunRow:
    """``vrx verify`` of one run: its log (each rank's, a multi-rank run's) and every plugin's
    checks; the first problem as reason."""
    from vrx_core.engine.verify import add_problems, verify_run

    run = verify_run(path, registry=plugins.registry)
    add_problems(run.verdicts[0], plugins.verify_problems(Path(path)))
    status = {"OK": "ok", "INCOMPLETE": "incomplete", "CORRUPT": "corrupt"}[run.status]
    if status == "ok":
        return RunRow(path, "ok", "verified")
    problems = [f"{path}: rank {r}: no log (events.rank{r}.jsonl missing)" for r in run.missing_ranks]
    headline = ""
    for verdict in run.verdicts:
        lines = verdict.lines()
        problems += lines[1 : 1 + len(verdict.corrupt) + len(verdict.residue) + len(verdict.extra)]
        if verdict.status != "OK" and not headline:
            headline = lines[0].split(": ", 2)[-1]
    why = problems[0] if problems else headline
    if len(problems) > 1:
        why += f" (and {len(problems) - 1} more problem(s): vrx verify {path})"
    return RunRow(path, status, "verified", reason=why)


# -- incremental --------------------------------------------------------------------------------


def up_to_date(run: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """``derived.json`` of ``run`` when it was derived by exactly the plugins in ``record`` from
    exactly the log there now, without a plugin failure, and its files are all there; else None.

    Cheap checks first (the plugin record, the log's size, the files' presence); the log is hashed
    only when everything else matches.
    """
    previous = read_provenance(run)
    files = previous.get("files")
    if previous.get("plugins") != record or previous.get("failures") or not isinstance(files, dict):
        return None
    logs = _recorded_logs(run, previous.get("log"))
    if logs is None:
        return None
    for path, rec in logs:
        try:
            if os.stat(path).st_size != rec["bytes"]:
                return None
        except OSError:
            return None
    if not all(os.path.isfile(run / rel) for rel in files):
        return None
    return previous if all(_sha256(path) == rec.get("sha256") for path, rec in logs) else None


def _recorded_logs(run: Path, log: Any) -> list[tuple[Path, dict[str, Any]]] | None:
    """Each log ``derived.json`` recorded with its record: the run's one log, or every rank's (the
    ranks on disk must be the ranks recorded); None when any record is not a full recover-mode read."""
    if not isinstance(log, dict):
        return None
    if "ranks" in log:
        ranks = log["ranks"]
        if not isinstance(ranks, dict) or sorted(ranks) != sorted(str(r) for r in RunDir(run).ranks()):
            return None
        pairs = [(RunDir(run).rank_log(int(r)), rec) for r, rec in ranks.items() if str(r).isdigit()]
    else:
        pairs = [(run / LOG, log)]
    for _, rec in pairs:
        if not isinstance(rec, dict) or rec.get("mode") != "recover" or rec.get("salvaged"):
            return None
        if not isinstance(rec.get("bytes"), int):
            return None
    return pairs if len(pairs) == (len(log["ranks"]) if "ranks" in log else 1) else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_READ):
            h.update(chunk)
    return h.hexdigest()


__all__ = [
    "STATUSES",
    "Chunk",
    "RunRow",
    "difference",
    "plugins_for",
    "reset_worker",
    "run_chunk",
    "up_to_date",
]
