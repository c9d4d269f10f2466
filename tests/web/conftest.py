"""Fixtures for the web view's tests (helpers in ``_web_helpers``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from _web_helpers import Served, record_run


@pytest.fixture
def serve_app() -> Iterator[Callable[..., Served]]:
    """``serve_app(roots, **create_app_options)`` -> a :class:`Served`; stopped after the test."""
    from vrx_plugins.web.app import create_app

    started: list[Served] = []

    def start(roots: list[Path | str], **options: Any) -> Served:
        s = Served(create_app(roots, **options))
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """A root with two finished runs, one nested: ``runs/a`` and ``runs/sweep/b``."""
    root = tmp_path / "runs"
    record_run(root / "a", 10, plan=10)
    record_run(root / "sweep" / "b", 5)
    return root
