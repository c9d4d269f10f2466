"""Fixtures of the tail tests: no test leaves a writer or tail process behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _tail_harness import reap


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    yield
    reap()
