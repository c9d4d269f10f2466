"""Golden runs: real event logs replay to exactly the derived files checked in beside them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))

from _golden import cases, derive, expected


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_golden_replay_is_byte_exact(case: Path, tmp_path: Path) -> None:
    """Replaying the golden log derives exactly the checked-in files, byte for byte."""
    got = derive(case, tmp_path / case.name)
    want = expected(case)
    assert sorted(got) == sorted(want)
    for rel in want:
        assert got[rel] == want[rel], f"{case.name}/{rel} differs from a fresh replay"
