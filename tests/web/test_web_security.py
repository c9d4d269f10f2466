"""Read-only and confined: 404 on traversal (every encoding) and on symlinks out of the roots, 405
for every write method, the Host rule, and the token for a server that is not loopback-only."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from _web_helpers import Served, record_run


def _raw_get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """GET ``path`` exactly as written (httpx would normalise ``..`` away): status, type, body."""
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.getheader("content-type") or "", r.read().decode()
    finally:
        conn.close()


@pytest.fixture
def confined(serve_app: Callable[..., Served], tmp_path: Path) -> Served:
    """A root ``runs`` with run ``a``, a secret run beside it, and a symlink from inside to it."""
    record_run(tmp_path / "runs" / "a", 2)
    secret = record_run(tmp_path / "secret", 2)
    (tmp_path / "runs" / "link").symlink_to(secret)
    (tmp_path / "runs" / "dirlink").symlink_to(tmp_path)
    return serve_app([tmp_path / "runs"])


TRAVERSALS = [
    "/run/runs/../secret",
    "/run/runs/..%2fsecret",
    "/run/runs/%2e%2e/secret",
    "/run/runs/%2E%2E/secret",
    "/run/runs/.%2e/secret",
    "/run/runs%2f..%2fsecret",
    "/run/runs/%252e%252e/secret",
    "/run/runs/a%00",
    "/run/runs/..%5csecret",
    "/run//etc/passwd",
    "/run/%2fetc%2fpasswd",
    "/run/runs/link",
    "/run/runs/dirlink/secret",
    "/static/..%2fapp.py",
    "/static/%2e%2e/app.py",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_404(confined: Served, path: str) -> None:
    status, ctype, body = _raw_get(confined.url, path)
    assert status == 404, body
    assert ctype.startswith("text/html")
    api = path.replace("/run/", "/api/run/", 1) if path.startswith("/run/") else "/api" + path
    status, ctype, body = _raw_get(confined.url, api)
    assert status == 404, body
    assert ctype == "application/json" and '"error"' in body
    if path.startswith("/run/"):
        assert _raw_get(confined.url, api + "/stream")[0] == 404


def test_the_run_inside_is_served(confined: Served) -> None:
    assert _raw_get(confined.url, "/api/run/runs/a")[0] == 200
    ids = {r["id"] for r in httpx.get(f"{confined.url}/api/runs").json()["runs"]}
    assert ids == {"runs/a"}  # the symlinked run is neither listed nor reachable


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/", "/api/runs", "/api/run/runs/a", "/api/run/runs/a/stream", "/nope"])
def test_no_write_methods(confined: Served, method: str, path: str) -> None:
    r = httpx.request(method, confined.url + path)
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


def test_only_loopback_host_names_without_a_token(confined: Served) -> None:
    assert httpx.get(f"{confined.url}/api/runs", headers={"Host": "evil.example"}).status_code == 403
    assert httpx.get(f"{confined.url}/api/runs", headers={"Host": "localhost:1234"}).status_code == 200


def test_security_headers(confined: Served) -> None:
    r = httpx.get(f"{confined.url}/")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"


def test_a_token_is_required_when_set(serve_app: Callable[..., Served], tmp_path: Path) -> None:
    record_run(tmp_path / "runs" / "a", 2)
    s = serve_app([tmp_path / "runs"], token="s3cret-token")
    api = f"{s.url}/api/runs"
    for url, headers in [
        (api, {}),
        (f"{api}?token=wrong", {}),
        (api, {"Authorization": "Bearer wrong"}),
        (api, {"Cookie": "vrx_token=wrong"}),
    ]:
        r = httpx.get(url, headers=headers)
        assert r.status_code == 401, (url, headers)
        assert r.json()["error"]
    page = httpx.get(f"{s.url}/")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")

    ok = httpx.get(f"{s.url}/?token=s3cret-token")
    assert ok.status_code == 200
    cookie = ok.headers["set-cookie"]
    assert "vrx_token=s3cret-token" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    with httpx.Client() as client:
        client.cookies.set("vrx_token", "s3cret-token")
        assert client.get(api).status_code == 200
    assert httpx.get(api, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert (
        httpx.get(api, headers={"Host": "anything.example"}, params={"token": "s3cret-token"}).status_code
        == 200
    )
