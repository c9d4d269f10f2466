"""Reading ``events.jsonl`` a chunk at a time: its lines, and the reader's batch path.

:class:`~vrx_core.log.reader.LogReader` reads the log in chunks of 1 MiB. Runs of plain lines
(no line of the writer's own kinds, every kind known at its current version) are checked by
:class:`Batch` a run at a time, with a few calls over the whole run instead of several per line;
everything else (the first line, the writer's ``sync``/``run_end``/... lines, any run the batch
path does not vouch for, damage) goes through the reader's per-line path, which finds and reports
problems exactly as before. Nothing here knows the reader: it is handed the checker and the
per-line path.
"""

from __future__ import annotations

import functools
import operator
import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Final

import msgspec

from vrx_core.events import WRITER_KINDS, AnyEvent, Event, EventRegistry, KindInfo
from vrx_core.log._scan import plain_run
from vrx_core.log.framing import ENVELOPE_RE

CHUNK: Final = 1 << 20

#: ``(offset, line, length)`` items of the per-line path; see :func:`iter_lines`.
Item = tuple[int, bytes | None, int]
#: The reader's per-line path over some items; returns True when reading must stop.
CheckLines = Callable[[Iterable[Item]], Generator[AnyEvent, None, bool]]


def iter_lines(fd: int, start: int, max_line: int) -> Iterator[Item]:
    """Yield (offset, line, length) for each ``\\n``-terminated line from ``start``.

    A line longer than ``max_line`` is yielded as ``None`` without being buffered, so a huge line
    costs no memory. The last yield is ``(offset, None, -1 - n)``: ``n`` unterminated bytes remain.
    """
    pos = start  # file offset of buf[0]
    buf = b""
    over: int | None = None  # start of an over-long line being skipped
    while True:
        chunk = os.pread(fd, CHUNK, pos + len(buf))
        if not chunk:
            break
        buf += chunk
        i = 0
        while (nl := buf.find(b"\n", i)) >= 0:
            if over is not None:
                yield over, None, pos + nl - over
                over = None
            else:
                yield pos + i, buf[i:nl], nl - i
            i = nl + 1
        pos += i
        buf = buf[i:]
        if over is None and len(buf) > max_line:
            over = pos
        if over is not None:
            pos += len(buf)
            buf = b""
    if over is not None:
        yield over, None, -1 - (pos - over)
    else:
        yield pos, None, -1 - len(buf)


def read_chunks(
    fd: int, checker: Any, batch: Batch | None, check_lines: CheckLines
) -> Iterator[AnyEvent | Run]:
    """The lines of the log, in order: a :class:`Run` for each run the batch path read (accept it
    once its events are consumed), the events of the per-line path (``check_lines``) one by one.

    Ends at the end of the file (setting the torn tail) or where ``check_lines`` says to stop.
    ``checker`` is the reader's :class:`~vrx_core.log.reader.LineChecker`.
    """
    max_line = checker.max_line
    pos = 0  # file offset of buf[0]: every line before it has been read
    buf = b""
    while True:
        chunk = os.pread(fd, CHUNK, pos + len(buf))
        if not chunk:
            checker.report.torn_tail_bytes = len(buf)
            return
        buf = buf + chunk if buf else chunk
        end = buf.rfind(b"\n") + 1
        if end:
            if (yield from _chunk(checker, batch, check_lines, buf=buf, end=end, pos=pos)):
                return
            pos += end
            buf = buf[end:]
        if len(buf) > max_line:
            # A line over the limit: the per-line reader from here on, which never buffers one.
            yield from check_lines(iter_lines(fd, pos, max_line))
            return


def _chunk(
    checker: Any, batch: Batch | None, check_lines: CheckLines, *, buf: bytes, end: int, pos: int
) -> Generator[AnyEvent | Run, None, bool]:
    """The complete lines ``buf[:end]`` (``buf[0]`` at file offset ``pos``): runs the batch path
    vouches for as :class:`Run`, anything else line by line. True when reading must stop."""
    report = checker.report
    a = 0
    while a < end:
        if batch is None:
            return (yield from check_lines(_lines_of(buf, a, end, pos)))
        # Until line 0 (run_start, the salt) is in, the per-line path reads.
        m = batch.run_end(buf, a, end, checker) if report.run_start is not None else a
        if m > a:
            lines = buf[a : m - 1].split(b"\n")
            events = batch.events(lines, checker, buf=buf, a=a, b=m)
            if events is None:
                if (yield from check_lines(_lines_of(buf, a, m, pos))):
                    return True
            else:
                yield Run(events, checker, buf=buf, a=a, b=m, lines=lines)
            a = m
        if a < end:  # the line that ends the run (a writer's line, say): the per-line path
            b = buf.index(b"\n", a) + 1
            if (yield from check_lines(_lines_of(buf, a, b, pos))):
                return True
            a = b
    return False


def _lines_of(buf: bytes, a: int, b: int, pos: int) -> Iterator[Item]:
    """Items of the complete lines ``buf[a:b]`` (``b`` just past a ``\\n``)."""
    for line in buf[a : b - 1].split(b"\n"):
        yield pos + a, line, len(line)
        a += len(line) + 1


class Run:
    """The events of a run of plain lines ``buf[a:b]`` that the batch path checked and decoded."""

    __slots__ = ("a", "b", "buf", "checker", "events", "lines")

    def __init__(
        self, events: list[AnyEvent], checker: Any, *, buf: bytes, a: int, b: int, lines: list[bytes]
    ) -> None:
        self.events = events
        self.checker = checker
        self.buf = buf
        self.a = a
        self.b = b
        self.lines = lines

    def accept(self, n: int) -> None:
        """``LineChecker.accept`` for the run's first ``n`` lines at once."""
        if n <= 0:
            return
        checker = self.checker
        b = self.b if n == len(self.lines) else self.a + sum(map(len, self.lines[:n])) + n
        report = checker.report
        report.sha256.update(self.buf[self.a : b])
        checker.offset += b - self.a
        checker.expect_seq += n
        checker.line_no += n
        checker.skipped = 0
        report.lines += n
        report.last_seq = checker.expect_seq - 1
        report.valid_end = checker.offset
        report.complete = False  # a plain line is never run_end


#: ENVELOPE_RE, which plain_run restates in C; if it ever changes, the batch path turns itself off.
_ENVELOPE_SOURCE = (
    rb'\{"seq":(0|[1-9][0-9]{0,18}),"t":(-?[0-9][0-9.eE+-]{0,30}),"v":([1-9][0-9]{0,5}),'
    rb'"type":"([a-z][a-z0-9_.]{0,127})"(?:[,}]|$)'  # $: a kind whose fields are all defaults
)
_BATCH_KEY = re.compile(rb'[1-9][0-9]{0,5},"type":"[a-z][a-z0-9_.]{0,127}')


class Batch:
    """The reader's fast path: a run of plain lines checked with a few calls over the whole run.

    It takes a run only if ``LineChecker.check`` would accept every line of it and return the
    same events, and otherwise says no: the per-line path then reads the run, and finds and
    reports the problem exactly as before. For each line, as ``check`` does:

    * the envelope, the seq and the CRC: :func:`~vrx_core.log._scan.plain_run` (C) finds how far
      the run goes: lines whose envelope matches ENVELOPE_RE with the kind and version one of the
      plain kinds' and the next seq, that end with ``,"crc":"`` + 8 lowercase hex digits + ``"}``
      (split_crc's framing check), and whose digits are the salted CRC-32 of ``line[:-18]``;
    * the event: the kind's decoder (or one over all plain kinds, which picks the same kind: msgspec
      checks every ``type`` key of a line) decodes the line (``decode_lines`` over the run, one
      value per line).
    """

    def __init__(self, keys: frozenset[bytes], infos: dict[bytes, KindInfo], union: Any) -> None:
        self.keys = keys  # b'V,"type":"TAG' of every plain kind
        self.infos = infos  # the same keys -> kind
        self.union = union

    @staticmethod
    def of(registry: EventRegistry) -> Batch | None:
        """The batch path for the kinds of ``registry``, or None (then every line goes line by line)."""
        if ENVELOPE_RE.pattern != _ENVELOPE_SOURCE:
            return None
        infos = {}
        for info in registry:
            key = b'%d,"type":"%s' % (info.version, info.tag.encode())
            if info.tag not in WRITER_KINDS and _BATCH_KEY.fullmatch(key):
                infos[key] = info
        if not infos:
            return None
        union = _union_decoder(tuple(info.cls for _, info in sorted(infos.items())))
        return None if union is None else Batch(frozenset(infos), infos, union)

    def run_end(self, buf: bytes, a: int, end: int, checker: Any) -> int:
        """End of the run of plain lines from ``a``: the start of the first line in ``buf[a:end]``
        that is not one, else ``end``."""
        return plain_run(buf, a, end, self.keys, checker.report.salt, checker.expect_seq)

    def events(
        self, lines: list[bytes], checker: Any, *, buf: bytes, a: int, b: int
    ) -> list[AnyEvent] | None:
        """The events of a run's ``lines`` (``buf[a:b]``), or None if any of them needs the
        per-line path."""
        n = len(lines)
        if b - a > checker.max_line and max(map(len, lines)) > checker.max_line:
            return None
        # Most runs are of one kind: its own decoder is faster than the one over all plain kinds.
        env = ENVELOPE_RE.match(lines[0])
        info = None if env is None else self.infos.get(b'%s,"type":"%s' % (env.group(3), env.group(4)))
        for decoder in (self.union,) if info is None else (info.decoder, self.union):
            try:  # one call for the run; a line holding two values would show in the count
                events: list[AnyEvent] = decoder.decode_lines(memoryview(buf)[a:b])
            except Exception:  # a line of another kind, or a bad one: the per-line path names it
                continue
            if len(events) == n:
                break
        else:
            return None
        return events  # plain_run checked each envelope's seq, as the per-line path does


@functools.lru_cache(maxsize=64)
def _union_decoder(kinds: tuple[type[Event], ...]) -> Any:
    """The decoder over all plain kinds, built once per set (None if msgspec cannot build it)."""
    try:
        return msgspec.json.Decoder(functools.reduce(operator.or_, kinds), strict=False)
    except (TypeError, ValueError):
        return None
