"""Bridges from other libraries into a run's log (structlog; later others)."""
