"""Training loops produce numpy scalars, 0-d arrays and 0-d tensors: they record as exact numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vrx_core import Recorder, read_events
from vrx_core.codec import plain, plain_number
from vrx_core.events import Metric, Params


def _recorded(tmp_path: Path, *events: object) -> list[object]:
    with Recorder(tmp_path / "run") as rec:
        for ev in events:
            rec.emit(ev)  # type: ignore[arg-type]
    return [e for e in read_events(tmp_path / "run") if isinstance(e, Metric | Params)]


def test_numpy_metric_values_and_steps(tmp_path: Path) -> None:
    got = _recorded(
        tmp_path,
        Metric("a", np.float32(0.1), np.int64(1)),  # type: ignore[arg-type]
        Metric("b", np.float64(0.25), np.int32(2)),  # type: ignore[arg-type]
        Metric("c", np.array(1.5), np.array(3)),  # type: ignore[arg-type]
        Metric("d", np.float32("nan"), 4),  # type: ignore[arg-type]
    )
    assert [(m.name, m.value, m.step) for m in got[:3]] == [  # type: ignore[attr-defined]
        ("a", 0.10000000149011612, 1),  # float32's value, exactly, as its shortest double repr
        ("b", 0.25, 2),
        ("c", 1.5, 3),
    ]
    assert math.isnan(got[3].value)  # type: ignore[attr-defined]
    for m in got:
        assert type(m.value) is float and type(m.step) is int  # type: ignore[attr-defined]
    text = (tmp_path / "run" / "events.jsonl").read_text()
    assert '"value":0.10000000149011612' in text


def test_numpy_params_at_any_depth(tmp_path: Path) -> None:
    values = {"lr": np.float32(1e-3), "opt": {"betas": [np.float64(0.9), np.float32(0.999)], "n": np.int8(3)}}
    (params,) = _recorded(tmp_path, Params(values=values))
    assert params.values == {  # type: ignore[attr-defined]
        "lr": float(np.float32(1e-3)),
        "opt": {"betas": [0.9, float(np.float32(0.999))], "n": 3},
    }


def test_torch_zero_d_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    loss = torch.tensor(0.5, requires_grad=True) * 2
    got = _recorded(tmp_path, Metric("loss", loss, torch.tensor(7)), Params(values={"lr": torch.tensor(0.1)}))
    assert (got[0].value, got[0].step) == (1.0, 7)  # type: ignore[attr-defined]
    assert got[1].values == {"lr": float(torch.tensor(0.1))}  # type: ignore[attr-defined]


def test_arrays_with_elements_are_refused_with_the_field(tmp_path: Path) -> None:
    from vrx_core.errors import InvalidEvent

    with Recorder(tmp_path / "run") as rec, pytest.raises(InvalidEvent, match=r"\$\.value"):
        rec.emit(Metric("a", np.array([1.0, 2.0]), 1))  # type: ignore[arg-type]


def test_plain_leaves_everything_else_alone() -> None:
    assert plain_number("x") == "x" and plain_number(2) == 2 and plain_number(True) is True
    assert plain({"a": (1, np.int16(2))}) == {"a": [1, 2]}
