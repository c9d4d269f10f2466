"""The ASGI middleware in front of every route of ``vrx serve``: read-only methods, the Host rule,
refused paths and the token (:mod:`.auth`), plus security headers on every response.

Kept apart from the routes so that nothing reaches a route without passing it: a POST to any path
is 405, an encoded ``..`` or ``/`` (``%2e%2e``, ``%2f``) or a NUL anywhere in the path is 404
before the path is even looked up.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs, unquote

from .auth import COOKIE, bearer, host_ok, token_ok
from .pages import error_page

Scope = dict[str, Any]
ASGIApp = Any

METHODS: Final = frozenset({"GET", "HEAD"})
SECURITY_HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
]


def refused_path(raw_path: bytes) -> bool:
    """A path with a segment that decodes to ``.``, ``..``, or holds ``/``, ``\\``, NUL (encoded or
    not): nothing this server serves has one, so it can only be an attempt to leave the roots."""
    for raw in raw_path.split(b"/")[1:]:
        seg = unquote(raw.decode("latin-1"), errors="strict") if b"%" in raw else raw.decode("latin-1")
        if seg in (".", "..") or any(c in seg for c in "/\\\0"):
            return True
    return False


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in headers if k == name), None)


class Guard:
    """Wraps the app: see the module docstring. ``token`` None: no token needed; ``hosts`` None:
    any Host header (a non-loopback bind, which needs a token instead)."""

    def __init__(self, app: ASGIApp, *, token: str | None, hosts: frozenset[str] | None) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is not None:
            await _refuse(scope, send, *problem)
            return
        set_cookie = self.token is not None and self._from_query(scope)
        await self.app(scope, receive, self._wrap(send, set_cookie=set_cookie))

    def _problem(self, scope: Scope) -> tuple[int, str] | None:
        headers = scope["headers"]
        if scope["method"] not in METHODS:
            return 405, "read-only: only GET and HEAD"
        if not host_ok(header(headers, b"host"), self.hosts):
            return 403, "Host not allowed (this server answers only for loopback names)"
        raw = scope.get("raw_path") or scope["path"].encode()
        try:
            if refused_path(raw.split(b"?", 1)[0]) or "\0" in scope["path"]:
                return 404, "no such page"
        except UnicodeDecodeError:
            return 404, "no such page"
        if self.token is not None:
            offered = [self._query_token(scope), cookie_value(headers, COOKIE)]
            offered.append(bearer(header(headers, b"authorization")))
            if not token_ok(self.token, offered):
                return 401, "a token is needed: open the URL vrx serve printed (?token=...)"
        return None

    @staticmethod
    def _query_token(scope: Scope) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        return values[0] if values else None

    def _from_query(self, scope: Scope) -> bool:
        q = self._query_token(scope)
        return q is not None and self.token is not None and token_ok(self.token, [q])

    def _wrap(self, send: Any, *, set_cookie: bool) -> Any:
        token = self.token

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if set_cookie and token is not None:
                    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


async def _refuse(scope: Scope, send: Any, status: int, message: str) -> None:
    api = scope["path"].startswith("/api/") or scope["path"] == "/api"
    if api:
        from .stream import dumps

        body = dumps({"error": message}).encode()
        ctype = b"application/json"
    else:
        body = error_page(status, message).encode()
        ctype = b"text/html; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


__all__ = ["METHODS", "Guard", "cookie_value", "refused_path"]
