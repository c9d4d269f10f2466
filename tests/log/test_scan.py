"""The reader's batch scan in C (``vrx_core.log._scan.plain_run``) against the Python check it replaced.

The reference below is that check as it was written in Python: a regex over the run for the
envelope and the CRC suffix's form, then per line the salted CRC-32 and the textual seq. Both
must stop at the same offset for every buffer, damaged ones above all.
"""

from __future__ import annotations

import re
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrx_core.log._scan import plain_run
from vrx_core.log.framing import frame

KEYS = frozenset({b'1,"type":"metric', b'2,"type":"log', b'1,"type":"a.b_c9'})
SALT = 0x1234ABCD


def _lines_re(keys: frozenset[bytes]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(k) for k in sorted(keys))
    return re.compile(
        rb'\{"seq":(?:0|[1-9][0-9]{0,18}),"t":-?[0-9][0-9.eE+-]{0,30},"v":(?:'
        + alternatives
        + rb')"[,}].*,"crc":"[0-9a-f]{8}"\}\n'
    )


def reference(buf: bytes, a: int, end: int, keys: frozenset[bytes], salt: int, seq: int) -> int:  # noqa: PLR0917
    """The Python check: the longest run of lines from ``a`` that the batch path took."""
    one = _lines_re(keys)
    while a < end:
        m = one.match(buf, a, end)
        if m is None:
            return a
        line = buf[a : m.end() - 1]
        if not line.startswith(b'{"seq":%d,' % seq):
            return a
        if zlib.crc32(line[:-18], salt) != int(line[-10:-2], 16):
            return a
        a, seq = m.end(), seq + 1
    return a


def _line(
    seq: int, kind: bytes = b'"type":"metric"', body: bytes = b',"name":"x","value":1.5', v: int = 1
) -> bytes:
    return frame(seq, 1764071000.5 + seq, v, b"{" + kind + body + b"}", SALT)


def _good(n: int, seq: int = 5) -> bytes:
    return b"".join(_line(seq + i) for i in range(n))


def test_a_run_of_good_lines_is_taken_whole() -> None:
    buf = _good(50)
    assert plain_run(buf, 0, len(buf), KEYS, SALT, 5) == len(buf)


def test_an_unknown_kind_a_writer_kind_or_another_version_ends_the_run() -> None:
    for kind, v in ((b'"type":"sync"', 1), (b'"type":"metric"', 2), (b'"type":"metrics"', 1)):
        buf = _good(3) + _line(8, kind, v=v) + _line(9)
        assert plain_run(buf, 0, len(buf), KEYS, SALT, 5) == len(_good(3))


def test_a_line_with_no_field_after_the_type_is_left_to_the_per_line_path() -> None:
    # The Python regex needed one byte of its own before ,"crc" (its "[,}].*), so a kind whose
    # fields are all defaults always went line by line; the C scan keeps that.
    buf = _line(0, b'"type":"log"', b"", v=2)
    assert plain_run(buf, 0, len(buf), KEYS, SALT, 0) == reference(buf, 0, len(buf), KEYS, SALT, 0) == 0


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b.replace(b'"crc":"', b'"crc":"A', 1)[:-2] + b"}\n",  # upper case in the digits
        lambda b: b[:-3] + b"X}\n",  # a non-hex digit
        lambda b: b.replace(b'"value":1.5', b'"value":1.6'),  # a changed byte: the CRC fails
        lambda b: b[:-1],  # no newline (the torn tail)
        lambda b: b.replace(b'"seq":', b'"seq":0'),  # a leading zero
        lambda b: b.replace(b'"t":', b'"t": '),  # a space in the envelope
    ],
)
def test_a_damaged_line_ends_the_run_where_the_python_check_did(damage: object) -> None:
    bad = damage(_line(8))  # type: ignore[operator]
    buf = _good(3) + bad + _good(2, seq=9)
    want = reference(buf, 0, len(buf), KEYS, SALT, 5)
    assert want == len(_good(3))
    assert plain_run(buf, 0, len(buf), KEYS, SALT, 5) == want


def test_a_seq_out_of_order_ends_the_run() -> None:
    buf = _good(2) + _line(9) + _line(10)
    assert plain_run(buf, 0, len(buf), KEYS, SALT, 5) == len(_good(2))


def test_the_bounds_are_honoured() -> None:
    buf = b"junk" + _good(4)
    end = len(buf) - 1  # the last line's newline is outside the window
    assert plain_run(buf, 4, end, KEYS, SALT, 5) == 4 + len(_good(3))
    with pytest.raises(ValueError):
        plain_run(buf, 5, 4, KEYS, SALT, 5)
    with pytest.raises(ValueError):
        plain_run(buf, 0, len(buf) + 1, KEYS, SALT, 5)


_pieces = st.sampled_from(
    [
        b"{",
        b"}",
        b'"',
        b",",
        b"\n",
        b":",
        b"0",
        b"1",
        b"9",
        b"-",
        b"e",
        b".",
        b"a",
        b"A",
        b"\\u",
        b'"seq":',
        b'"t":',
        b'"v":',
        b'"type":"metric"',
        b'"type":"log"',
        b',"crc":"',
        b'"}',
        b"ffffffff",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    n=st.integers(0, 6),
    cut=st.integers(0, 400),
    insert=st.lists(_pieces, max_size=4),
    at=st.integers(0, 400),
    seq=st.integers(0, 2**63),
)
def test_plain_run_agrees_with_the_python_check_on_damaged_buffers(
    n: int, cut: int, insert: list[bytes], at: int, seq: int
) -> None:
    buf = b"".join(_line(seq + i, body=b',"name":"m%d","value":%d' % (i, i)) for i in range(n))
    at = min(at, len(buf))
    buf = buf[:at] + b"".join(insert) + buf[at:]
    buf = buf[: len(buf) - min(cut, len(buf)) // 8]
    assert plain_run(buf, 0, len(buf), KEYS, SALT, seq) == reference(buf, 0, len(buf), KEYS, SALT, seq)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 3))
def test_plain_run_agrees_with_the_python_check_on_arbitrary_bytes(noise: bytes, seq: int) -> None:
    buf = _line(seq) + noise
    assert plain_run(buf, 0, len(buf), KEYS, SALT, seq) == reference(buf, 0, len(buf), KEYS, SALT, seq)
