"""web: ``vrx serve``, a live read-only local web view of runs. See docs/web.md.

Hook glue only: the command is in ``cli``, the Starlette app in ``app`` (behind ``guard``), and the
pure parts beside them: run ids and paths (``roots``), rows (``listing``), SSE framing and resume
cursors (``sse``), the streams (``stream``, ``feed``, ``status``), tokens (``auth``), HTML (``pages``).
"""

from __future__ import annotations

from vrx_core import hookimpl
from vrx_core.hooks.host import Commands


@hookimpl
def vrx_add_commands(commands: Commands) -> None:
    from .cli import add_serve

    add_serve(commands)
