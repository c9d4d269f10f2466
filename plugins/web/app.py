"""The Starlette application of ``vrx serve``: routes over the pure parts (:mod:`.roots`,
:mod:`.listing`, :mod:`.sse`, :mod:`.stream`), behind :class:`~.guard.Guard`.

:func:`create_app` is the whole server; ``vrx serve`` (:mod:`.cli`) runs it under uvicorn. Tests
and embedders may call it directly (with ``TestClient(app, base_url="http://127.0.0.1")``: a
server without a token answers only for loopback Host names).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from .feed import FollowerFeed
from .guard import Guard
from .listing import list_runs, run_detail, signature
from .pages import error_page, page
from .roots import Roots, UnknownRun
from .sse import BadCursor, ResumeFilter, parse_cursor
from .stream import RunStream, dumps, runs_stream

if TYPE_CHECKING:
    from vrx_core.hooks.manager import PluginSet

STATIC: Final = Path(__file__).with_name("static")
#: The runs list is rescanned this often while a runs page is open (shared by all pages).
RUNS_EVERY_S: Final = 1.0
SSE_HEADERS: Final = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".LICENSE": "text/plain"}


@dataclass
class ServeState:
    """What the routes share: the roots, the plugins, the open feeds, the shutdown signal."""

    roots: Roots
    plugins: PluginSet | None = None
    follow_options: dict[str, Any] = field(default_factory=dict)
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    feeds: set[FollowerFeed] = field(default_factory=set)
    #: The server's event loop, once started (a stop signal hands :meth:`stop_all` to it).
    loop: asyncio.AbstractEventLoop | None = None
    _listing: tuple[float, dict[str, Any]] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def verdicts(self) -> Callable[[Path], dict[str, str]] | None:
        return self.plugins.run_verdicts if self.plugins is not None else None

    async def listing(self) -> dict[str, Any]:
        """The runs list, computed in a worker thread, at most once per half :data:`RUNS_EVERY_S`."""
        async with self._lock:
            cached = self._listing
            if cached is not None and time.monotonic() - cached[0] < RUNS_EVERY_S / 2:
                return cached[1]
            data = await asyncio.to_thread(list_runs, self.roots, verdicts=self.verdicts)
            self._listing = (time.monotonic(), data)
            return data

    def stop_all(self) -> None:
        """Shutting down: every stream ends, every follower thread stops."""
        self.shutdown.set()
        for feed in list(self.feeds):
            feed.stop()


class SSEResponse(StreamingResponse):
    """A streaming response that runs ``on_close`` however it ends (run to the end, the client gone,
    the server shutting down): a closed tab releases its follower."""

    def __init__(self, content: Any, *, on_close: Callable[[], None] | None = None) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)
        self.on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.on_close is not None:
                self.on_close()


def _json(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status_code=status, media_type="application/json")


def _state(request: Request) -> ServeState:
    state: ServeState = request.app.state.vrx
    return state


def _resolve(request: Request) -> tuple[str, Path]:
    run_id = request.path_params["id"]
    try:
        return run_id, _state(request).roots.resolve(run_id)
    except UnknownRun:
        raise HTTPException(404, f"no such run: {run_id}") from None


# -- pages --------------------------------------------------------------------------------------


async def runs_page(request: Request) -> Response:
    return HTMLResponse(page("runs", title="vrx runs"))


async def run_page(request: Request) -> Response:
    run_id, _ = _resolve(request)
    return HTMLResponse(page("run", title=f"vrx {run_id}", crumb=run_id))


async def compare_page(request: Request) -> Response:
    roots = _state(request).roots
    for run_id in request.query_params.getlist("run"):
        try:
            roots.resolve(run_id)
        except UnknownRun:
            raise HTTPException(404, f"no such run: {run_id}") from None
    return HTMLResponse(page("compare", title="vrx compare", crumb="compare"))


async def favicon(request: Request) -> Response:
    return Response(status_code=204)  # no icon; a 404 would fill the browser console


async def static_file(request: Request) -> Response:
    name = request.path_params["file"]
    if name not in _static_names():  # only the files shipped in static/, nothing below or beside
        raise HTTPException(404, "no such file")
    ctype = next((t for ext, t in _TYPES.items() if name.endswith(ext)), "application/octet-stream")
    return FileResponse(STATIC / name, media_type=ctype, headers={"cache-control": "no-cache"})


def _static_names() -> frozenset[str]:
    return frozenset(n for n in os.listdir(STATIC) if (STATIC / n).is_file() and not n.startswith("."))


# -- the API ------------------------------------------------------------------------------------


async def api_runs(request: Request) -> Response:
    return _json(await _state(request).listing())


def _head(request: Request) -> Response | None:
    """A stream's headers alone for HEAD: no follower, no scan (the body would never end)."""
    if request.method != "HEAD":
        return None
    return Response(media_type="text/event-stream", headers=SSE_HEADERS)


async def api_runs_stream(request: Request) -> Response:
    state = _state(request)
    if (head := _head(request)) is not None:
        return head
    gen = runs_stream(state.listing, signature, shutdown=state.shutdown, every_s=RUNS_EVERY_S)
    return SSEResponse(gen)


async def api_run(request: Request) -> Response:
    state = _state(request)
    run_id = request.path_params["id"]
    try:
        detail = await asyncio.to_thread(run_detail, state.roots, run_id, verdicts=state.verdicts)
    except UnknownRun:
        raise HTTPException(404, f"no such run: {run_id}") from None
    return _json(detail)


def _rank(request: Request) -> int | None:
    text = request.query_params.get("rank")
    if text in (None, "", "all"):
        return None
    if not text.isdigit() or len(text) > 9:
        raise HTTPException(400, f"rank must be a number: {text[:20]!r}")
    return int(text)


async def api_run_stream(request: Request) -> Response:
    state = _state(request)
    _, path = _resolve(request)
    rank = _rank(request)
    if (head := _head(request)) is not None:
        return head
    cursor = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    try:
        after = parse_cursor(cursor)
    except BadCursor as exc:
        raise HTTPException(400, str(exc)) from None
    feed = FollowerFeed(path, asyncio.get_running_loop(), state.plugins, state.follow_options)
    state.feeds.add(feed)

    def close() -> None:
        feed.stop()
        state.feeds.discard(feed)

    stream = RunStream(feed, ResumeFilter(after=after), rank=rank, shutdown=state.shutdown)
    return SSEResponse(stream, on_close=close)


# -- errors -------------------------------------------------------------------------------------


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return _json({"error": exc.detail}, exc.status_code)
    return HTMLResponse(error_page(exc.status_code, exc.detail), status_code=exc.status_code)


ROUTES: Final = [
    Route("/", runs_page),
    Route("/run/{id:path}", run_page),
    Route("/compare", compare_page),
    Route("/static/{file}", static_file),
    Route("/favicon.ico", favicon),
    Route("/api/runs", api_runs),
    Route("/api/runs/stream", api_runs_stream),
    Route("/api/run/{id:path}/stream", api_run_stream),
    Route("/api/run/{id:path}", api_run),
]


def create_app(
    roots: Sequence[str | os.PathLike[str]],
    *,
    token: str | None = None,
    plugins: PluginSet | None = None,
    hosts: Sequence[str] = (),
    follow_options: dict[str, Any] | None = None,
) -> Any:
    """The ``vrx serve`` ASGI app over ``roots``.

    ``token``: required on every request (``?token=``, the cookie it sets, or a Bearer header);
    None for a loopback-only server, which then answers only requests whose Host is a loopback
    name or one of ``hosts``. ``plugins``: a loaded PluginSet (verdicts, snapshots, alert rules).
    ``follow_options``: extra options of each run stream's follower (``dead_after_s``, ...).
    """
    state = ServeState(Roots.of(roots), plugins, dict(follow_options or {}))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        yield
        state.stop_all()

    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.vrx = state
    allowed = None if token is not None else frozenset(h.lower() for h in hosts)
    return Guard(app, token=token, hosts=allowed)


def app_state(app: Any) -> ServeState:
    """The :class:`ServeState` of an app from :func:`create_app`."""
    state: ServeState = app.app.state.vrx
    return state


__all__ = ["ROUTES", "STATIC", "SSEResponse", "ServeState", "app_state", "create_app"]
