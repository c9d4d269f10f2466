"""Damaged logs: detection with the right line, only vrx errors, and residue versus corruption.

RELIABILITY §4 rows 3-6 and 12, §5.3. Damage before the durable point is corruption (strict and
recover readers raise CorruptLog, verify says CORRUPT, exit 65); damage after the last durable
point (the last valid sync line) is crash residue (recover stops there quietly, verify says
INCOMPLETE, exit 3). A closed log's final sync line vouches for everything but itself and run_end.
"""

from __future__ import annotations

import contextlib
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from _log_harness import assert_verdict, line_spans, read_all, sample_events, seqs, write_log
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vrx_core.engine.verify import verify_log
from vrx_core.errors import CorruptLog, ExitCode, VrxError
from vrx_core.events import Metric, Sync
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import Recorder

FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


def _closed_log(run: Path) -> bytes:
    """A finished log; close() makes its last two lines a sync line and run_end."""
    rec = Recorder(run, fsync_every_n=4)
    for ev in sample_events(18, big_every=8, big_size=400):
        rec.emit(ev)
    rec.close()
    return (run / LOG_NAME).read_bytes()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(a closed log, another run's closed log with the same events and seqs)."""
    return _closed_log(tmp_path_factory.mktemp("a")), _closed_log(tmp_path_factory.mktemp("b"))


def _protected_from(data: bytes) -> int:
    """Offset of the final sync line: mutations before it leave the sync and run_end intact."""
    spans = line_spans(data)
    assert b'"type":"sync"' in data[spans[-2][0] : spans[-2][1]]
    assert b'"type":"run_end"' in data[spans[-1][0] :]
    return spans[-2][0]


def _first_diff(old: bytes, new: bytes) -> int:
    n = min(len(old), len(new))
    for i in range(n):
        if old[i] != new[i]:
            return i
    return n


def tail_intact(old: bytes, new: bytes) -> bool:
    """The final sync line survives as a line of its own: it is what makes damage before it
    corruption (a damaged newline right before it merges it into the damaged line)."""
    tail = old[_protected_from(old) :]
    return new != old and new.endswith(tail) and new[: len(new) - len(tail)].endswith(b"\n")


def check_detected(old: bytes, new: bytes) -> None:
    """``new`` differs from ``old`` before the durable point: every reader locates the first
    damaged line, verify says CORRUPT (65) there, and salvage does not raise."""
    assert tail_intact(old, new)
    q = _first_diff(old, new)
    line = new.count(b"\n", 0, q) + 1
    with tempfile.TemporaryDirectory() as d:
        run = Path(d)
        (run / LOG_NAME).write_bytes(new)
        for mode in ("strict", "recover"):
            with pytest.raises(CorruptLog) as info:
                read_all(run / LOG_NAME, mode=mode)
            assert info.value.line == line, (mode, str(info.value))
            assert info.value.exit_code == ExitCode.DATAERR
            assert str(info.value).startswith(f"{run / LOG_NAME}:{line} (byte ")
        verdict = verify_log(run)
        assert verdict.status == "CORRUPT" and verdict.exit_code == 65, verdict.lines()
        assert verdict.corrupt[0].line == line, verdict.lines()
        _, report = read_all(run / LOG_NAME, mode="salvage")
        assert report.salvaged and report.problems[0].line == line
        # Resuming a corrupt log is refused, naming the line.
        with pytest.raises(CorruptLog) as info:
            Recorder(run)
        assert info.value.line == line


@st.composite
def line_and_offset(draw: st.DrawFn, data: bytes) -> int:
    return draw(st.integers(0, _protected_from(data) - 1))


@FAST
@given(data=st.data(), bit=st.integers(0, 7))
def test_log_any_single_bit_flip_is_detected_at_its_line(
    logs: tuple[bytes, bytes], data: st.DataObject, bit: int
) -> None:
    """Flipping any one bit of any line before the final sync line (newlines included, but for
    the one right before that sync line, which would merge it into the damage) is detected by the
    strict and recover readers and by verify at exactly that line."""
    old = logs[0]
    pos = data.draw(line_and_offset(old))
    new = bytearray(old)
    new[pos] ^= 1 << bit
    assume(tail_intact(old, bytes(new)))
    check_detected(old, bytes(new))


@FAST
@given(data=st.data())
def test_log_byte_garbage_is_detected_at_its_first_line(
    logs: tuple[bytes, bytes], data: st.DataObject
) -> None:
    """Overwriting a run of bytes with garbage (NULs, 0xff, random bytes, newlines) is detected at
    the first changed line."""
    old = logs[0]
    limit = _protected_from(old)
    pos = data.draw(st.integers(0, limit - 1))
    garbage = data.draw(
        st.binary(min_size=1, max_size=min(64, limit - pos))
        | st.builds(lambda n: b"\x00" * n, st.integers(1, min(64, limit - pos)))
    )
    new = old[:pos] + garbage + old[pos + len(garbage) :]
    assume(tail_intact(old, new))
    check_detected(old, new)


@FAST
@given(data=st.data())
def test_log_bytes_cut_out_of_the_middle_are_detected(logs: tuple[bytes, bytes], data: st.DataObject) -> None:
    """Deleting a range of bytes in the middle (part of a line, whole lines, across lines) is
    detected at the first changed line: a CRC failure or a seq gap."""
    old = logs[0]
    limit = _protected_from(old)
    a = data.draw(st.integers(0, limit - 1))
    b = data.draw(st.integers(a + 1, limit))
    new = old[:a] + old[b:]
    assume(tail_intact(old, new))
    check_detected(old, new)


@FAST
@given(data=st.data())
def test_log_duplicated_line_is_detected(logs: tuple[bytes, bytes], data: st.DataObject) -> None:
    """A copy of an earlier line inserted at a later line boundary repeats a seq: detected at the
    copy (its CRC is valid, so only the dense-seq rule catches it)."""
    old = logs[0]
    spans = line_spans(old)
    i = data.draw(st.integers(0, len(spans) - 3))
    j = data.draw(st.integers(i + 1, len(spans) - 2))  # insert before line j
    s, e = spans[i]
    new = old[: spans[j][0]] + old[s:e] + old[spans[j][0] :]
    check_detected(old, new)


@FAST
@given(data=st.data())
def test_log_reordered_lines_are_detected(logs: tuple[bytes, bytes], data: st.DataObject) -> None:
    """Swapping two lines (adjacent or not) breaks seq order: detected at the first moved line."""
    old = logs[0]
    spans = line_spans(old)
    i = data.draw(st.integers(0, len(spans) - 4))
    j = data.draw(st.integers(i + 1, len(spans) - 3))
    lines = [old[s:e] for s, e in spans]
    lines[i], lines[j] = lines[j], lines[i]
    check_detected(old, b"".join(lines))


@FAST
@given(data=st.data())
def test_log_lines_spliced_from_another_run_are_detected(
    logs: tuple[bytes, bytes], data: st.DataObject
) -> None:
    """A line (or run of lines) from another run with the same seq replaces the original: the
    run-salted CRC catches it at the first spliced line even though seq and kind match. (A spliced
    run_start is itself valid and re-salts the log: then the first original line after it fails,
    and as no later line can vouch for a durable point, verify can only say "not OK".)"""
    old, other = logs
    spans, ospans = line_spans(old), line_spans(other)
    assert len(spans) == len(ospans)
    i = data.draw(st.integers(0, len(spans) - 3))
    if i == 0:
        k = data.draw(st.integers(1, len(spans) - 2))
        new = other[: ospans[k - 1][1]] + old[spans[k - 1][1] :]
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / LOG_NAME).write_bytes(new)
            with pytest.raises(CorruptLog) as info:
                read_all(Path(d) / LOG_NAME, mode="strict")
            assert info.value.line == k + 1
            verdict = verify_log(Path(d))
            assert verdict.status != "OK"
            assert min(p.line for p in verdict.corrupt + verdict.residue) == k + 1
        return
    k = data.draw(st.integers(1, len(spans) - 2 - i))
    new = old[: spans[i][0]] + other[ospans[i][0] : ospans[i + k - 1][1]] + old[spans[i + k - 1][1] :]
    check_detected(old, new)


def test_log_duplicate_appended_after_run_end_is_corrupt(logs: tuple[bytes, bytes], tmp_path: Path) -> None:
    """A repeated line after run_end is not crash residue (its CRC is valid): CORRUPT at it."""
    old = logs[0]
    spans = line_spans(old)
    (tmp_path / LOG_NAME).write_bytes(old + old[spans[3][0] : spans[3][1]])
    verdict = assert_verdict(tmp_path, "CORRUPT")
    assert verdict.corrupt[0].line == len(spans) + 1
    assert verdict.corrupt[0].kind == "seq"


def test_log_without_crc_a_digit_change_would_pass_json(logs: tuple[bytes, bytes], tmp_path: Path) -> None:
    """Motivation for the CRC (RELIABILITY §4 row 4): a one-digit change keeps the line valid
    JSON of the right shape, and only the checksum tells it from the original."""
    old = logs[0]
    i = old.index(b'"value":') + len(b'"value":')
    digit = next(p for p in range(i, i + 20) if old[p : p + 1].isdigit() and old[p : p + 1] != b"7")
    new = old[:digit] + b"7" + old[digit + 1 :]
    check_detected(old, new)


# -- CRC-valid lines that are still bad ---------------------------------------------------------


def _crafted(prefix_tail: bytes, seq: int, salt: int, kind: str = "metric") -> bytes:
    prefix = b'{"seq":%d,"t":1764071000.5,"v":1,"type":"%s",%s' % (seq, kind.encode(), prefix_tail)
    return b'%s,"crc":"%08x"}\n' % (prefix, zlib.crc32(prefix, salt))


CRAFTED = {
    "utf8-ff": (b'"name":"a\xffb","value":1.0', "utf8"),
    "utf8-overlong": (b'"name":"a\xc0\xafb","value":1.0', "utf8"),
    "utf8-cesu-surrogate": (b'"name":"\xed\xa0\x80","value":1.0', "utf8"),
    "utf8-truncated": (b'"name":"\xe2\x82","value":1.0', "utf8"),
    "deep-nesting": (b'"name":"a","value":' + b"[" * 5000 + b"]" * 5000, "json"),
    "wrong-type": (b'"name":"a","value":{"x":1}', "json"),
    "missing-field": (b'"name":"a"', "json"),
    "nan-literal": (b'"name":"a","value":NaN', "json"),
    "trailing-garbage": (b'"name":"a","value":1.0},{"x":1', "json"),
    "not-an-object-tail": (b'"name":"a","value":1.0,]', "json"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_log_crc_valid_but_undecodable_lines_are_corrupt_log_errors(
    logs: tuple[bytes, bytes], tmp_path: Path, case: str
) -> None:
    """A line whose CRC is right but whose content does not decode (invalid UTF-8, 5000-deep
    nesting, wrong field types, NaN literals, broken JSON) raises CorruptLog naming the line and
    the kind of damage, never a raw UnicodeDecodeError, RecursionError or msgspec error."""
    old = logs[0]
    spans = line_spans(old)
    tail, kind = CRAFTED[case]
    i = 5
    new = old[: spans[i][0]] + _crafted(tail, i, _salt_of(old, tmp_path / "probe")) + old[spans[i][1] :]
    run = tmp_path / "run"
    run.mkdir()
    (run / LOG_NAME).write_bytes(new)
    with pytest.raises(CorruptLog) as info:
        read_all(run / LOG_NAME, mode="strict")
    assert info.value.line == i + 1
    assert info.value.message.startswith(f"{kind}:"), str(info.value)
    verdict = assert_verdict(run, "CORRUPT")
    assert verdict.corrupt[0].line == i + 1 and verdict.corrupt[0].kind == kind


def _salt_of(data: bytes, run: Path) -> int:
    """The CRC salt of a log: the CRC of its run_start line."""
    run.mkdir(parents=True, exist_ok=True)
    (run / LOG_NAME).write_bytes(data)
    return read_all(run / LOG_NAME, mode="strict")[1].salt


# -- nothing but vrx errors ----------------------------------------------------------------------

mutation = st.sampled_from(["flip", "garbage", "delete", "insert", "truncate", "dup"])


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(data=st.data(), ops=st.lists(mutation, min_size=1, max_size=4))
def test_log_arbitrary_damage_raises_only_vrx_errors(
    logs: tuple[bytes, bytes], data: st.DataObject, ops: list[str]
) -> None:
    """Any combination of damage anywhere (tail included) makes every reader mode, verify and a
    resuming writer either succeed or raise a VrxError subclass; salvage and verify never raise."""
    buf = bytearray(logs[0])
    for op in ops:
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "garbage":
            g = data.draw(st.binary(min_size=1, max_size=40))
            buf[pos : pos + len(g)] = g
        elif op == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 300))]
        elif op == "insert":
            buf[pos:pos] = data.draw(
                st.binary(min_size=1, max_size=40) | st.just(b"\n") | st.just(b"\x00" * 512)
            )
        elif op == "truncate":
            del buf[pos:]
        elif op == "dup":
            end = buf.find(b"\n", pos)
            if end >= 0:
                buf[end + 1 : end + 1] = buf[pos : end + 1]
    with tempfile.TemporaryDirectory() as d:
        run = Path(d)
        (run / LOG_NAME).write_bytes(bytes(buf))
        for mode in ("strict", "recover"):
            with contextlib.suppress(VrxError):
                read_all(run / LOG_NAME, mode=mode)
        read_all(run / LOG_NAME, mode="salvage")
        verdict = verify_log(run)
        assert verdict.exit_code in (0, 3, 65)
        if verdict.status == "OK":
            assert bytes(buf) == logs[0]
        with contextlib.suppress(VrxError):
            Recorder(run, durability="os").close()


# -- residue after the durable point versus corruption before it ---------------------------------


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    """A crashed log (no run_end) with sync lines, and the durable point of its last sync line."""
    run = tmp_path_factory.mktemp("crashed")
    log = write_log(run, [*sample_events(13), Metric(name="last", value=2.0)], close=False, fsync_every_n=4)
    data = log.read_bytes()
    events, _ = read_all(log, mode="strict")
    syncs = [e for e in events if isinstance(e, Sync)]
    assert len(syncs) >= 2 and not isinstance(events[-1], Sync)
    return data, syncs[-1].durable_upto


def _garble_line(data: bytes, line_index: int, how: Callable[[bytes], bytes]) -> bytes:
    s, e = line_spans(data)[line_index]
    return data[:s] + how(data[s:e]) + data[e:]


def _flip(line: bytes) -> bytes:
    return line[:10] + bytes([line[10] ^ 0x04]) + line[11:]


def _zero(line: bytes) -> bytes:
    return b"\x00" * (len(line) - 1) + b"\n"


@pytest.mark.parametrize("how", [_flip, _zero], ids=["bitflip", "zeroed"])
def test_log_damage_after_the_last_durable_point_is_crash_residue(
    crashed: tuple[bytes, int], tmp_path: Path, how: Callable[[bytes], bytes]
) -> None:
    """In a log without run_end, damage to any line starting at or after the last sync line's
    durable point is crash residue: recover returns every line before it and stops without
    raising, verify says INCOMPLETE (3), and a resumed writer cuts from there (keeping a copy)
    and continues to a log that verifies OK. Strict mode still reports it."""
    data, durable = crashed
    spans = line_spans(data)
    after = [i for i, (s, _) in enumerate(spans) if s >= durable]
    assert len(after) >= 2
    for i in after:
        run = tmp_path / f"{how.__name__}{i}"
        run.mkdir()
        new = _garble_line(data, i, how)
        (run / LOG_NAME).write_bytes(new)
        events, report = read_all(run / LOG_NAME)
        assert seqs(events) == list(range(i))
        assert report.residue is not None and report.residue.line == i + 1
        assert report.valid_end == spans[i][0]
        with pytest.raises(CorruptLog) as info:
            read_all(run / LOG_NAME, mode="strict")
        assert info.value.line == i + 1
        verdict = assert_verdict(run, "INCOMPLETE")
        assert [p.line for p in verdict.residue][:1] == [i + 1] and not verdict.corrupt
        with Recorder(run) as rec:
            rec.emit(Metric(name="after", value=1.0))
        assert (run / f"{LOG_NAME}.torn-{spans[i][0]}").read_bytes() == new[spans[i][0] :]
        assert_verdict(run, "OK")


@pytest.mark.parametrize("how", [_flip, _zero], ids=["bitflip", "zeroed"])
def test_log_damage_before_the_last_durable_point_is_corruption(
    crashed: tuple[bytes, int], tmp_path: Path, how: Callable[[bytes], bytes]
) -> None:
    """The same damage to any line that ends before the last durable point is corruption, even
    in a log without run_end: recover raises CorruptLog at the line, verify says CORRUPT (65), and
    a writer refuses to resume the log."""
    data, durable = crashed
    spans = line_spans(data)
    before = [i for i, (_, e) in enumerate(spans) if e <= durable]
    assert len(before) >= 5
    for i in before:
        run = tmp_path / f"{how.__name__}{i}"
        run.mkdir()
        (run / LOG_NAME).write_bytes(_garble_line(data, i, how))
        with pytest.raises(CorruptLog) as info:
            read_all(run / LOG_NAME)
        assert info.value.line == i + 1
        verdict = assert_verdict(run, "CORRUPT")
        assert verdict.corrupt[0].line == i + 1
        with pytest.raises(CorruptLog):
            Recorder(run)
        assert not (run / "writer.lock").exists()


def test_log_a_later_valid_sync_line_turns_earlier_damage_into_corruption(
    crashed: tuple[bytes, int], tmp_path: Path
) -> None:
    """The durable point is looked for past the damage (power loss can keep later pages): damage
    followed by a valid sync line that vouches for it is corruption in recover mode."""
    data, durable = crashed
    spans = line_spans(data)
    i = next(i for i, (s, _) in enumerate(spans) if s >= durable) - 2  # the line before the last sync
    (tmp_path / LOG_NAME).write_bytes(_garble_line(data, i, _flip))
    with pytest.raises(CorruptLog) as info:
        list(LogReader(tmp_path / LOG_NAME, mode="recover"))
    assert info.value.line == i + 1
    assert_verdict(tmp_path, "CORRUPT")


def test_log_seq_gap_lists_one_problem_in_verify(logs: tuple[bytes, bytes], tmp_path: Path) -> None:
    """A deleted line shows up in verify as one seq problem at the line after the gap (plus the
    run_end byte count it invalidates), not as a cascade over every later line, and salvage
    still returns every line after the gap but that run_end."""
    old = logs[0]
    spans = line_spans(old)
    new = old[: spans[4][0]] + old[spans[5][0] :]
    (tmp_path / LOG_NAME).write_bytes(new)
    verdict = assert_verdict(tmp_path, "CORRUPT")
    assert verdict.corrupt[0].line == 5 and verdict.corrupt[0].kind == "seq"
    assert len(verdict.corrupt) <= 2, verdict.lines()
    events, report = read_all(tmp_path / LOG_NAME, mode="salvage")
    assert seqs(events) == [s for s in range(len(spans) - 1) if s != 4]
    assert report.salvaged and not report.complete


def test_log_closed_log_ends_with_a_sync_line_that_vouches_for_everything(tmp_path: Path) -> None:
    """close() fsyncs and writes a sync line before run_end (run_end is written before its own
    fsync, so only the sync line proves durability): damage to any line before that sync line is
    CORRUPT, damage to the final sync line or run_end is what a power cut during close leaves,
    INCOMPLETE."""
    log = write_log(tmp_path / "src", sample_events(8))
    data = log.read_bytes()
    events, _ = read_all(log, mode="strict")
    assert isinstance(events[-2], Sync) and events[-2].durable_upto == line_spans(data)[-2][0]
    n = len(events)
    for i in range(n):
        run = tmp_path / f"l{i}"
        run.mkdir()
        (run / LOG_NAME).write_bytes(_garble_line(data, i, _flip))
        verdict = verify_log(run)
        lines = [p.line for p in verdict.corrupt + verdict.residue]
        assert min(lines) == i + 1
        assert verdict.status == ("INCOMPLETE" if i >= n - 2 else "CORRUPT"), (i, verdict.lines())
