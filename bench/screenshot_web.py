"""The screenshots of ``vrx serve`` in docs/web.md: a demo root served, photographed by Chromium.

Records a small demo root under a temporary directory: three finished runs (one that failed) and
one live run, a noisy training loop (``train/loss``, ``val/loss``, ``val/acc``, ``lr``,
``throughput``, params, a plan, and a ``grad_norm`` that goes NaN once, so an alert shows), then
serves it with ``vrx serve`` and saves, at 1280x800 in Debian's Chromium:

  docs/img/web_runs.png   the runs page
  docs/img/web_run.png    the live run's page, while it is being written

    python bench/screenshot_web.py [--out docs/img] [--keep]

Needs ``/usr/lib/chromium/chromium`` (``apt-get install chromium``) and Playwright.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from web_latency import CHROMIUM, Serve, chromium

from vrx_core import Recorder
from vrx_core.events import Log, Metric, Params, Plan

ROOT = Path(__file__).resolve().parents[1]
STEPS = 300
LIVE_UPTO = 190
#: Seconds between steps while the demo root is recorded.
PACE = 0.012
VIEWPORT = {"width": 1280, "height": 800}


def emit_step(rec: Recorder, rng: random.Random, step: int, params: dict[str, float]) -> None:
    """One training step of a noisy, slowly converging loop."""
    lr0, floor = params["lr"], params["floor"]
    lr = lr0 * 0.5 * (1 + math.cos(math.pi * step / STEPS))
    loss = floor + 2.2 * math.exp(-step / 60) + rng.gauss(0, 0.06) * (1 + 2 * math.exp(-step / 80))
    rec.emit(Metric(name="train/loss", value=max(loss, 0.01), step=step))
    rec.emit(Metric(name="lr", value=lr, step=step))
    rec.emit(Metric(name="throughput", value=rng.gauss(2450, 60), step=step))
    grad = 1.5 * math.exp(-step / 120) + abs(rng.gauss(0, 0.1))
    rec.emit(Metric(name="grad_norm", value=math.nan if step == params.get("nan_at") else grad, step=step))
    if step % 10 == 0:
        val = floor + 0.08 + 2.2 * math.exp(-step / 65) + rng.gauss(0, 0.02)
        rec.emit(Metric(name="val/loss", value=val, step=step))
        rec.emit(Metric(name="val/acc", value=min(0.99, 0.97 - 0.85 * math.exp(-step / 70)), step=step))


def start_run(run_dir: Path, params: dict[str, float], rng: random.Random) -> Recorder:
    rec = Recorder(run_dir, name=run_dir.name, heartbeat_s=0.5)
    rec.emit(
        Params(
            values={
                "model": "resnet18",
                "dataset": "cifar10",
                "optimizer": "adamw",
                "lr": params["lr"],
                "weight_decay": 0.05,
                "batch_size": 256,
                "seed": int(params["seed"]),
            }
        )
    )
    rec.emit(Plan(total=STEPS))
    return rec


def record_finished(run_dir: Path, params: dict[str, float], status: str) -> None:
    rng = random.Random(int(params["seed"]))
    rec = start_run(run_dir, params, rng)
    last = STEPS if status == "ok" else 120
    for step in range(1, last + 1):
        emit_step(rec, rng, step, params)
        time.sleep(PACE)
    if status == "ok":
        rec.close("ok")
    else:
        rec.emit(Log(level="error", msg="CUDA error: an illegal memory access was encountered"))
        rec.close("error", "RuntimeError: CUDA error: an illegal memory access was encountered")


def record_demo(root: Path) -> tuple[Recorder, random.Random, dict[str, float]]:
    """Three finished runs, and the live one (returned open, at step LIVE_UPTO), recorded side by side
    for a few seconds (so that durations are not all 0 s)."""
    finished = [
        ("resnet18-lr3e-3", {"lr": 3e-3, "floor": 0.21, "seed": 1}, "ok"),
        ("resnet18-lr1e-2", {"lr": 1e-2, "floor": 0.35, "seed": 2}, "error"),
        ("resnet18-lr1e-3", {"lr": 1e-3, "floor": 0.26, "seed": 3}, "ok"),
    ]
    threads = [
        threading.Thread(target=record_finished, args=(root / "cifar" / name, params, status))
        for name, params, status in finished
    ]
    for th in threads:
        th.start()
    params = {"lr": 2e-3, "floor": 0.18, "seed": 4, "nan_at": 150}
    rng = random.Random(4)
    live = start_run(root / "cifar" / "resnet18-lr2e-3", params, rng)
    for step in range(1, LIVE_UPTO + 1):
        emit_step(live, rng, step, params)
        time.sleep(PACE)
    for th in threads:
        th.join()
    return live, rng, params


def keep_writing(rec: Recorder, rng: random.Random, params: dict[str, float], stop: threading.Event) -> None:
    step = LIVE_UPTO
    while not stop.wait(0.1) and step < STEPS - 1:
        step += 1
        emit_step(rec, rng, step, params)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="default docs/img")
    ap.add_argument("--keep", action="store_true", help="keep the demo root (its path is printed)")
    args = ap.parse_args()
    if not CHROMIUM.is_file():
        ap.error(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="vrx-web-shot-"))
    root = base / "runs"
    print(f"recording the demo root in {root}", flush=True)
    live, rng, params = record_demo(root)
    stop = threading.Event()
    writing = threading.Thread(target=keep_writing, args=(live, rng, params, stop), daemon=True)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with Serve([root]) as srv, sync_playwright() as pw:
            print(f"vrx serve: {srv.url}", flush=True)
            writing.start()
            browser = chromium(pw)
            try:
                context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                page = context.new_page()
                page.goto(srv.url, wait_until="load")
                page.wait_for_selector("table#runs tr[data-run-id]")
                time.sleep(1.0)
                runs_png = args.out / "web_runs.png"
                page.screenshot(path=str(runs_png))
                print(f"wrote {runs_png}", flush=True)
                page.goto(f"{srv.url}/run/runs/cifar/resnet18-lr2e-3", wait_until="load")
                page.wait_for_selector('div.chart[data-metric="train/loss"][data-points]')
                page.wait_for_selector('#alerts li.alert[data-kind="nan"]')
                time.sleep(2.0)  # a few live points land
                run_png = args.out / "web_run.png"
                page.screenshot(path=str(run_png))
                print(f"wrote {run_png}", flush=True)
                page.close()
                context.close()
            finally:
                browser.close()
    finally:
        stop.set()
        if writing.is_alive():
            writing.join()
        live.close("ok")
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
