"""Fixtures of the ``vrx fleet`` tests: a plugins directory holding fleetplug, and its selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from _fleet_harness import PLUGIN

from vrx_core.hooks.discovery import Selection


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "plugins"
    d.mkdir()
    (d / "fleetplug.py").write_text(PLUGIN)
    return d


@pytest.fixture
def selection(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Selection:
    """The built-in plugins and fleetplug, whatever the environment selects."""
    monkeypatch.delenv("VRX_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("VRX_PLUGINS_DIR", raising=False)
    return Selection(dirs=[plugin_dir])
