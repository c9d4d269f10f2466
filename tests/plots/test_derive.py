"""The plots deriver: one PNG per metric by replay, byte-stable, covered by `vrx replay --check`."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vrx_core.events import Event, Log, Metric
from vrx_core.log.writer import Recorder
from vrx_core.testing import PluginContract, make_plugins, read_files, replay_to_dict, write_log
from vrx_plugins import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def training_events() -> list[Event]:
    events: list[Event] = []
    for step in range(12):
        loss = math.nan if step == 7 else 2.0 / (step + 1)
        events += [Metric("train/loss", loss, step), Metric("lr", 1e-3 * (step + 1), step)]
    events.append(Metric("val loss", math.inf, 11))
    return events


class TestPlotsContract(PluginContract):
    """Replay twice == once, in parts == in one pass, and no wall clock in the bytes."""

    plugin = plots

    def events(self) -> list[Event]:
        return training_events()


def test_one_png_per_metric_named_by_the_rule(tmp_path: Path) -> None:
    ps = make_plugins(plots)
    run = write_log(tmp_path / "run", training_events(), plugins=ps)
    files = replay_to_dict(run, ps, tmp_path / "out")
    pngs = sorted(k for k in files if k.startswith("plots/"))
    assert pngs == ["plots/lr.png", "plots/train%2Floss.png", "plots/val%20loss.png"]
    assert all(files[k].startswith(PNG_MAGIC) for k in pngs)


def test_png_bytes_hold_no_version_or_time(tmp_path: Path) -> None:
    """No Software (matplotlib version) or creation-time chunk: the bytes follow the log alone."""
    import matplotlib

    ps = make_plugins(plots)
    run = write_log(tmp_path / "run", training_events(), plugins=ps)
    png = replay_to_dict(run, ps, tmp_path / "out")["plots/lr.png"]
    assert b"matplotlib" not in png and matplotlib.__version__.encode() not in png
    assert b"tEXt" not in png and b"tIME" not in png


def test_bytes_survive_delete_and_replay_and_check_passes(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the plots and replaying gives the same bytes; `vrx replay --check` sees no drift."""
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "plots")
    run = write_log(tmp_path / "run", training_events())
    assert cli("replay", str(run)).code == 0
    first = read_files(run / "plots")
    shutil.rmtree(run / "plots")
    assert cli("replay", str(run)).code == 0
    assert read_files(run / "plots") == first
    r = cli("replay", "--check", str(run))
    assert r.code == 0, r.err
    assert "no drift" in r.out


def test_check_catches_a_changed_plot(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plot edited after replay is drift, so --check covers plots."""
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "plots")
    run = write_log(tmp_path / "run", training_events())
    r = cli("replay", str(run))
    assert r.code == 0, r.err
    (run / "plots" / "lr.png").write_bytes(PNG_MAGIC)
    r = cli("replay", "--check", str(run))
    assert r.code != 0
    assert "lr.png" in r.out + r.err


def test_a_run_without_metrics_gets_no_plots(tmp_path: Path) -> None:
    ps = make_plugins(plots)
    run = write_log(tmp_path / "run", [Log(msg="hello")], plugins=ps)
    files = replay_to_dict(run, ps, tmp_path / "out")
    assert not [k for k in files if k.startswith("plots/")]


def test_multi_rank_plot_differs_from_one_rank(tmp_path: Path) -> None:
    """A multi-rank run's plot holds a series per rank (so a legend): it differs from rank 0 alone."""
    ps = make_plugins(plots)
    multi, single = tmp_path / "multi", tmp_path / "single"
    for rank in (0, 1):
        with Recorder(multi, rank=rank, world_size=2, name="ddp", durability="os") as rec:
            for step in range(5):
                rec.emit(Metric("loss", 1.0 / (step + 1) + rank, step))
    write_log(single, [Metric("loss", 1.0 / (s + 1), s) for s in range(5)], plugins=ps)
    got = replay_to_dict(multi, ps, tmp_path / "out-multi")
    assert got["plots/loss.png"].startswith(PNG_MAGIC)
    assert got["plots/loss.png"] != replay_to_dict(single, ps, tmp_path / "out-single")["plots/loss.png"]
    assert replay_to_dict(multi, ps, tmp_path / "again")["plots/loss.png"] == got["plots/loss.png"]


WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None
from vrx_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _vrx_without_matplotlib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, *args], capture_output=True, text=True, check=False
    )


def test_without_matplotlib_replay_derives_the_rest(tmp_path: Path) -> None:
    """No matplotlib: one warning line naming the extra, no plots, the other plugins' files still derived."""
    run = write_log(tmp_path / "run", training_events())
    r = _vrx_without_matplotlib("replay", str(run), "-p", "no:query", "-p", "no:web")
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "matplotlib" in line]
    assert warnings == [
        "vrx: warning: plots: matplotlib is not installed, no plots derived: pip install 'vrx-core[plot]'"
    ]
    assert "Traceback" not in r.stderr
    assert not (run / "plots").exists()
    assert (run / "summary.json").exists()


def test_without_matplotlib_the_deriver_is_none() -> None:
    """The hook answers None, so `vrx plugins` and replay simply leave plots out."""
    code = (
        "import sys\nsys.modules['matplotlib'] = None\n"
        "from vrx_core.events import core_registry\n"
        "from vrx_core.hooks.api import ReplayContext\n"
        "import vrx_plugins.plots as p\n"
        "print(p.vrx_deriver(context=ReplayContext(run_dir=None, out_dir=None, registry=core_registry())))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "None"


@pytest.mark.parametrize("module", ["vrx_plugins.plots"])
def test_importing_the_plugin_loads_nothing_heavy(module: str) -> None:
    heavy = "('matplotlib', 'numpy')"
    code = f"import sys, {module}\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
