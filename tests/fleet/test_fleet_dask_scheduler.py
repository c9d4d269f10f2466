"""``vrx fleet replay --address``: a Dask scheduler and a worker started apart, on the loopback
interface, as a real cluster would be; a client whose plugin differs from the worker's is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fleet_harness import make_fleet

pytest.importorskip("distributed")

PLUGIN = """\
from vrx_core import DerivedFiles, Deriver, ReplayContext, hookimpl

__version__ = "{version}"


class Lines(Deriver):
    outputs = frozenset({{"lines.json"}})

    def __init__(self) -> None:
        self.n = 0

    def on_event(self, event) -> None:
        self.n += 1

    def finish(self, out: DerivedFiles) -> None:
        out.write_json("lines.json", {{"events": self.n, "by": "{version}"}})


@hookimpl
def vrx_deriver(context: ReplayContext) -> Deriver:
    return Lines()
"""


def _env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VRX_")}
    env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _module(directory: Path, version: str) -> Path:
    directory.mkdir()
    (directory / "fleetmod.py").write_text(PLUGIN.format(version=version))
    return directory


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A scheduler on 127.0.0.1 (a free port) and one worker that imports fleetmod version 1."""
    workers_path = _module(tmp_path / "v1", "1")
    env = _env(workers_path)
    sfile = tmp_path / "scheduler.json"
    log = (tmp_path / "cluster.log").open("wb")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(sfile)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (sfile.exists() and sfile.stat().st_size) and time.monotonic() < deadline:
            assert procs[0].poll() is None, (tmp_path / "cluster.log").read_text()
            time.sleep(0.05)
        address = json.loads(sfile.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            )
        )  # fmt: skip
        yield address, workers_path
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def _vrx(*args: str, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vrx_core", *args],
        env=_env(pythonpath), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_replay_on_a_scheduler_and_worker_started_apart(tmp_path: Path, cluster: tuple[str, Path]) -> None:
    address, workers_path = cluster
    root = make_fleet(tmp_path / "f", good=3, crashed=False, broken=False, bad=False)
    r = _vrx("fleet", "replay", str(root), "-p", "fleetmod", "--address", address, "--json",
             pythonpath=workers_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["engine"] == "dask" and data["counts"]["replayed"] == 3
    assert json.loads((root / "g0" / "run-00" / "lines.json").read_text())["by"] == "1"
    # A client with fleetmod 2: the worker (fleetmod 1) refuses every chunk, naming the difference.
    other = _module(tmp_path / "v2", "2")
    r = _vrx("fleet", "replay", str(root), "-p", "fleetmod", "--address", address, "--force", "--json",
             pythonpath=other)  # fmt: skip
    assert r.returncode == 1, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [row["status"] for row in rows] == ["failed"] * 3
    reason = rows[0]["reason"]
    assert reason.startswith("worker plugin set differs (") and "): fleetmod 1 (code " in reason
    assert reason.endswith(") on the client") and ") here, 2 (code " in reason
    assert json.loads((root / "g0" / "run-00" / "lines.json").read_text())["by"] == "1"
