"""`vrx plot`: files, overlays, the same bytes as the deriver, and its errors and exit codes."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vrx_core.events import Metric
from vrx_core.log.writer import Recorder
from vrx_core.testing import write_log
from vrx_plugins.plots.render import draw_axes, metric_png
from vrx_plugins.plots.series import MetricFold, build_series

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def only_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the plots plugin alone: the claims are about it, whatever else is installed."""
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "plots")


def _run(path: Path, name: str, scale: float = 1.0, nan_at: int | None = None) -> Path:
    with Recorder(path, name=name, durability="os", environment=False) as rec:
        for step in range(20):
            value = math.nan if step == nan_at else scale / (step + 1)
            rec.emit(Metric("train/loss", value, step))
            rec.emit(Metric("lr", 1e-3, step))
    return path


def test_one_png_per_metric_paths_on_stdout(tmp_path: Path, cli) -> None:
    run = _run(tmp_path / "a", "a")
    out = tmp_path / "plots"
    r = cli("plot", str(run), "--out", str(out))
    assert r.code == 0, r.err
    assert r.out.splitlines() == [str(out / "lr.png"), str(out / "train%2Floss.png")]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in out.iterdir())


def test_default_out_is_plots_in_the_current_directory(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(tmp_path / "a", "a")
    monkeypatch.chdir(tmp_path)
    r = cli("plot", str(run), "--metric", "lr")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["lr.png"]


def test_one_run_with_defaults_is_what_replay_derives(tmp_path: Path, cli) -> None:
    """One way to draw: `vrx plot RUN` writes the bytes of the derived RUN/plots/<metric>.png."""
    run = _run(tmp_path / "a", "a", nan_at=4)
    assert cli("replay", str(run)).code == 0
    assert cli("plot", str(run), "--out", str(tmp_path / "cmd")).code == 0
    for png in (run / "plots").iterdir():
        assert (tmp_path / "cmd" / png.name).read_bytes() == png.read_bytes()


def test_two_runs_overlay_with_a_legend(tmp_path: Path, cli) -> None:
    """Two runs give one plot per metric holding both series, named in a legend."""
    a, b = _run(tmp_path / "a", "a"), _run(tmp_path / "b", "b", scale=2.0)
    r = cli("plot", str(a), str(b), "--metric", "train/*", "--out", str(tmp_path / "two"))
    assert r.code == 0, r.err
    r1 = cli("plot", str(a), "--metric", "train/*", "--out", str(tmp_path / "one"))
    assert r1.code == 0
    name = "train%2Floss.png"
    assert (tmp_path / "two" / name).read_bytes() != (tmp_path / "one" / name).read_bytes()
    assert _legend([("a", _fold(a)), ("b", _fold(b))], "train/loss") == ["a", "b"]


def test_one_run_has_no_legend_unless_something_is_marked(tmp_path: Path) -> None:
    assert _legend([("a", _fold(_run(tmp_path / "a", "a")))], "train/loss") is None
    nan_run = _run(tmp_path / "n", "n", nan_at=3)
    assert _legend([("n", _fold(nan_run))], "train/loss") == ["NaN (1)"]


def test_non_finite_points_are_marked_on_the_edges(tmp_path: Path) -> None:
    """NaN and -Inf draw at the bottom edge, +Inf at the top, each at its x, with distinct markers."""
    with Recorder(tmp_path / "r", durability="os", environment=False) as rec:
        for step, v in enumerate([1.0, math.nan, 2.0, math.inf, -math.inf, 3.0]):
            rec.emit(Metric("loss", v, step))
    ax = _axes([("r", _fold(tmp_path / "r"))], "loss")
    marks = {
        line.get_marker(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.get_lines()
        if line.get_linestyle() == "None" and len(line.get_xdata())
    }
    assert marks == {"X": ([1.0], [0.0]), "^": ([3.0], [1.0]), "v": ([4.0], [0.0])}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["NaN (1)", "-Inf (1)", "+Inf (1)"]


def test_smoothing_draws_the_mean_over_the_raw_line(tmp_path: Path, cli) -> None:
    run = _run(tmp_path / "a", "a")
    r = cli("plot", str(run), "--smooth", "5", "--metric", "lr", "--x", "time", "--out", str(tmp_path / "s"))
    assert r.code == 0, r.err
    assert (tmp_path / "s" / "lr.png").read_bytes().startswith(PNG_MAGIC)
    fold = _fold(run)
    assert metric_png([("a", fold)], "lr", smooth=5) != metric_png([("a", fold)], "lr")


def test_a_multi_rank_run_has_a_series_per_rank(tmp_path: Path, cli) -> None:
    for rank in (0, 1):
        with Recorder(tmp_path / "ddp", rank=rank, world_size=2, name="ddp", durability="os") as rec:
            rec.emit(Metric("loss", 1.0 + rank, 0))
            rec.emit(Metric("loss", 0.5 + rank, 1))
    assert _legend([("ddp", _fold(tmp_path / "ddp"))], "loss") == ["ddp@rank0", "ddp@rank1"]
    assert cli("plot", str(tmp_path / "ddp"), "--out", str(tmp_path / "p")).code == 0


def test_runs_of_the_same_name_are_labelled_by_path(tmp_path: Path) -> None:
    from vrx_plugins.plots.cli import run_labels

    folds = [MetricFold(), MetricFold(), MetricFold()]
    folds[0].name = folds[1].name = "same"
    folds[2].name = "other"
    assert run_labels(["x/same", "y/same/", "z"], folds) == ["x/same", "y/same", "other"]


def test_missing_run_is_66(tmp_path: Path, cli) -> None:
    r = cli("plot", str(tmp_path / "nope"), "--out", str(tmp_path / "p"))
    assert r.code == 66
    assert r.err.strip() == f"vrx: {tmp_path / 'nope'}: no such run"


def test_no_metric_matched_names_the_metrics_there_are(tmp_path: Path, cli) -> None:
    run = _run(tmp_path / "a", "a")
    r = cli("plot", str(run), "--metric", "val*", "--out", str(tmp_path / "p"))
    assert r.code == 2
    assert r.err.strip() == "vrx: --metric 'val*' matched no metric; the runs have: lr, train/loss"
    assert not (tmp_path / "p").exists()


def test_a_run_without_metrics_is_66(tmp_path: Path, cli) -> None:
    run = write_log(tmp_path / "empty", [])
    r = cli("plot", str(run), "--out", str(tmp_path / "p"))
    assert r.code == 66
    assert "no metric events in" in r.err


@pytest.mark.parametrize("k", ["0", "-3", "two", "1.5"])
def test_bad_smooth_is_a_usage_error(tmp_path: Path, cli, k: str) -> None:
    r = cli("plot", str(tmp_path), "--smooth", k)
    assert r.code == 2
    assert "--smooth" in r.err


def test_help_explains_the_options(cli) -> None:
    r = cli("plot", "--help")
    assert r.code == 0
    for words in ("--metric GLOB", "--smooth K", "--out ./plots", "train%2Floss.png", "NaN", "69"):
        assert words in r.out


def test_without_matplotlib_one_line_and_69(tmp_path: Path) -> None:
    """A missing extra is one line naming it, exit 69, no traceback."""
    run = _run(tmp_path / "a", "a")
    code = (
        "import sys\nsys.modules['matplotlib'] = None\n"
        "from vrx_core.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "plot", str(run), "--out", str(tmp_path / "p")],
        capture_output=True, text=True, check=False,
    )
    assert r.returncode == 69
    assert r.stderr.splitlines() == [
        "vrx: vrx plot needs matplotlib, which is not installed: pip install 'vrx-core[plot]'"
    ]
    assert not (tmp_path / "p").exists()


def _fold(run: Path) -> MetricFold:
    from vrx_core.log.reader import default_registry
    from vrx_plugins.plots.cli import read_run

    return read_run(str(run), x_axis="step", registry=default_registry())


def _axes(runs: list[tuple[str, MetricFold]], metric: str) -> Any:
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    draw_axes(ax, build_series(runs, metric), ["C0", "C1", "C2"])
    return ax


def _legend(runs: list[tuple[str, MetricFold]], metric: str) -> list[str] | None:
    legend = _axes(runs, metric).get_legend()
    return None if legend is None else [t.get_text() for t in legend.get_texts()]
