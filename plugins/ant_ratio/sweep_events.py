"""Event kinds of a sweep run (placeholder until the sweep lands)."""

from __future__ import annotations

from vrx_core.events import Event

KINDS: list[type[Event]] = []
