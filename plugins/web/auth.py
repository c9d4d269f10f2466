"""Who may ask: the token rule and the Host rule of ``vrx serve``, as pure functions.

A server bound to a loopback address needs no token (only this machine can reach it), but it only
answers requests whose ``Host`` names a loopback address, so a web page elsewhere cannot reach it
through DNS rebinding. A server bound anywhere else needs a token: ``?token=`` (the server then
sets an HttpOnly, SameSite=Strict cookie), the cookie, or ``Authorization: Bearer``.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from typing import Final

#: The cookie that carries the token after a ``?token=`` request.
COOKIE: Final = "vrx_token"
LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random token for a server started without one (printed in its URL)."""
    return secrets.token_urlsafe(24)


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, else None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def token_ok(expected: str, offered: Iterable[str | None]) -> bool:
    """Whether any offered token equals ``expected``; compared in constant time."""
    want = expected.encode()
    return any(t is not None and hmac.compare_digest(t.encode(), want) for t in offered)


def host_name(host_header: str | None) -> str:
    """The host part of a ``Host`` header (``[::1]:8765`` -> ``::1``)."""
    h = (host_header or "").strip()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def host_ok(host_header: str | None, allowed: frozenset[str] | None) -> bool:
    """``Host`` names an allowed host; ``allowed`` None allows any (a non-loopback bind, where the
    token guards instead). Loopback names are always allowed where a set is given."""
    if allowed is None:
        return True
    name = host_name(host_header).lower()
    return name in allowed or is_loopback(name)


__all__ = ["COOKIE", "bearer", "host_name", "host_ok", "is_loopback", "new_token", "token_ok"]
