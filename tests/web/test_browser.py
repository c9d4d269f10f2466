"""``vrx serve`` in a real browser: Debian's Chromium driven by Playwright against a real server process.

``vrx serve`` runs as a subprocess on a free port over a temporary root, with writer processes where
a run is live; the tests check what a user sees: the runs page lists the runs with their status, a
run page's chart gains points while the run is being written, a NaN shows up as an alert, a
multi-rank run's rank selector picks one rank's points, and no path escapes the served roots.

One server, over one root, serves most tests (it finds runs as they appear; each test records its
own), so the module stays fast; the runs page test has a root and a server of its own.

Skipped when Chromium (``/usr/lib/chromium/chromium``) or Playwright is missing, except under CI (the
``CI`` environment variable set, as ``.ci/run`` does), where that is a failure: CI must not pass by
skipping the browser.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _browser_support import CHROMIUM, CHROMIUM_ARGS, WAIT, Server, Writer, chromium_missing

from vrx_core import Recorder
from vrx_core.events import Metric, Params

_missing = chromium_missing()
if _missing is not None:
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set but the browser tests cannot run: {_missing}", pytrace=False)
    pytest.skip(_missing, allow_module_level=True)

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright  # noqa: E402

WAIT_MS = WAIT * 1000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)  # a loaded CI machine: generous, only a bug waits this long
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
            expect.set_options(timeout=5000)  # Playwright's default


class Tab:
    """A page in a fresh browser context, with the script errors it raised collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)

    def _console(self, msg: ConsoleMessage) -> None:
        # A 404 the test asked for is logged by Chromium as a console error: only script errors count.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            self.errors.append(f"console.error: {msg.text}")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    try:
        yield Tab(page)
    finally:
        page.close()
        context.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``vrx serve BASE/runs``; beside the root, a real run (``BASE/outside``) and ``BASE/secret.txt``,
    neither of which any URL may reach."""
    base = tmp_path_factory.mktemp("site")
    root = base / "runs"
    record(root / "a", "ok", 2)
    record(base / "outside", "ok", 2)
    (base / "secret.txt").write_text("top secret\n")
    srv = Server([root])
    try:
        yield srv
    finally:
        srv.close()


def root_of(srv: Server) -> Path:
    return srv.roots[0]


@pytest.fixture
def writer() -> Iterator[Callable[..., Writer]]:
    started: list[Writer] = []

    def start(run_dir: Path, *args: str) -> Writer:
        w = Writer(run_dir, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def record(run_dir: Path, status: str, n: int) -> None:
    """A finished run: params, ``n`` loss values, then a run end with ``status``."""
    rec = Recorder(run_dir)
    rec.emit(Params(values={"lr": 0.01, "arch": "mlp"}))
    for step in range(1, n + 1):
        rec.emit(Metric(name="train/loss", value=1.0 / step, step=step))
    if status == "ok":
        rec.close("ok")
    else:
        rec.close("error", "RuntimeError: boom")


def test_runs_page_lists_runs_with_status(tmp_path: Path, tab: Tab) -> None:
    root = tmp_path / "runs"
    record(root / "alpha", "ok", 5)
    record(root / "sweep" / "beta", "error", 3)
    srv = Server([root])
    try:
        page = tab.page
        page.goto(srv.url)

        rows = page.locator("table#runs tr[data-run-id]")
        expect(rows).to_have_count(2)
        ids = sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.runId)"))
        assert ids == ["runs/alpha", "runs/sweep/beta"]
        alpha = page.locator('table#runs tr[data-run-id="runs/alpha"]')
        beta = page.locator('table#runs tr[data-run-id="runs/sweep/beta"]')
        # The statuses of docs/web.md: `ended` (ended ok), `ended/error`.
        expect(alpha.locator("td.status")).to_have_text("ended")
        expect(beta.locator("td.status")).to_have_text("ended/error")
        # The page's controls are there: sortable headers, a compare checkbox per run, the filter.
        expect(page.locator("table#runs th[data-sort]").first).to_be_visible()
        expect(page.locator('input.compare[data-run-id="runs/alpha"]')).to_have_count(1)
        expect(page.locator("#compare")).to_have_count(1)
        page.locator("input#filter").fill("beta")
        expect(alpha).to_be_hidden()
        expect(beta).to_be_visible()
        assert tab.errors == []
    finally:
        srv.close()


def test_run_page_chart_grows_while_the_run_is_written(
    tab: Tab, site: Server, writer: Callable[..., Writer]
) -> None:
    # 400 points 50 ms apart: longer than the test, which ends the writer when it is done.
    writer(root_of(site) / "live", "--n", "400", "--interval", "0.05", "--plan", "400")
    page = tab.page
    page.goto(f"{site.url}/run/runs/live")

    selector = 'div.chart[data-metric="train/loss"]'
    chart = page.locator(selector)
    expect(chart).to_have_count(1)
    expect(page.locator("#status")).to_have_text("running")
    expect(page.locator("#progress")).to_contain_text("/400")
    expect(page.locator("table#params")).to_contain_text("lr")
    seen = [int(chart.get_attribute("data-points") or 0)]
    for _ in range(3):  # three successive growths, without reloading the page
        page.wait_for_function(
            "([sel, n]) => Number(document.querySelector(sel)?.dataset.points) > n", arg=[selector, seen[-1]]
        )
        seen.append(int(chart.get_attribute("data-points") or 0))
    assert seen == sorted(set(seen)), seen
    assert tab.errors == []


def test_nan_shows_an_alert(tab: Tab, site: Server, writer: Callable[..., Writer]) -> None:
    w = writer(root_of(site) / "nan", "--n", "5", "--interval", "0.01", "--wait")
    w.wait_line("^emitted 5$")
    page = tab.page
    page.goto(f"{site.url}/run/runs/nan")
    chart = page.locator('div.chart[data-metric="train/loss"]')
    expect(chart).to_have_attribute("data-points", "5")
    alert = page.locator('#alerts li.alert[data-kind="nan"]')
    expect(alert).to_have_count(0)

    w.send("nan")  # the page is open: the alert must arrive live, not on a reload
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("train/loss")
    assert tab.errors == []


def test_rank_select_shows_one_rank(tab: Tab, site: Server) -> None:
    run_dir = root_of(site) / "ranks"
    for rank, n in ((0, 6), (1, 4)):
        rec = Recorder(run_dir, rank=rank, world_size=2, local_rank=rank)
        for step in range(1, n + 1):
            rec.emit(Metric(name="train/loss", value=1.0 / step + rank, step=step))
        rec.close("ok")
    page = tab.page
    page.goto(f"{site.url}/run/runs/ranks")
    chart = page.locator('div.chart[data-metric="train/loss"]')
    expect(chart).to_have_attribute("data-points", "10")  # every rank
    page.locator("select#rank").select_option("1")
    expect(chart).to_have_attribute("data-points", "4")
    page.locator("select#rank").select_option("0")
    expect(chart).to_have_attribute("data-points", "6")
    assert tab.errors == []


#: Paths that must not escape the served root: ``runs/a`` is served; ``outside`` is a real run next to
#: the root (not served), ``secret.txt`` a file next to it.
ESCAPES = [
    "/run/..%2f..%2fetc%2fpasswd",
    "/run/../../etc/passwd",
    "/run/%2e%2e/%2e%2e/etc/passwd",
    "/run/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/run/%2Fetc%2Fpasswd",
    "/run//etc/passwd",
    "/run/runs/..%2foutside",
    "/run/runs/../outside",
    "/run/runs%2f..%2foutside",
    "/run/runs/a/..%2f..%2foutside",
    "/run/runs/a/../../outside",
    "/run/runs/..%2fsecret.txt",
    "/api/run/..%2f..%2fetc%2fpasswd",
    "/api/run/../../etc/passwd",
    "/api/run/runs/..%2foutside",
    "/api/run/runs/../outside",
    "/api/run/runs/..%2foutside/stream",
    "/api/run/runs/../outside/stream",
    "/api/run/%2Ftmp/stream",
]


def _leaked(srv: Server, body: bytes) -> bool:
    outside = str(root_of(srv).parent / "outside").encode()
    return b"top secret" in body or b"root:x:0:0" in body or outside in body


def test_path_traversal_is_404(tab: Tab, site: Server) -> None:
    status, _ = site.get("/run/runs/a")
    assert status == 200  # the 404s below are not a broken server

    raw = {p: site.get(p) for p in ESCAPES}  # exactly as written: no client normalises the dots
    assert {p: s for p, (s, _) in raw.items() if s != 404} == {}
    assert [p for p, (_, body) in raw.items() if _leaked(site, body)] == []

    page = tab.page
    # The browser resolves ./.. and sends what a user's click would: still a 404.
    for path in ESCAPES[:3] + ESCAPES[6:8]:
        resp = page.goto(site.url + path)
        assert resp is not None and resp.status == 404, (path, resp and resp.status)
        assert not _leaked(site, resp.body()), path
        api = page.request.get(site.url + path)
        try:
            assert api.status == 404, (path, api.status)
            assert not _leaked(site, api.body()), path
        finally:
            api.dispose()


def test_compare_with_an_escaping_run_is_404(site: Server) -> None:
    assert site.get("/compare?run=runs/a")[0] == 200
    for path in ["/compare?run=runs/..%2foutside", "/compare?run=runs/a&run=..%2f..%2fetc%2fpasswd"]:
        status, body = site.get(path)
        assert (path, status) == (path, 404)
        assert not _leaked(site, body), path
