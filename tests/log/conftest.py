"""Fixtures and settings shared by the event-log tests (helpers live in ``_log_harness.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture
def clean_structlog() -> Iterator[None]:
    """Leave structlog's global configuration exactly as it was before the test."""
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.reset_defaults()
