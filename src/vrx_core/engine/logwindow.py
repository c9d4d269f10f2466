"""The head and the tail window of a log, checked as the reader checks them (``vrx ls``).

:func:`read_log` reads the first line (``run_start``: run id, name, start time; its CRC is the salt
of every other line) and the complete lines of the last :data:`TAIL_WINDOW` bytes, and checks them
as :mod:`vrx_core.log.reader` does: framing, salted CRC, JSON, dense ``seq``, the counts of
``sync`` and ``run_end`` lines and ``run_end.bytes_before``. They give the last event time, the
last value of every metric in the window and the ``run_end`` when it is the last line.

Damage follows the reader's rules (docs/log-format.md): damage in line 1 is corruption; a bad line
in the window is crash residue unless a CRC-valid ``sync`` line after it vouches for the bytes
before it, which makes it corruption; a CRC-valid line with a wrong ``seq`` or count is
corruption; bytes after the last newline are an uncommitted write, never damage. The hash chain
needs every byte: that is ``vrx verify``'s job.
"""

from __future__ import annotations

import binascii
import operator
import os
import re
import sys
import zlib
from array import array
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Final

import msgspec

from vrx_core.codec import parse_nonfinite
from vrx_core.events import RunEnd, RunStart
from vrx_core.log.framing import ENVELOPE_RE, FORMAT_MAJOR, MAX_LINE_BYTES, split_crc

PathLike = str | os.PathLike[str]
#: How much of the end of a log is read (whole lines within it).
TAIL_WINDOW: Final = 16 * 1024

_RUN_START = msgspec.json.Decoder(RunStart, strict=False)
_RUN_END = msgspec.json.Decoder(RunEnd, strict=False)
_LITTLE = sys.byteorder == "little"
_SUFFIX = operator.itemgetter(slice(-18, None))
_SUFFIXES = re.compile(rb'(?:,"crc":"[0-9a-f]{8}"\})*')
_HEX = operator.itemgetter(slice(-10, -2))
_PREFIX = operator.itemgetter(slice(None, -18))


class _Line(msgspec.Struct, gc=False):
    """The fields of every line that the listing needs (other keys are ignored; fewer fields
    decode faster: the time, a sync's count and a metric's step are read from single lines)."""

    seq: int
    type: str
    name: Any = None
    value: Any = None


class _Extra(msgspec.Struct, gc=False):
    """What is read from single lines: the last line's time, a sync's count, a metric's step."""

    t: Any = None
    count: Any = None
    step: Any = None


_LINES = msgspec.json.Decoder(_Line)
_EXTRA = msgspec.json.Decoder(_Extra)
_SYNC_TAG = b',"type":"sync"'


@dataclass(kw_only=True)
class Glance:
    """What the head and the tail window of a log say. ``status`` is ``""`` unless the log alone
    decides it: ``ended``, ``corrupt`` or ``newer``."""

    status: str = ""
    #: Name of the run: ``run_start.name`` when it has one.
    name: str = ""
    #: ``run_end.status`` of an ended run (ok, error, interrupted), else None.
    end_status: str | None = None
    run_id: str | None = None
    start: float | None = None
    #: ``run_end``'s time, for an ended run.
    end: float | None = None
    #: Time of the last valid line read.
    last_t: float | None = None
    #: Committed lines up to the last valid one (its seq + 1).
    lines: int = 0
    log_bytes: int = 0
    #: Last value of every metric in the tail window (non-finite as floats).
    metrics: dict[str, float] = field(default_factory=dict)
    #: Step of the last metric event in the tail window.
    step: int | None = None
    #: Why the status is what it is (the writer's liveness, the run_end's error, ...).
    why: str = ""
    #: The damage found, ``FILE[:LINE] (byte N): kind: message`` (corrupt, or crash residue).
    problem: str | None = None
    #: Bytes after the last newline (an uncommitted write).
    torn_tail_bytes: int = 0


def read_log(fd: int, info: Glance, log: PathLike, window: int) -> None:
    size = info.log_bytes
    head = os.pread(fd, min(size, window), 0)
    nl = head.find(b"\n")
    if nl < 0 and size > len(head):
        head = os.pread(fd, min(size, MAX_LINE_BYTES + 1), 0)
        nl = head.find(b"\n")
    if nl < 0:
        if size > MAX_LINE_BYTES:
            _corrupt(
                info,
                log,
                1,
                0,
                kind="too_long",
                message=f"first line exceeds the {MAX_LINE_BYTES}-byte limit",
            )
        else:
            info.torn_tail_bytes = size  # not even line 1 is committed: nothing to read yet
        return
    salt = _check_first(info, log, head[:nl])
    if salt is None:
        return
    head_end = nl + 1
    if size <= len(head):
        buf, base = head[head_end:], head_end
    else:
        buf, base = _tail(fd, size, head_end, window)
    end = buf.rfind(b"\n") + 1
    info.torn_tail_bytes = len(buf) - end
    if end:
        _check_window(info, log, memoryview(buf)[:end], base=base, salt=salt, first=base == head_end)


def _tail(fd: int, size: int, head_end: int, window: int) -> tuple[bytes, int]:
    """The last ``window`` bytes after line 1 from a line start, and their file offset; more (up to
    the line limit) when they hold no complete line."""
    for limit in (window, MAX_LINE_BYTES + window):
        pos = size - limit
        if pos <= head_end:
            return os.pread(fd, size - head_end, head_end), head_end
        # One byte early: a newline there means the window starts at a line start.
        buf = os.pread(fd, limit + 1, pos - 1)
        cut = buf.find(b"\n") + 1
        if cut and (buf.find(b"\n", cut) >= 0 or limit > window):
            return buf[cut:], pos - 1 + cut
    return buf, pos - 1


def _check_first(info: Glance, log: PathLike, line: bytes) -> int | None:
    """Check line 1 (``run_start``) and fill in what it says; return the salt, or None."""
    parts = split_crc(line)
    if parts is None:
        _corrupt(info, log, 1, 0, kind="framing", message="missing or malformed crc suffix")
        return None
    if zlib.crc32(parts[0], 0) != parts[1]:
        _corrupt(info, log, 1, 0, kind="crc", message=f"checksum mismatch (stored {parts[1]:08x})")
        return None
    env = ENVELOPE_RE.match(parts[0])
    if env is None or env.group(4) != b"run_start" or env.group(1) != b"0":
        _corrupt(info, log, 1, 0, kind="framing", message="first line is not a run_start with seq 0")
        return None
    try:
        start = _RUN_START.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError) as exc:
        _corrupt(info, log, 1, 0, kind="json", message=str(exc))
        return None
    info.run_id, info.start, info.last_t, info.lines = start.run_id, start.t, start.t, 1
    info.name = start.name or info.name
    if start.format_major > FORMAT_MAJOR:
        info.status = "newer"
        info.why = (
            f"log format {start.format_major}.{start.format_minor} is newer than this vrx reads"
            f" ({FORMAT_MAJOR}.x); upgrade vrx"
        )
        return None
    return parts[1]


def _check_window(info: Glance, log: PathLike, buf: memoryview, *, base: int, salt: int, first: bool) -> None:
    """The complete lines of the tail window ``buf`` (file offset ``base``, ending with a newline).

    ``first``: the window starts right after line 1, so its first line must have seq 1.
    """
    data = bytes(buf)
    lines = data[:-1].split(b"\n")
    bad, kind, message = _first_bad_crc(lines, salt)
    good_end = sum(map(len, lines[:bad])) + bad  # bytes of the lines before the bad one
    try:
        rows: list[_Line] = _LINES.decode_lines(buf[:good_end]) if bad else []
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        rows, bad, kind, message = _decode_each(lines, bad)
        good_end = sum(map(len, lines[:bad])) + bad
    if len(rows) != bad:  # a line that holds two JSON values, say
        rows, bad, kind, message = _decode_each(lines, bad)
        good_end = sum(map(len, lines[:bad])) + bad
    s0 = 1 if first else (rows[0].seq if rows else None)
    seqs = [r.seq for r in rows]
    if s0 is not None and seqs != list(range(s0, s0 + len(rows))):
        i = next(i for i, s in enumerate(seqs) if s != s0 + i)
        off = base + sum(map(len, lines[:i])) + i
        _corrupt(info, log, s0 + i + 1, off, kind="seq", message=f"seq {seqs[i]} where {s0 + i} was expected")
        return
    if _SYNC_TAG in data and not _syncs_count(info, log, data, good_end, base):
        return
    if bad < len(lines):
        off = base + good_end
        line_no = rows[-1].seq + 2 if rows else (2 if first else None)
        if _sync_after(lines, bad, salt):
            _corrupt(
                info,
                log,
                line_no,
                off,
                kind=kind,
                message=message + " (before a valid sync line: not crash residue)",
            )
            return
        info.problem = _where(log, line_no, off) + f": {kind}: {message} [crash residue]"
    if not rows:
        return
    last = rows[-1]
    t = _EXTRA.decode(lines[len(rows) - 1]).t
    info.last_t, info.lines = (float(t) if isinstance(t, int | float) else None), last.seq + 1
    _metrics(info, rows, lines)
    if last.type == "run_end":
        _ended(info, log, lines[len(rows) - 1], base + good_end - len(lines[len(rows) - 1]) - 1)


def _first_bad_crc(lines: list[bytes], salt: int) -> tuple[int, str, str]:
    """Index of the first line whose framing or salted CRC fails (``len(lines)`` if none), its
    problem kind and message. All lines are checked with a few calls; a failure is then located
    line by line."""
    # Every line ends with the CRC suffix (the lines' last 18 bytes, joined, match it n times over),
    # and the stored CRCs equal the computed ones (all lines at once, as bytes).
    if _SUFFIXES.fullmatch(b"".join(map(_SUFFIX, lines))) is not None:
        crcs = array("I", map(zlib.crc32, map(_PREFIX, lines), repeat(salt)))
        if _LITTLE:
            crcs.byteswap()
        if crcs.tobytes() == binascii.unhexlify(b"".join(map(_HEX, lines))):
            return len(lines), "", ""
    for i, line in enumerate(lines):
        parts = split_crc(line)
        if parts is None:
            why = "NUL bytes (zero-filled block?)" if b"\x00" in line else "missing or malformed crc suffix"
            return i, "framing", "empty line" if not line else why
        if zlib.crc32(parts[0], salt) != parts[1]:
            return i, "crc", f"checksum mismatch (stored {parts[1]:08x}); damaged or from another run"
        if ENVELOPE_RE.match(parts[0]) is None:
            return i, "framing", "line does not start with the {seq, t, v, type} envelope"
    return len(lines), "", ""


def _decode_each(lines: list[bytes], bad: int) -> tuple[list[_Line], int, str, str]:
    """Decode the lines before ``bad`` one by one: the rows up to the first that fails."""
    rows = []
    for i, line in enumerate(lines[:bad]):
        try:
            rows.append(_LINES.decode(line))
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError) as exc:
            return rows, i, "json", str(exc)
    return rows, bad, "", ""


def _sync_after(lines: list[bytes], bad: int, salt: int) -> bool:
    """True when a CRC-valid ``sync`` line follows line ``bad``: it vouches for the bytes before it."""
    for line in lines[bad + 1 :]:
        if b'"type":"sync"' not in line:
            continue
        parts = split_crc(line)
        if parts is None or zlib.crc32(parts[0], salt) != parts[1]:
            continue
        env = ENVELOPE_RE.match(parts[0])
        if env is not None and env.group(4) == b"sync":
            return True
    return False


def _syncs_count(info: Glance, log: PathLike, data: bytes, end: int, base: int) -> bool:
    """Each ``sync`` line in ``data[:end]`` counts the lines before it (its seq); False (and the
    run marked corrupt) when one does not. Found by their tag: there are few."""
    at = data.find(_SYNC_TAG, 0, end)
    while at >= 0:
        start = data.rfind(b"\n", 0, at) + 1
        stop = data.find(b"\n", at)
        line = data[start:stop]
        env = ENVELOPE_RE.match(line)
        if env is not None and env.group(4) == b"sync":
            count, seq = _EXTRA.decode(line).count, int(env.group(1))
            if count != seq:
                message = f"sync counts {count} lines before it, found {seq}"
                _corrupt(info, log, seq + 1, base + start, kind="hash", message=message)
                return False
        at = data.find(_SYNC_TAG, stop, end)
    return True


def _metrics(info: Glance, rows: list[_Line], lines: list[bytes]) -> None:
    """The last value of each metric (one comprehension over the rows: there are thousands), and
    the step of the last metric event."""
    last = {r.name: r.value for r in rows if r.type == "metric"}
    metrics: dict[str, float] = {}
    for name, value in sorted((k, v) for k, v in last.items() if type(k) is str):
        number = parse_nonfinite(value) if isinstance(value, str) else value
        if isinstance(number, int | float) and not isinstance(number, bool):
            metrics[name] = float(number)
    info.metrics = metrics
    for i in range(len(rows) - 1, -1, -1):
        if rows[i].type == "metric":
            step = _EXTRA.decode(lines[i]).step
            info.step = step if type(step) is int else None
            return


def _ended(info: Glance, log: PathLike, line: bytes, offset: int) -> None:
    try:
        end = _RUN_END.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError) as exc:
        _corrupt(info, log, info.lines, offset, kind="json", message=str(exc))
        return
    if end.count != end.seq or end.bytes_before != offset:
        _corrupt(
            info,
            log,
            info.lines,
            offset,
            kind="hash",
            message=f"run_end says {end.count} lines and {end.bytes_before} bytes precede it, found"
            f" {end.seq} and {offset}",
        )
        return
    info.status, info.end_status, info.end = "ended", end.status, end.t
    info.why = end.error or ""


def _where(log: PathLike, line: int | None, offset: int) -> str:
    return f"{log}{'' if line is None else f':{line}'} (byte {offset})"


def _corrupt(info: Glance, log: PathLike, line: int | None, offset: int, *, kind: str, message: str) -> None:
    info.status = "corrupt"
    info.problem = f"{_where(log, line, offset)}: {kind}: {message}"
    info.why = "the log is damaged (vrx verify lists every problem)"


__all__ = ["TAIL_WINDOW", "Glance", "read_log"]
