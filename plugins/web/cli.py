"""``vrx serve [ROOT...]``: the CLI glue of the web view (options, the token, uvicorn, shutdown).

Starlette and uvicorn are imported only here, when the command runs; without them the command
prints one line naming the extra and exits 69.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from vrx_core.errors import ExitCode, NoSuchRun, PluginUnavailable, UsageError, VrxError
from vrx_core.hooks.host import Commands

if TYPE_CHECKING:
    import socket

# asyncio, socket and the token helpers are imported when the command runs: every `vrx` command
# builds this parser, and only `vrx serve` needs them.

HELP = "serve a live, read-only web view of the runs under ROOTs: charts, params, alerts, compare"
DESCRIPTION = """\
Serve a live web view of every run under the ROOT directories (default: .): a runs page (status,
start, duration, metrics, verdicts; filter, sort, compare), and a page per run with a chart per
metric, params, plugin snapshots, alerts, progress and ETA, updated as events land (the follower
of `vrx tail`, over Server-Sent Events). Read-only: nothing can be written, deleted or run.

Binds 127.0.0.1 by default. Any other --host needs a token (--token, $VRX_SERVE_TOKEN, else a
random one), printed in the URL; requests without it get 401.

Exit status: 0 stopped by Ctrl-C or SIGTERM; 2 bad options; 66 a ROOT does not exist; 69 Starlette
or uvicorn missing (pip install 'vrx-core[web]'); 75 the address cannot be bound (port in use).
"""
EPILOG = "See docs/web.md."
EXTRA_HINT: Final = "pip install 'vrx-core[web]'"
#: Seconds uvicorn waits for open connections after a stop signal before cancelling them; the
#: streams end on their own well before (they watch the shutdown signal).
GRACE_S: Final = 1.0


class AddressUnavailable(VrxError):
    """The host and port cannot be bound: exit 75 (try another ``--port``)."""

    exit_code = ExitCode.TEMPFAIL


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def add_serve(commands: Commands) -> None:
    p = commands.add("serve", help=HELP, description=DESCRIPTION, handler=cmd_serve)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("roots", metavar="ROOT", nargs="*", help="directories to serve runs from (default: .)")
    p.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--token",
        default=None,
        help="the token a non-loopback server requires (default: $VRX_SERVE_TOKEN, else a random one)",
    )


def _require_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise PluginUnavailable(f"vrx serve needs Starlette and uvicorn: {EXTRA_HINT}") from None


def _token(args: argparse.Namespace) -> str | None:
    from .auth import is_loopback, new_token

    token: str | None = args.token or os.environ.get("VRX_SERVE_TOKEN") or None
    if is_loopback(args.host):
        return token  # loopback: a token only if asked for
    return token or new_token()


def _bind(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise AddressUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, token: str | None) -> str:
    name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{name}:{port}/" + (f"?token={token}" if token else "")


def cmd_serve(args: argparse.Namespace) -> int:
    roots = args.roots or ["."]
    for r in roots:
        if not os.path.isdir(r):
            raise NoSuchRun("no such directory", path=r)
    if not args.host.strip():
        raise UsageError("--host must not be empty")
    _require_extra()
    from .app import app_state, create_app

    token = _token(args)
    app = create_app(roots, token=token, plugins=getattr(args, "plugins", None))
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    print(f"vrx serve: {url_of(args.host, port, token)}  (Ctrl-C to stop)", flush=True)
    _run(app, app_state(app), sock)
    return int(ExitCode.OK)


def _run(app: Any, state: Any, sock: socket.socket) -> None:
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a stop signal also ends the open streams at once, and is not
        raised again after the shutdown (uvicorn re-raises it: a traceback for Ctrl-C)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit and sig == 2:  # a second Ctrl-C: do not wait at all
                self.force_exit = True
            self.should_exit = True
            loop = getattr(state, "loop", None)
            if loop is not None:
                loop.call_soon_threadsafe(state.stop_all)

    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_graceful_shutdown=int(GRACE_S) or 1,
        lifespan="on",
        access_log=False,
    )
    server = Server(config)
    try:
        with sock:
            asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:  # Ctrl-C before the server installed its handlers
        pass
    sys.stdout.flush()


__all__ = ["EXTRA_HINT", "AddressUnavailable", "add_serve", "cmd_serve", "url_of"]
