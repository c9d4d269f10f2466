"""Whole-log work over a run: replay through the plugins, verify, ingest (later: fleet replay)."""
