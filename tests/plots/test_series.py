"""The pure logic of plots: series per run and rank, non-finite points, smoothing, file names."""

from __future__ import annotations

import math

import pytest

from vrx_core.events import Metric, RunStart, WriterInfo
from vrx_plugins.plots.series import (
    MetricFold,
    Points,
    build_series,
    file_name,
    file_stem,
    match_metrics,
    plot_title,
    to_series,
    trailing_mean,
)


def _start(rank: int | None = None, name: str | None = None, t: float = 100.0) -> RunStart:
    writer = WriterInfo(host="h", pid=1)
    return RunStart(run_id="r-1", format_major=1, format_minor=0, writer=writer, name=name, t=t, rank=rank)


def test_non_finite_points_are_split_out_by_kind_and_keep_their_x() -> None:
    """NaN, +Inf and -Inf leave the line and are kept, each kind apart, at their x."""
    pts = Points()
    for x, v in enumerate([1.0, math.nan, 2.0, math.inf, -math.inf, 3.0, math.nan]):
        pts.x.append(float(x))
        pts.values.append(v)
    s = to_series("run", pts)
    assert (s.x, s.y) == ([0.0, 2.0, 5.0], [1.0, 2.0, 3.0])
    assert (s.nan_x, s.pos_inf_x, s.neg_inf_x) == ([1.0, 6.0], [3.0], [4.0])
    assert s.non_finite == 4
    assert s.smoothed is None


def test_smoothing_averages_finite_points_only() -> None:
    """The trailing mean runs over the finite points: a NaN neither enters nor breaks the window."""
    pts = Points()
    for x, v in enumerate([1.0, 3.0, math.nan, 5.0, 7.0]):
        pts.x.append(float(x))
        pts.values.append(v)
    s = to_series("run", pts, smooth=2)
    assert s.smoothed == [1.0, 2.0, 4.0, 6.0]
    assert s.nan_x == [2.0]


def test_trailing_mean() -> None:
    """Each point is the mean of it and up to K-1 before it; K=1 is the identity; K must be >= 1."""
    assert trailing_mean([1.0, 2.0, 3.0, 4.0], 3) == [1.0, 1.5, 2.0, 3.0]
    assert trailing_mean([1.0, 2.0], 1) == [1.0, 2.0]
    assert trailing_mean([], 4) == []
    with pytest.raises(ValueError, match="k must be >= 1"):
        trailing_mean([1.0], 0)


def test_trailing_mean_does_not_drift_over_long_series() -> None:
    """Over 100k points of mixed magnitudes each mean stays within rounding of the exact one: the
    running sum is re-summed exactly every K points, so its error never accumulates."""
    values = [1e8 + i if i % 3 else 1e-3 * i for i in range(100_000)]
    k = 10
    got = trailing_mean(values, k)
    for i in range(0, len(values), 997):
        window = values[max(0, i - k + 1) : i + 1]
        assert got[i] == pytest.approx(math.fsum(window) / len(window), rel=1e-12, abs=0.0)


def test_fold_places_points_by_step_or_by_index_and_by_time() -> None:
    """x=step uses the step (the index in the series without one); x=time is t less the first event's t."""
    by_step, by_time = MetricFold("step"), MetricFold("time")
    events = [Metric("loss", 1.0, 10, t=101.0), Metric("loss", 2.0, t=102.5), Metric("acc", 0.5, 3, t=104.0)]
    for fold in (by_step, by_time):
        fold.run_start(_start(t=100.0))
        for ev in events:
            fold.add(ev)
    assert list(by_step.points["loss"][None].x) == [10.0, 1.0]
    assert list(by_time.points["loss"][None].x) == [1.0, 2.5]
    assert by_step.names == ["acc", "loss"]
    assert by_step.count == 3


def test_ranks_are_series_labelled_run_at_rank() -> None:
    """A multi-rank run gives one series per rank, run@rankN, in rank order; runs keep their order."""
    multi, single = MetricFold(), MetricFold()
    for rank in (1, 0):
        multi.run_start(_start(rank=rank, name="ddp"))
        multi.add(Metric("loss", 1.0 + rank, 0, rank=rank))
    single.add(Metric("loss", 3.0, 0))
    labels = [s.label for s in build_series([("solo", single), ("ddp", multi)], "loss")]
    assert labels == ["solo", "ddp@rank0", "ddp@rank1"]
    assert multi.name == "ddp"
    assert build_series([("solo", single)], "missing") == []


def test_the_run_is_named_by_rank_zero_then_by_run_id() -> None:
    """The run's name comes from the log: rank 0's run_start wins, its run_id stands in for a name."""
    fold = MetricFold()
    fold.run_start(_start(rank=2, name="late"))
    fold.run_start(_start(rank=0, name="first"))
    fold.run_start(_start(rank=1, name="other"))
    assert fold.name == "first"
    unnamed = MetricFold()
    unnamed.run_start(_start())
    assert unnamed.name == "r-1"


@pytest.mark.parametrize(
    ("metric", "stem"),
    [
        ("loss", "loss"),
        ("train/loss", "train%2Floss"),
        ("train_loss", "train_loss"),
        ("a b%c", "a%20b%25c"),
        (".hidden", "%2Ehidden"),
        ("..", "%2E."),
        ("v1.2-x", "v1.2-x"),
        ("é", "%C3%A9"),
        ("", "%"),
    ],
)
def test_file_stems(metric: str, stem: str) -> None:
    """Safe characters stay, every other UTF-8 byte (and a leading dot) is %XX."""
    assert file_stem(metric) == stem
    assert file_name(metric) == f"{stem}.png"


def test_file_names_never_collide() -> None:
    """Names that a plain replace-by-underscore rule would merge get distinct files."""
    names = ["a/b", "a_b", "a%2Fb", "a b", "a:b", ".x", "%2Ex", "", "%", "x" * 300, "x" * 301]
    stems = [file_stem(n) for n in names]
    assert len(set(stems)) == len(names)
    assert all(len(s.encode()) <= 200 and "/" not in s for s in stems)


def test_long_names_are_cut_and_hashed() -> None:
    stem = file_stem("m" * 500)
    assert stem.startswith("m" * 160 + "~") and len(stem) == 177


def test_metric_globs() -> None:
    """--metric globs are fnmatch, case-sensitive, unioned; none given selects every metric."""
    names = ["train/loss", "val/loss", "lr", "Loss"]
    assert match_metrics(names, []) == sorted(names)
    assert match_metrics(names, ["*/loss"]) == ["train/loss", "val/loss"]
    assert match_metrics(names, ["lr", "L*"]) == ["Loss", "lr"]
    assert match_metrics(names, ["nope"]) == []


def test_titles_say_when_smoothed() -> None:
    assert plot_title("loss") == "loss"
    assert plot_title("loss", 5) == "loss (trailing mean of 5)"
