"""Web view latency: how long a metric takes from ``emit`` to ``vrx serve``'s clients, browser included.

A writer process records a run under a temporary root and, once every receiver is connected and
caught up, emits ``--events`` metrics (``bench/latency``, default 500) at ``--rate`` per second
(default 50). A real ``vrx serve ROOT`` subprocess serves the run. Each event carries ``t``, the
writer's ``time.time()`` at emit; every receiver stamps the wall clock on arrival, and latency is
arrival minus ``t``, per event, over all of them. The receivers, all attached to the same run at
once:

  floor:             a bare follower process (``vrx_core.follow``, inotify: what ``vrx tail`` reads
                     with), the least any view of the log can do;
  sse (httpx):       a process reading ``GET /api/run/{id}/stream`` with httpx, stamping each
                     ``data:`` line as it arrives;
  browser sse:       Chromium (Playwright) on the run page, with an ``EventSource`` of its own on the
                     stream, stamping ``performance.timeOrigin + performance.now()`` per message;
  browser chart:     the same page's own chart: a ``MutationObserver`` stamps every change of the
                     chart's ``data-points``; event k counts as shown when ``data-points`` >= k.

Prints progress, then a table (p50/p95/p99/max per path and each path's median over the floor's),
and writes bench/results/web_latency.json. Exit 1 when a web path's p99 misses 100 ms.

    python bench/web_latency.py [--events 500] [--rate 50] [--json-out PATH] [--no-browser] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import multiprocessing as mp
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "web_latency.json"
METRIC = "bench/latency"
TARGET_P99_MS = 100.0
#: Debian's chromium (``apt-get install chromium``), and the flags that keep it headless and quiet on
#: the network (without the background-networking ones it keeps calling Google's services).
CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
URL_RE = re.compile(r"https?://[^\s'\"]+")


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """``vrx serve ROOT... --port P`` as a subprocess, answering once constructed; ``close()`` ends it."""

    def __init__(self, roots: list[Path], *, timeout: float = 30.0) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "vrx_core", "serve", *map(str, roots)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("VRX_PLUGINS_DIR", None)
        self.p = subprocess.Popen(
            [*argv, "--port", str(self.port), "--host", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.lines: deque[str] = deque(maxlen=200)
        self._url = threading.Event()
        self.url = ""
        assert self.p.stdout is not None
        self._thread = threading.Thread(target=self._pump, args=(self.p.stdout,), daemon=True)
        self._thread.start()
        try:
            self._wait(timeout)
        except BaseException:
            self.close()
            raise

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = URL_RE.search(line)
            if m and not self._url.is_set():
                self.url = m.group(0).rstrip("/.,)")
                self._url.set()

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._url.wait(0.05):
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise RuntimeError("vrx serve printed no URL:\n" + "\n".join(self.lines))
        while True:
            with contextlib.suppress(OSError):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                try:
                    conn.request("GET", "/api/runs")
                    if conn.getresponse().status == 200:
                        return
                finally:
                    conn.close()
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise RuntimeError("vrx serve is not answering /api/runs:\n" + "\n".join(self.lines))
            time.sleep(0.05)

    def close(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)
        self._thread.join(timeout=10)
        if self.p.stdout is not None:
            self.p.stdout.close()

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chromium(pw: Any) -> Any:
    """Launch Debian's Chromium through Playwright (``pw``: a started sync_playwright)."""
    return pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


# -- the processes ------------------------------------------------------------------------------


def _writer(run_dir: str, n: int, rate: float, sync: tuple[Any, Any]) -> None:
    from vrx_core import Recorder
    from vrx_core.events import Metric, Params, Plan

    ready, go = sync
    with Recorder(run_dir) as rec:
        rec.emit(Params(values={"events": n, "rate": rate}))
        rec.emit(Plan(total=n))
        ready.set()
        go.wait()
        interval = 1.0 / rate
        start = time.monotonic()
        for i in range(1, n + 1):
            delay = start + (i - 1) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            rec.emit(Metric(name=METRIC, value=float(i), step=i))
            if i % max(1, n // 5) == 0 or i == n:
                print(f"  writer: {i}/{n} emitted", flush=True)


def _floor(run_dir: str, n: int, ready: Any, out: Any) -> None:
    from vrx_core.events import Metric, Params
    from vrx_core.follow.follower import follow

    got: dict[int, float] = {}
    for ev in follow(run_dir, timeout=600):
        now = time.time()
        if isinstance(ev, Params):
            ready.set()
        elif isinstance(ev, Metric) and ev.name == METRIC and ev.step is not None:
            got[ev.step] = now - ev.t
            if len(got) >= n:
                break
    out.put(("floor", got, {}))


def _sse(url: str, n: int, ready: Any, out: Any) -> None:
    import httpx

    got: dict[int, float] = {}
    sent: dict[int, float] = {}
    with (
        httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
        client.stream("GET", url, headers={"Accept": "text/event-stream"}) as resp,
    ):
        resp.raise_for_status()
        for line in resp.iter_lines():
            now = time.time()
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("kind") == "end":
                break
            ev = msg.get("event") if msg.get("kind") == "event" else None
            if not ev:
                continue
            if ev.get("type") == "params":
                ready.set()
            elif ev.get("type") == "metric" and ev.get("name") == METRIC:
                got[int(ev["step"])] = now - float(ev["t"])
                sent[int(ev["step"])] = float(ev["t"])
                if len(got) >= n:
                    break
    out.put(("sse", got, sent))


# -- the browser --------------------------------------------------------------------------------

#: Installed before the page's own scripts: stamps every change of the chart's data-points.
OBSERVE_CHART = """
(() => {
  const metric = %s;
  window.__chart = [];
  const stamp = () => performance.timeOrigin + performance.now();
  const look = (el) => {
    if (el.nodeType === 1 && el.matches('div.chart') && el.dataset.metric === metric && el.dataset.points)
      window.__chart.push([stamp(), Number(el.dataset.points)]);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') look(r.target);
      else for (const node of r.addedNodes) {
        if (node.nodeType !== 1) continue;
        look(node);
        node.querySelectorAll && node.querySelectorAll('div.chart').forEach(look);
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-points']});
})();
"""

#: An EventSource of the benchmark's own on the run's stream, in the page.
LISTEN = """
([url, metric]) => new Promise((resolve) => {
  window.__sse = [];
  window.__sseReady = false;
  const es = new EventSource(url);
  window.__es = es;
  es.onmessage = (e) => {
    const now = performance.timeOrigin + performance.now();
    const msg = JSON.parse(e.data);
    if (msg.kind === 'end') { es.close(); return; }
    if (msg.kind !== 'event') return;
    const ev = msg.event;
    if (ev.type === 'params') { window.__sseReady = true; resolve(true); }
    else if (ev.type === 'metric' && ev.name === metric) window.__sse.push([now, ev.step, ev.t]);
  };
})
"""


class BrowserProbe:
    """The run page in Chromium, with the chart observer and an EventSource of its own."""

    def __init__(self, page_url: str, stream_url: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw_cm = sync_playwright()
        self.pw = self._pw_cm.__enter__()
        try:
            self.browser = chromium(self.pw)
            self.context = self.browser.new_context(viewport={"width": 1280, "height": 800})
            self.page = self.context.new_page()
            self.page.add_init_script(OBSERVE_CHART % json.dumps(METRIC))
            self.page.goto(page_url, wait_until="load")
            self.page.evaluate(LISTEN, [stream_url, METRIC])
        except BaseException:
            self.close()
            raise

    def wait_done(self, n: int, timeout: float) -> None:
        with contextlib.suppress(Exception):  # a timeout is reported as missing events
            self.page.wait_for_function(
                "(n) => window.__sse.length >= n", arg=n, timeout=timeout * 1000, polling=100
            )
        # The chart may trail the stream by a redraw; give it a moment.
        with contextlib.suppress(Exception):
            self.page.wait_for_function(
                "(n) => window.__chart.some(([, k]) => k >= n)", arg=n, timeout=2000, polling=100
            )

    def clock_offset_ms(self) -> tuple[float, float]:
        """The page's clock (timeOrigin + now) minus time.time(), and the uncertainty (half a round trip)."""
        best = (0.0, math.inf)
        for _ in range(5):
            t0 = time.time()
            js = float(self.page.evaluate("performance.timeOrigin + performance.now()"))
            t1 = time.time()
            if (t1 - t0) * 500 < best[1]:
                best = (js - (t0 + t1) * 500, (t1 - t0) * 500)
        return best

    def results(self) -> tuple[list[list[float]], list[list[float]]]:
        sse = self.page.evaluate("window.__sse")
        chart = self.page.evaluate("window.__chart")
        return sse, chart

    def close(self) -> None:
        for obj in ("page", "context", "browser"):
            if hasattr(self, obj):
                with contextlib.suppress(Exception):
                    getattr(self, obj).close()
        self._pw_cm.__exit__(None, None, None)


# -- stats ----------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summarize(path: str, lat_s: list[float], expected: int, floor_p50: float | None) -> dict[str, Any]:
    if not lat_s:
        return {"path": path, "events": 0, "expected": expected}
    ms = [x * 1000 for x in lat_s]
    row: dict[str, Any] = {
        "path": path,
        "events": len(ms),
        "expected": expected,
        "p50_ms": _pct(ms, 0.50),
        "p95_ms": _pct(ms, 0.95),
        "p99_ms": _pct(ms, 0.99),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "mean_ms": statistics.fmean(ms),
    }
    if floor_p50:
        row["p50_over_floor"] = row["p50_ms"] / floor_p50
    return row


def chart_latencies(chart: list[list[float]], sent: dict[int, float], n: int) -> tuple[list[float], str]:
    """Event k is shown at the first stamp with data-points >= k; latency = that - its t."""
    if not chart:
        return [], "the chart's data-points never changed"
    counts = [int(k) for _, k in chart]
    if any(b < a for a, b in itertools.pairwise(counts)):
        return [], f"data-points went down ({counts[:10]}...): the chart thins its points"
    if counts[-1] < n:
        return [], f"the chart shows {counts[-1]} of {n} points"
    lat: list[float] = []
    j = 0
    for k in range(1, n + 1):
        while j < len(chart) and chart[j][1] < k:
            j += 1
        if j < len(chart) and k in sent:
            lat.append(chart[j][0] / 1000 - sent[k])
    return lat, ""


# -- main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from vrx_core.follow.watch import fs_type

    ctx = mp.get_context("spawn")
    base = Path(tempfile.mkdtemp(prefix="vrx-web-bench-", dir=args.dir))
    root = base / "runs"
    run_dir = root / "lat"
    run_id = f"{root.name}/{run_dir.relative_to(root).as_posix()}"
    n = args.events
    browser = not args.no_browser
    print(
        f"runs in {base} ({fs_type(base)}); {os.cpu_count()} CPUs (load {os.getloadavg()[0]:.2f});"
        f" Python {platform.python_version()}"
    )
    print(
        f"writer: {n} events at {args.rate:g}/s ({n / args.rate:.1f} s); receivers: floor, sse (httpx)"
        + (", browser sse, browser chart" if browser else "")
    )

    out = ctx.Queue()
    w_ready, go = ctx.Event(), ctx.Event()
    writer = ctx.Process(target=_writer, args=(str(run_dir), n, args.rate, (w_ready, go)))
    writer.start()
    deadline = time.monotonic() + 60
    while not w_ready.wait(0.1):
        if not writer.is_alive() or time.monotonic() > deadline:
            writer.terminate()
            raise RuntimeError(f"the writer did not start (exit {writer.exitcode})")
    print("  writer: run started, waiting for the receivers", flush=True)
    procs = [writer]
    probe: BrowserProbe | None = None
    b_sse: list[list[float]] = []
    b_chart: list[list[float]] = []
    offset = (0.0, 0.0)
    results: dict[str, tuple[dict[int, float], dict[int, float]]] = {}
    try:
        with Serve([root]) as srv:
            print(f"  vrx serve: {srv.url}", flush=True)
            stream_url = f"{srv.url}/api/run/{run_id}/stream"
            f_ready, s_ready = ctx.Event(), ctx.Event()
            floor = ctx.Process(target=_floor, args=(str(run_dir), n, f_ready, out))
            sse = ctx.Process(target=_sse, args=(stream_url, n, s_ready, out))
            for p in (floor, sse):
                p.start()
                procs.append(p)
            if browser:
                probe = BrowserProbe(f"{srv.url}/run/{run_id}", f"/api/run/{run_id}/stream")
                print("  browser: run page open, EventSource connected", flush=True)
            if not (f_ready.wait(60) and s_ready.wait(60)):
                raise RuntimeError("a receiver did not catch up with the run")
            print("  floor and sse: caught up; go", flush=True)
            time.sleep(0.5)
            t0 = time.monotonic()
            go.set()
            writer.join()
            print(f"  writer: done in {time.monotonic() - t0:.1f} s", flush=True)
            for _ in range(2):
                name, got, sent = out.get(timeout=60)
                results[name] = (got, sent)
            if probe is not None:
                probe.wait_done(n, timeout=30)
                b_sse, b_chart = probe.results()
                offset = probe.clock_offset_ms()
            for p in procs:
                p.join(timeout=30)
    finally:
        if probe is not None:
            probe.close()
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()

    floor_lat = list(results["floor"][0].values())
    floor_p50 = _pct([x * 1000 for x in floor_lat], 0.5) if floor_lat else None
    sse_got, sent = results["sse"]
    rows = [
        summarize("floor (follow, inotify)", floor_lat, n, floor_p50),
        summarize("sse (httpx)", list(sse_got.values()), n, floor_p50),
    ]
    notes: dict[str, str] = {}
    if probe is not None:
        rows.append(summarize("browser sse (EventSource)", [r[0] / 1000 - r[2] for r in b_sse], n, floor_p50))
        chart_lat, why = chart_latencies(b_chart, sent, n)
        rows.append(summarize("browser chart (data-points)", chart_lat, n, floor_p50))
        if why:
            notes["browser chart (data-points)"] = why
    return {
        "benchmark": "web_latency",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "fs": fs_type(base),
            "loadavg_1m_at_end": os.getloadavg()[0],
        },
        "writer": {"events": n, "rate_per_s": args.rate},
        "clock": "time.time() on every side (browser: performance.timeOrigin + performance.now()); "
        "latency = arrival - the event's t (the writer's time.time() at emit)",
        "browser_clock_offset_ms": None if probe is None else {"offset": offset[0], "uncertainty": offset[1]},
        "latency": rows,
        "notes": notes,
        "targets": {"p99_ms_web_paths": TARGET_P99_MS},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500, help="metrics the writer emits (default 500)")
    ap.add_argument("--rate", type=float, default=50.0, help="events per second (default 50)")
    ap.add_argument(
        "--json-out", type=Path, default=RESULTS, help=f"default {RESULTS.relative_to(HERE.parent)}"
    )
    ap.add_argument("--no-browser", action="store_true", help="only the floor and the httpx SSE client")
    ap.add_argument("--dir", type=Path, default=None, help="where the run is written (default: a temp dir)")
    args = ap.parse_args()
    if not args.no_browser and not CHROMIUM.is_file():
        ap.error(f"{CHROMIUM} not found (apt-get install chromium), or pass --no-browser")

    result = run(args)
    print(f"\n  {'path':<30} {'n':>9} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  {'p50/floor':>9}")
    for row in result["latency"]:
        if not row["events"]:
            note = result["notes"].get(row["path"], "no events received")
            print(f"  {row['path']:<30} {0:>4}/{row['expected']:<4} {note}")
            continue
        ratio = f"{row['p50_over_floor']:8.1f}x" if "p50_over_floor" in row else ""
        print(
            f"  {row['path']:<30} {row['events']:>4}/{row['expected']:<4}"
            f" {row['p50_ms']:8.2f} {row['p95_ms']:8.2f} {row['p99_ms']:8.2f} {row['max_ms']:8.2f}"
            f"  {ratio:>9}"
        )
    print("  (milliseconds from emit to arrival)")
    off = result["browser_clock_offset_ms"]
    if off is not None:
        print(f"  browser clock minus time.time(): {off['offset']:+.2f} ms (+-{off['uncertainty']:.2f})")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json_out}")
    web = [r for r in result["latency"] if not r["path"].startswith("floor")]
    ok = all(r["events"] == r["expected"] and r["p99_ms"] < TARGET_P99_MS for r in web)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
