"""The log layer: the run directory, line framing, the single writer, its lock, the reader.

Nothing here knows about plugins, replay or the follower: ``from vrx_core import Recorder`` loads
this layer and the top-level modules only.

- :mod:`~vrx_core.log.rundir`: which files a run keeps and what they are called (``RunDir``)
- :mod:`~vrx_core.log.framing`: the committed line (envelope, CRC) and the event encoder
- :mod:`~vrx_core.log.writer`: :class:`Recorder`, the append-only, crash-safe writer
- :mod:`~vrx_core.log.writepath`: the writer's per-event path (framing, write, group commit)
- :mod:`~vrx_core.log.lock`: the writer lock, its heartbeat, and the one "is the writer alive" rule
- :mod:`~vrx_core.log.reader`: :class:`LogReader` (strict / recover / salvage) and the line checker
- :mod:`~vrx_core.log.chunks`: the reader's chunked line splitting and its batch fast path
- :mod:`~vrx_core.log.atomic`: atomic file replacement
- :mod:`~vrx_core.log.diagnostics`: vrx's own warnings (never the user's structlog configuration)
"""
