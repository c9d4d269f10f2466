"""``vrx sweep`` (placeholder until the sweep lands)."""

from __future__ import annotations

from vrx_core.hooks.host import Commands


def add_sweep_commands(commands: Commands) -> None:
    """Add ``vrx sweep``."""
