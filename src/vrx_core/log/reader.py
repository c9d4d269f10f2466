"""The tolerant reader of ``events.jsonl``, shared by replay, verify, tail and the writer's resume.

Modes (after RocksDB's recovery modes):

* ``strict``: any anomaly is an error (:class:`CorruptLog`).
* ``recover`` (default): damage *after the durable point* is crash residue, reported and not
  read; damage before it is corruption. The durable point is the largest ``durable_upto`` of any
  valid ``sync`` line in the file, looking past the damage, because after a power loss valid pages
  can follow a lost one. (Not ``run_end``: it is written before its fsync, so it proves nothing.)
* ``salvage``: skip bad lines anywhere, list them, and mark the result ``salvaged``.

The reader never writes: it needs no write access to the run directory.
"""

from __future__ import annotations

import hashlib
import operator
import os
import stat
import zlib
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from vrx_core.codec import is_invalid_utf8
from vrx_core.errors import CorruptLog, NewerFormat, NoSuchRun
from vrx_core.events import (
    AnyEvent,
    Event,
    EventRegistry,
    KindInfo,
    Resumed,
    RunEnd,
    RunStart,
    Sync,
    UnknownEvent,
)
from vrx_core.events import registry as process_registry
from vrx_core.log.chunks import Batch, Run, read_chunks
from vrx_core.log.chunks import iter_lines as _iter_lines
from vrx_core.log.framing import ENVELOPE_RE, FORMAT_MAJOR, MAX_LINE_BYTES, split_crc
from vrx_core.log.rundir import RunDir

Mode = Literal["strict", "recover", "salvage"]
MODES: tuple[Mode, ...] = ("strict", "recover", "salvage")
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError, TypeError)
_ENVELOPE_KEYS = ("seq", "t", "v", "type", "crc")


class RunningHash:
    """sha256 of a log's bytes, fed in batches: one C call per 1024 pieces instead of one per piece.

    Reading or writing millions of ~130-byte lines, per-line ``update`` calls cost more than the
    hashing itself. ``hexdigest`` and ``update`` flush the pending pieces first.
    """

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self._pending: list[bytes] = []

    def add(self, data: bytes) -> None:
        self._pending.append(data)
        if len(self._pending) >= 1024:
            self._flush()

    def add_line(self, line: bytes) -> None:
        """Add a line and its ``\\n`` (the reader splits them off)."""
        pending = self._pending
        pending.append(line)
        pending.append(b"\n")
        if len(pending) >= 1024:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._h.update(b"".join(self._pending))
            self._pending.clear()

    def update(self, data: bytes) -> None:
        self._flush()
        self._h.update(data)

    def hexdigest(self) -> str:
        self._flush()
        return self._h.hexdigest()


@dataclass(frozen=True)
class Problem:
    """One anomaly, located by 1-based line number and byte offset of the line's start."""

    kind: str
    line: int
    offset: int
    message: str

    def render(self, path: str | os.PathLike[str]) -> str:
        return f"{os.fspath(path)}:{self.line} (byte {self.offset}): {self.kind}: {self.message}"


@dataclass
class ReadReport:
    """What a pass over a log found. Filled in as the iterator advances."""

    path: Path
    mode: Mode
    lines: int = 0
    last_seq: int = -1
    run_start: RunStart | None = None
    run_end: RunEnd | None = None
    #: True when the last accepted record is a checked ``run_end``.
    complete: bool = False
    #: Largest durable offset vouched for by a valid sync line seen so far.
    durable_upto: int = 0
    #: Offset just past the last accepted line: where a resumed writer appends.
    valid_end: int = 0
    problems: list[Problem] = field(default_factory=list)
    #: Crash residue after the durable point (recover mode stops there).
    residue: Problem | None = None
    #: Bytes after the last ``\\n``: an uncommitted partial line.
    torn_tail_bytes: int = 0
    unknown: Counter[str] = field(default_factory=Counter)
    salvaged: bool = False
    #: Running hash of the accepted bytes; the writer continues it on resume.
    sha256: RunningHash = field(default_factory=RunningHash)
    salt: int = 0
    epochs: int = 0

    @property
    def clean(self) -> bool:
        return not self.problems


class LineProblem(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class LineChecker:
    """Checks and decodes committed lines one at a time; holds the chain state between them.

    The same object serves a whole-file read and a live tail fed from any committed offset.
    """

    def __init__(
        self, registry: EventRegistry, report: ReadReport, *, max_line: int = MAX_LINE_BYTES
    ) -> None:
        self.registry = registry
        self.report = report
        self.max_line = max_line
        self.expect_seq = 0
        self.offset = 0
        self.line_no = 0
        self.skipped = 0  # bad lines skipped since the last good one (salvage)
        # (tag bytes, version bytes) -> kind, for kinds read at their current version.
        self._current: dict[tuple[bytes, bytes], KindInfo] = {
            (k.tag.encode(), str(k.version).encode()): k for k in registry
        }

    def check(self, line: bytes) -> AnyEvent:
        """Validate one line (without its ``\\n``); raise LineProblem or return its event."""
        if len(line) > self.max_line:
            raise LineProblem("too_long", f"line of {len(line)} bytes exceeds the {self.max_line}-byte limit")
        parts = split_crc(line)
        if parts is None:
            raise LineProblem("framing", _framing_reason(line))
        prefix, stored = parts
        first = self.report.run_start is None and self.expect_seq == 0
        if zlib.crc32(prefix, 0 if first else self.report.salt) != stored:
            raise LineProblem("crc", f"checksum mismatch (stored {stored:08x}); damaged or from another run")
        env = ENVELOPE_RE.match(prefix)
        if env is None:
            raise LineProblem("framing", "line does not start with the {seq, t, v, type} envelope")
        seq_b, t_b, v_b, tag_b = env.groups()
        seq = int(seq_b)
        if seq != self.expect_seq:
            self._check_seq(seq)
        # The common case, one dict lookup: a known kind at its current version.
        info = self._current.get((tag_b, v_b))
        if info is not None:
            try:
                event: AnyEvent = info.decoder.decode(line)
            except (UnicodeDecodeError, RecursionError, *_DECODE_ERRORS) as exc:
                raise _decode_problem(exc) from None
        else:
            event = self._decode(line, seq, t_b, int(v_b), tag_b.decode())
        special = _SPECIAL.get(event.__class__)
        if special is not None or first:
            self._check_special(event, first, stored, tag_b)
        return event

    def _check_seq(self, seq: int) -> None:
        if seq > self.expect_seq and self.report.mode == "salvage":
            # Resynchronise on a valid line ahead of the expected seq. A gap right after skipped
            # bad lines is theirs (one bad line may have swallowed several, e.g. a lost newline);
            # any other gap means lost lines: report it once instead of failing every later line.
            if not self.skipped:
                gap = f"seq jumps from {self.expect_seq - 1} to {seq}: lines missing"
                self.report.problems.append(Problem("seq", self.line_no + 1, self.offset, gap))
            self.report.salvaged = True
            self.expect_seq = seq
            return
        if seq < self.expect_seq:
            raise LineProblem("seq", f"seq {seq} repeats or goes back (expected {self.expect_seq})")
        raise LineProblem("seq", f"seq jumps from {self.expect_seq - 1} to {seq}: lines missing")

    def _check_special(self, event: AnyEvent, first: bool, stored: int, tag_b: bytes) -> None:
        """run_start (first line), sync and run_end lines carry facts about the log to check."""
        if first:
            if not isinstance(event, RunStart):
                raise LineProblem("framing", f"first line is {tag_b.decode()!r}, expected run_start")
            if event.format_major > FORMAT_MAJOR:
                raise NewerFormat(
                    f"log format {event.format_major}.{event.format_minor} is newer than this vrx reads"
                    f" ({FORMAT_MAJOR}.x); upgrade vrx",
                    path=self.report.path,
                    line=1,
                )
            self.report.run_start = event
            self.report.salt = stored
        elif isinstance(event, Sync):
            self._check_chain(event.count, event.sha256, "sync")
            self.report.durable_upto = max(self.report.durable_upto, event.durable_upto)
        elif isinstance(event, RunEnd):
            self._check_chain(event.count, event.sha256, "run_end")
            if event.bytes_before != self.offset:
                raise LineProblem(
                    "hash", f"run_end says {event.bytes_before} bytes precede it, found {self.offset}"
                )

    def _check_chain(self, count: int, digest: str, kind: str) -> None:
        if count != self.expect_seq:
            raise LineProblem("hash", f"{kind} counts {count} lines before it, found {self.expect_seq}")
        if not self.report.salvaged and digest != self.report.sha256.hexdigest():
            raise LineProblem(
                "hash", f"{kind} sha256 does not match the bytes before it: earlier lines changed"
            )

    def _decode(self, line: bytes, seq: int, t: bytes, version: int, tag: str) -> AnyEvent:
        info = self.registry.get(tag)
        try:
            if info is None:
                return self._unknown(line, seq, t, version, tag)
            if version == info.version:
                ev: Event = info.decoder.decode(line)
                return ev
            if version < info.version:
                data = self.registry.upcasters.lift(tag, version, info.version, _raw(line))
                return msgspec.convert(data, info.cls, strict=False)
            try:
                newer: Event = info.decoder.decode(line)
            except msgspec.ValidationError:
                return self._unknown(line, seq, t, version, tag)
            return newer
        except LookupError as exc:
            raise LineProblem("upcast", str(exc)) from None
        except (UnicodeDecodeError, RecursionError, *_DECODE_ERRORS) as exc:
            raise _decode_problem(exc) from None

    def _unknown(self, line: bytes, seq: int, t: bytes, version: int, tag: str) -> UnknownEvent:
        data = {k: v for k, v in _raw(line).items() if k not in _ENVELOPE_KEYS}
        self.report.unknown[tag] += 1
        return UnknownEvent(seq=seq, t=float(t), type=tag, v=version, data=data)

    def accept(self, line: bytes, event: AnyEvent) -> None:
        """Advance the chain past an accepted line."""
        report = self.report
        report.sha256.add_line(line)
        self.offset += len(line) + 1
        seq = self.expect_seq
        self.expect_seq = seq + 1
        self.line_no += 1
        report.lines += 1
        report.last_seq = seq
        report.valid_end = self.offset
        self.skipped = 0
        cls = event.__class__
        report.complete = cls is RunEnd
        if cls is RunEnd:
            report.run_end = event  # type: ignore[assignment]
        elif cls is Resumed:
            report.epochs = event.writer.epoch  # type: ignore[union-attr]

    def skip(self, line_len: int) -> None:
        """Salvage: step over a bad line; seq resynchronises on the next good one."""
        self.offset += line_len + 1
        self.line_no += 1
        self.skipped += 1
        self.report.salvaged = True


_SPECIAL: dict[type[Any], bool] = {RunStart: True, Sync: True, RunEnd: True}


def _decode_problem(exc: BaseException) -> LineProblem:
    """msgspec's errors (and the builtins it raises) as the reader's own problem kinds."""
    if is_invalid_utf8(exc):
        return LineProblem("utf8", "invalid UTF-8")
    if isinstance(exc, RecursionError):
        return LineProblem("json", "nested too deeply")
    return LineProblem("json", str(exc))


def _raw(line: bytes) -> dict[str, Any]:
    data = msgspec.json.decode(line)
    if not isinstance(data, dict):
        raise ValueError("line is not a JSON object")
    return data


def _framing_reason(line: bytes) -> str:
    if not line:
        return "empty line"
    if b"\x00" in line:
        return "NUL bytes (zero-filled block?)"
    return "missing or malformed crc suffix"


#: Damage of these kinds after the durable point may be what a crash or power loss leaves behind.
RESIDUE_KINDS = frozenset({"crc", "framing", "json", "utf8", "too_long"})


def default_registry() -> EventRegistry:
    """What readers decode with when not given a registry: the core kinds, every installed
    plugin's kinds (honouring ``$VRX_LOAD_PLUGINS`` and ``$VRX_PLUGINS_DIR``), and any kind this
    process has emitted. Only kinds nothing installed knows come back as ``UnknownEvent``.
    """
    # Bound late on purpose: discovering plugins needs pluggy and entry points, which the writer
    # (`from vrx_core import Recorder`) must not pay for. hooks/ never imports this module.
    from vrx_core.hooks.manager import installed_registry

    registry = installed_registry().copy()
    for info in process_registry:
        if info.tag not in registry:
            registry.register(info.cls)
    return registry


class LogReader:
    """Iterate the events of one log; ``report`` describes what was found.

    >>> reader = LogReader("runs/demo/events.jsonl")
    >>> for event in reader: ...
    >>> reader.report.complete
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Mode = "recover",
        registry: EventRegistry | None = None,
        max_line: int = MAX_LINE_BYTES,
    ) -> None:
        p = RunDir.log_path(path)
        self.path = p
        self.mode = mode
        self.max_line = max_line
        self.registry = registry if registry is not None else default_registry()
        self.report = ReadReport(path=p, mode=mode)

    def __iter__(self) -> Iterator[AnyEvent]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NoSuchRun("no such event log", path=self.path) from None
        except OSError as exc:
            raise NoSuchRun(f"cannot open event log: {exc.strerror}", path=self.path) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise NoSuchRun("is not a regular file, not an event log", path=self.path)
            for item in self._read(fd):
                if type(item) is Run:
                    # A run of the batch path: accepted once the consumer has taken its events
                    # (the ones it took, if it stops early); one level of delegation per event.
                    it = iter(item.events)
                    try:
                        yield from it
                    finally:
                        item.accept(len(item.events) - operator.length_hint(it))
                else:
                    yield item  # type: ignore[misc]  # an event of the per-line path, accepted
        finally:
            os.close(fd)

    def _read(self, fd: int) -> Iterator[AnyEvent | Run]:
        checker = LineChecker(self.registry, self.report, max_line=self.max_line)
        yield from read_chunks(
            fd, checker, Batch.of(self.registry), lambda items: self._check_lines(fd, checker, items)
        )
        if self.mode == "salvage" and self.report.problems:
            self.report.complete = False

    def _check_lines(
        self, fd: int, checker: LineChecker, items: Iterable[tuple[int, bytes | None, int]]
    ) -> Generator[AnyEvent, None, bool]:
        """The per-line path over ``(offset, line, length)`` items (see :func:`_iter_lines`): check,
        accept and yield each line, or do what the mode says with a bad one. Returns True when
        reading must stop (crash residue, or the end of the file)."""
        report = self.report
        for offset, line, length in items:
            if length < 0:
                report.torn_tail_bytes = -1 - length
                return True
            try:
                if line is None:
                    raise LineProblem(
                        "too_long", f"line of {length} bytes exceeds the {self.max_line}-byte limit"
                    )
                event = checker.check(line)
            except LineProblem as lp:
                problem = Problem(lp.kind, checker.line_no + 1, offset, lp.message)
                if self.mode == "salvage":
                    report.problems.append(problem)
                    checker.skip(length)
                    continue
                if self.mode == "recover" and is_residue(fd, problem, report):
                    report.residue = problem
                    report.complete = False
                    return True
                report.problems.append(problem)
                raise CorruptLog(
                    f"{lp.kind}: {lp.message}", path=self.path, line=problem.line, offset=offset
                ) from None
            checker.accept(line, event)
            yield event
        return False


def _durable_point(fd: int, start: int, report: ReadReport) -> int:
    """Largest offset vouched durable by any valid sync line at or after ``start``.

    A sync line is written only after the fsync of everything before it, so it vouches for its
    own start as well as for its ``durable_upto`` (the two are equal unless bytes were inserted).
    """
    best = report.durable_upto
    for offset, line, _ in _iter_lines(fd, start, MAX_LINE_BYTES):
        if line is None:
            continue
        parts = split_crc(line)
        if parts is None or zlib.crc32(parts[0], report.salt) != parts[1]:
            continue
        env = ENVELOPE_RE.match(parts[0])
        if env is None:
            continue
        if env.group(4) == b"sync":
            try:
                sync = msgspec.json.decode(line, type=Sync, strict=False)
            except _DECODE_ERRORS:
                continue
            best = max(best, sync.durable_upto, offset)
    return best


def durable_point(path: str | os.PathLike[str], report: ReadReport) -> int:
    """Largest offset vouched durable by any CRC-valid sync line of the whole log."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _durable_point(fd, 0, report)
    finally:
        os.close(fd)


def residue_at(problem: Problem, durable: int) -> bool:
    """Crash residue: torn-write damage at or past the durable point. Line 1 is fsynced at creation."""
    return problem.kind in RESIDUE_KINDS and problem.line > 1 and problem.offset >= durable


def is_residue(fd: int, problem: Problem, report: ReadReport) -> bool:
    """``residue_at`` with the durable point found by looking past the damage in ``fd``."""
    return residue_at(problem, _durable_point(fd, problem.offset, report))


def read_events(
    path: str | os.PathLike[str],
    *,
    mode: Mode = "recover",
    registry: EventRegistry | None = None,
) -> Iterator[AnyEvent]:
    """Iterate the typed events of a log (a run directory or its ``events.jsonl``); a multi-rank
    run's per-rank logs merged by ``(t, rank, seq)``, each event carrying its ``rank``.

    Unknown kinds come through as :class:`UnknownEvent`. In the default ``recover`` mode a crash's
    residue ends the iteration quietly; corruption raises :class:`CorruptLog` with its location.
    Use :class:`LogReader` to get the report as well.
    """
    run = RunDir.of(path)
    if not run.log.exists() and run.ranks() and not Path(path).is_file():
        from vrx_core.log.merge import RunReader  # a multi-rank run: its ranks merged on read

        return iter(RunReader(run.root, mode=mode, registry=registry))
    return iter(LogReader(path, mode=mode, registry=registry))
