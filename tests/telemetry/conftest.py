"""Fixtures of the telemetry tests: a fake pynvml in ``sys.modules``, a list sink, plain warnings."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from _nvml_fake import FakeNvml, ListSink

from vrx_core.log import diagnostics


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture(autouse=True)
def human_warnings() -> Iterator[None]:
    """vrx's warnings as plain ``vrx: warning: ...`` lines on stderr, whatever an earlier test set."""
    saved = diagnostics._state["logger"]
    diagnostics.configure("warning", json=False)
    yield
    diagnostics._state["logger"] = saved
