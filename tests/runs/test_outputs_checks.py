"""Predictions and checkpoints check their arguments before writing anything: numpy inputs are
accepted, a refused call leaves no file, no event and a metadata.json that stays valid JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vrx_core import Recorder, RvinciLayout, read_events, save_checkpoint, save_prediction
from vrx_core.errors import RecorderClosed, UsageError
from vrx_core.events import Artifact, Checkpoint
from vrx_core.log.outputs import read_predictions_metadata, record_checkpoint

K = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]


@pytest.fixture
def rec(tmp_path: Path) -> Recorder:
    return Recorder(layout=RvinciLayout(project="p", root=tmp_path), environment=False, summary=False)


def _files(run: Path, folder: str) -> list[str]:
    return sorted(p.name for p in (run / folder).iterdir())


def _outputs(rec: Recorder) -> list[object]:
    return [e for e in read_events(rec.run_dir) if isinstance(e, Artifact | Checkpoint)]


def test_numpy_intrinsics_timestamps_and_frame_ids_are_stored_as_plain_json(rec: Recorder) -> None:
    save_prediction(rec, 0, {"d": np.ones(2)}, timestamp=0.0, intrinsics=np.eye(3))
    save_prediction(rec, np.int64(1), {"d": np.ones(2)}, timestamp=np.float32(1), intrinsics=np.array(K))  # type: ignore[arg-type]
    save_prediction(rec, 2, {"d": np.ones(2)}, timestamp=np.array(2.5), intrinsics=K)  # type: ignore[arg-type]
    save_prediction(rec, 3, {"d": np.ones(2)}, timestamp="2026-11-29T12:30:05Z", intrinsics_ref="k.json")
    rec.close()
    text = (rec.run_dir / "artifacts" / "predictions" / "metadata.json").read_text()
    frames = json.loads(text)["frames"]
    assert [(f["frame_id"], f["timestamp"]) for f in frames] == [
        (0, 0.0),
        (1, 1.0),
        (2, 2.5),
        (3, "2026-11-29T12:30:05Z"),
    ]
    assert frames[0]["intrinsics"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert frames[1]["intrinsics"] == K
    assert len(_outputs(rec)) == 4


BAD_PREDICTIONS: list[tuple[dict[str, Any], str]] = [
    ({"timestamp": float("nan"), "intrinsics": K}, "timestamp= must be a finite number or a string"),
    ({"timestamp": np.float64("inf"), "intrinsics": K}, "timestamp= must be a finite number"),
    ({"timestamp": True, "intrinsics": K}, "timestamp= must be"),
    ({"timestamp": None, "intrinsics": K}, "timestamp= must be"),
    ({"timestamp": np.ones(2), "intrinsics": K}, "timestamp= must be"),
    ({"timestamp": 0, "intrinsics": np.eye(4)}, "intrinsics= must be a 3x3 matrix of finite numbers"),
    ({"timestamp": 0, "intrinsics": [[1, 2], [3, 4]]}, "intrinsics= must be a 3x3"),
    ({"timestamp": 0, "intrinsics": [[1, 2, 3], [4, 5], [6]]}, "intrinsics= must be a 3x3"),
    ({"timestamp": 0, "intrinsics": [["a", "b", "c"]] * 3}, "intrinsics= must be a 3x3"),
    ({"timestamp": 0, "intrinsics": np.full((3, 3), np.nan)}, "intrinsics= must be a 3x3 .*NaN or Inf"),
    ({"timestamp": 0, "intrinsics": np.eye(3, dtype=bool)}, "intrinsics= must be a 3x3"),
    ({"timestamp": 0, "intrinsics_ref": ""}, "intrinsics_ref= must be a non-empty string"),
    ({"timestamp": 0, "intrinsics_ref": 3}, "intrinsics_ref= must be a non-empty string"),
    (
        {"timestamp": 0, "intrinsics": K, "contract_version": 1},
        "contract_version= must be a non-empty string",
    ),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_PREDICTIONS)
def test_a_refused_prediction_names_the_argument_and_writes_nothing(
    rec: Recorder, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message) as err:
        save_prediction(rec, 0, {"d": np.ones(2)}, **kwargs)
    assert "\n" not in str(err.value)
    rec.close()
    assert _files(rec.run_dir, "artifacts/predictions") == []
    assert _outputs(rec) == []


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ([np.ones(2)], "must be a mapping"),
        ({"file": np.ones(2)}, "array names must be non-empty strings other than"),
        ({"allow_pickle": np.ones(2)}, "array names"),
        ({3: np.ones(2)}, "array names"),
        ({"x": [[1, 2], [3]]}, "prediction array 'x' is not an array"),
    ],
)
def test_arrays_that_cannot_be_saved_without_pickle_are_refused_first(
    rec: Recorder, arrays: Any, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        save_prediction(rec, 0, arrays, timestamp=0, intrinsics=K)
    rec.close()
    assert _files(rec.run_dir, "artifacts/predictions") == []


def test_a_damaged_metadata_file_refuses_the_save_before_the_npz_exists(rec: Recorder) -> None:
    folder = rec.run_dir / "artifacts" / "predictions"
    (folder / "metadata.json").write_text("{not json")
    with pytest.raises(Exception, match="invalid JSON"):
        save_prediction(rec, 0, {"d": np.ones(2)}, timestamp=0, intrinsics=K)
    rec.close()
    assert _files(rec.run_dir, "artifacts/predictions") == ["metadata.json"]


def test_saving_after_the_run_ended_is_refused_before_writing(rec: Recorder) -> None:
    rec.close()
    with pytest.raises(RecorderClosed):
        save_prediction(rec, 0, {"d": np.ones(2)}, timestamp=0, intrinsics=K)
    with pytest.raises(RecorderClosed):
        save_checkpoint(rec, {}, "best.pt")
    assert _files(rec.run_dir, "artifacts/predictions") == []
    assert _files(rec.run_dir, "artifacts/checkpoints") == []


def test_a_checkpoint_outside_the_run_directory_is_refused(rec: Recorder, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes(b"weights")
    with pytest.raises(UsageError, match="the checkpoint must be inside the run directory") as err:
        record_checkpoint(rec, outside, step=1)
    assert "artifacts/checkpoints/" in str(err.value) and "copy it first" in str(err.value)
    assert str(outside) in str(err.value)
    sneaky = rec.run_dir / "artifacts" / "checkpoints" / ".." / ".." / ".." / "elsewhere.pt"
    with pytest.raises(UsageError, match="must be inside the run directory"):
        record_checkpoint(rec, sneaky)
    rec.close()
    assert _outputs(rec) == []


def test_a_symlink_in_the_run_to_a_file_outside_is_refused(rec: Recorder, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes(b"weights")
    link = rec.run_dir / "artifacts" / "checkpoints" / "best.pt"
    link.symlink_to(outside)
    with pytest.raises(UsageError, match="must be inside the run directory"):
        record_checkpoint(rec, link)
    rec.close()


@pytest.mark.parametrize("step", ["10", 1.5, True])
def test_a_bad_checkpoint_step_is_refused_before_the_file_is_written(rec: Recorder, step: object) -> None:
    with pytest.raises(UsageError, match="step= must be an int or None"):
        save_checkpoint(rec, {}, "s.pt", step=step)  # type: ignore[arg-type]
    own = rec.run_dir / "artifacts" / "checkpoints" / "own.ckpt"
    own.write_bytes(b"w")
    with pytest.raises(UsageError, match="step= must be an int or None"):
        record_checkpoint(rec, own, step=step)  # type: ignore[arg-type]
    rec.close()
    assert _files(rec.run_dir, "artifacts/checkpoints") == ["own.ckpt"]
    assert _outputs(rec) == []


@pytest.mark.parametrize("name", ["../s.pt", "best.pt\n", "", "a/b.pt", 3])
def test_a_bad_checkpoint_name_is_refused_before_anything_is_written(rec: Recorder, name: object) -> None:
    with pytest.raises(UsageError, match="checkpoint name must be a plain file name"):
        save_checkpoint(rec, {}, name, step=1)  # type: ignore[arg-type]
    rec.close()
    assert _files(rec.run_dir, "artifacts/checkpoints") == []


def test_a_numpy_step_is_recorded_as_an_int(rec: Recorder) -> None:
    own = rec.run_dir / "artifacts" / "checkpoints" / "own.ckpt"
    own.write_bytes(b"w")
    event = record_checkpoint(rec, own, step=np.int64(7))  # type: ignore[arg-type]
    rec.close()
    assert event.step == 7 and type(event.step) is int
    assert read_predictions_metadata(rec.run_dir)["frames"] == []
