"""The compiled per-frame passes (_rolling.c) against plain-Python statements of their rules."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.frame_triage._rolling import interval_histogram, rolling_counts, rolling_rows

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MS = 1_000_000


def reference_counts(ts: list[int], window_ns: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Window end truncated toward zero; frames j <= i with ts[j] >= ts[i] - window."""
    ends = tuple(int(Fraction(t, MS)) for t in ts)
    counts = tuple(sum(1 for t in ts[: i + 1] if t >= end - window_ns) for i, end in enumerate(ts))
    return ends, counts


timestamps = st.one_of(
    st.integers(min_value=-3 * MS, max_value=3 * MS),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX),
    st.sampled_from([INT64_MIN, INT64_MIN + 1, -1, 0, 1, MS - 1, MS, INT64_MAX - 1, INT64_MAX]),
)
windows = st.one_of(
    st.integers(min_value=1, max_value=5 * MS),
    st.sampled_from([1, INT64_MAX, 2**63, 10**30]),
)


@given(ts=st.lists(timestamps, max_size=40), window_ns=windows)
def test_rolling_counts_match_the_rule(ts: list[int], window_ns: int) -> None:
    ts.sort()
    assert rolling_counts(ts, window_ns) == reference_counts(ts, window_ns)


@pytest.mark.parametrize(
    ("ts", "window", "error"),
    [
        ([2, 1], 5, ValueError),  # not ascending
        ([1], 0, ValueError),
        ([1], -5, ValueError),
        ([1], -(10**30), ValueError),
        ([2**63], 5, OverflowError),  # beyond int64 nanoseconds
        ([INT64_MIN - 1], 5, OverflowError),
        ([True], 5, TypeError),
        ([1.0], 5, TypeError),
        ((1, 2), 5, TypeError),  # a list, as the accumulator keeps it
    ],
)
def test_rolling_counts_refuses_what_the_cpp_cannot_hold(ts: object, window: int, error: type) -> None:
    with pytest.raises(error):
        rolling_counts(ts, window)  # type: ignore[arg-type]


@given(
    ts=st.one_of(
        st.lists(timestamps, max_size=40),
        # clustered intervals (the counting-array path) and spread ones (the sorting path)
        st.lists(st.integers(0, 10**12), max_size=300),
        st.lists(st.integers(0, 3_000), max_size=300),
    ),
    unit=st.sampled_from([1, 7, 1000, 10**9, INT64_MAX]),
)
def test_interval_histogram_counts_each_pair(ts: list[int], unit: int) -> None:
    ts.sort()
    expected = Counter((b - a) // unit for a, b in pairwise(ts))
    found = interval_histogram(ts, unit)
    assert found == expected
    assert list(found) == sorted(found)  # ascending, as timing_stats reads it


def test_interval_histogram_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="ascending"):
        interval_histogram([3, 1], 1000)
    with pytest.raises(ValueError, match="positive"):
        interval_histogram([1, 3], 0)
    with pytest.raises(OverflowError):
        interval_histogram([1, 2**63], 1000)


@given(
    rows=st.lists(st.tuples(st.integers(INT64_MIN, INT64_MAX), st.integers(0, 5)), max_size=30),
    head=st.binary(max_size=8),
    sep=st.binary(max_size=3),
    tails=st.lists(st.binary(max_size=12), min_size=6, max_size=6),
)
def test_rolling_rows_match_the_join(
    rows: list[tuple[int, int]], head: bytes, sep: bytes, tails: list[bytes]
) -> None:
    ends = tuple(e for e, _ in rows)
    counts = tuple(c for _, c in rows)
    table = dict(enumerate(tails))
    expected = sep.join(head + str(e).encode() + table[c] for e, c in rows)
    assert rolling_rows(head, ends, counts, table, sep) == expected


def test_rolling_rows_refuses_bad_input() -> None:
    with pytest.raises(KeyError):
        rolling_rows(b"", (1,), (7,), {1: b"x"}, b",")
    with pytest.raises(ValueError, match="length"):
        rolling_rows(b"", (1, 2), (1,), {1: b"x"}, b",")
    with pytest.raises(OverflowError):
        rolling_rows(b"", (2**63,), (1,), {1: b"x"}, b",")
    with pytest.raises(TypeError):
        rolling_rows(b"", (1,), (1,), {1: "x"}, b",")  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        rolling_rows("", (1,), (1,), {1: b"x"}, b",")  # type: ignore[arg-type]


def test_rolling_rows_survives_tails_changed_by_a_key() -> None:
    """A count whose __hash__ grows a tail after the buffer was sized: an error, not an overflow."""
    tails = {1: b"x"}

    class Sneaky:
        def __hash__(self) -> int:
            tails[1] = b"A" * 100_000
            return 1

        def __eq__(self, other: object) -> bool:
            return other == 1

    with pytest.raises(RuntimeError, match="changed"):
        rolling_rows(b"", (0,) * 50, (Sneaky(),) * 50, tails, b"")  # type: ignore[arg-type]
