"""Predictions and checkpoints: written where rvinci puts them, recorded with size and sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vrx_core import Recorder, RvinciLayout, load_prediction, read_events, save_checkpoint, save_prediction
from vrx_core.errors import UsageError, VrxError
from vrx_core.events import Artifact, Checkpoint
from vrx_core.log.outputs import read_predictions_metadata, record_checkpoint

K = [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]]


@pytest.fixture
def rec(tmp_path: Path) -> Recorder:
    return Recorder(layout=RvinciLayout(project="p", root=tmp_path), environment=False, summary=False)


def test_a_prediction_is_an_npz_with_a_metadata_entry_and_an_artifact_event(rec: Recorder) -> None:
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = save_prediction(rec, 0, {"depth": depth}, timestamp=1.5, intrinsics=K)
    save_prediction(rec, 7, {"depth": depth * 2}, timestamp=2.5, intrinsics_ref="calib/cam0.json")
    rec.close()
    assert path == rec.run_dir / "artifacts" / "predictions" / "frame_0000.npz"
    assert np.array_equal(load_prediction(rec.run_dir, 0)["depth"], depth)
    meta = read_predictions_metadata(rec.run_dir)
    assert meta["contract_version"] == "1"
    assert meta["frames"] == [
        {"contract_version": "1", "file": "frame_0000.npz", "frame_id": 0, "intrinsics": K, "timestamp": 1.5},
        {
            "contract_version": "1",
            "file": "frame_0007.npz",
            "frame_id": 7,
            "intrinsics_ref": "calib/cam0.json",
            "timestamp": 2.5,
        },
    ]
    (art, _) = [e for e in read_events(rec.run_dir) if isinstance(e, Artifact)]
    assert art.path == "artifacts/predictions/frame_0000.npz"
    assert art.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert art.size_bytes == path.stat().st_size


def test_saving_a_frame_again_replaces_its_entry(rec: Recorder) -> None:
    save_prediction(rec, 1, {"x": np.zeros(2)}, timestamp=1.0, intrinsics=K)
    save_prediction(rec, 1, {"x": np.ones(2)}, timestamp=2.0, intrinsics=K)
    rec.close()
    frames = read_predictions_metadata(rec.run_dir)["frames"]
    assert [f["timestamp"] for f in frames] == [2.0]


def test_object_arrays_are_refused_and_pickled_files_are_never_unpickled(rec: Recorder) -> None:
    with pytest.raises(UsageError, match="no pickle"):
        save_prediction(rec, 2, {"x": np.array([{"a": 1}], dtype=object)}, timestamp=0, intrinsics=K)
    rec.close()
    hostile = rec.run_dir / "artifacts" / "predictions" / "frame_0003.npz"
    np.savez(hostile, x=np.array([{"a": 1}], dtype=object))  # numpy pickles object arrays
    with pytest.raises(VrxError, match="refusing to load"):
        load_prediction(rec.run_dir, 3)


@pytest.mark.parametrize("frame_id", [-1, "../x", "", True, 1.5])
def test_frame_ids_must_be_plain(rec: Recorder, frame_id: object) -> None:
    with pytest.raises(UsageError):
        save_prediction(rec, frame_id, {"x": np.zeros(1)}, timestamp=0, intrinsics=K)  # type: ignore[arg-type]
    rec.close()


def test_exactly_one_of_intrinsics_or_a_reference(rec: Recorder) -> None:
    with pytest.raises(UsageError, match="exactly one"):
        save_prediction(rec, 0, {"x": np.zeros(1)}, timestamp=0)
    with pytest.raises(UsageError, match="exactly one"):
        save_prediction(rec, 0, {"x": np.zeros(1)}, timestamp=0, intrinsics=K, intrinsics_ref="k.json")
    rec.close()


def test_checkpoints_are_saved_under_artifacts_and_recorded_with_size_and_sha256(rec: Recorder) -> None:
    torch = pytest.importorskip("torch")
    best = save_checkpoint(rec, {"w": torch.ones(3)}, "best.pt", step=10)
    last = save_checkpoint(rec, {"w": torch.zeros(3)}, step=20)
    rec.close()
    assert best == rec.run_dir / "artifacts" / "checkpoints" / "best.pt"
    assert last.name == "last.pt"
    events = [e for e in read_events(rec.run_dir) if isinstance(e, Checkpoint)]
    assert [(e.path, e.step) for e in events] == [
        ("artifacts/checkpoints/best.pt", 10),
        ("artifacts/checkpoints/last.pt", 20),
    ]
    assert events[0].sha256 == hashlib.sha256(best.read_bytes()).hexdigest()
    assert torch.equal(torch.load(best, weights_only=True)["w"], torch.ones(3))


def test_a_checkpoint_written_by_a_trainer_is_recorded_relative_to_the_run(rec: Recorder) -> None:
    own = rec.run_dir / "artifacts" / "checkpoints" / "epoch3.ckpt"
    own.write_bytes(b"weights")
    event = record_checkpoint(rec, own, step=3)
    rec.close()
    assert event.path == "artifacts/checkpoints/epoch3.ckpt" and event.size_bytes == 7


def test_checkpoint_names_must_be_plain(rec: Recorder) -> None:
    pytest.importorskip("torch")
    with pytest.raises(UsageError):
        save_checkpoint(rec, {}, "../best.pt")
    rec.close()


def test_the_manifest_covers_checkpoints_and_predictions(rec: Recorder, cli: object) -> None:
    torch = pytest.importorskip("torch")
    save_checkpoint(rec, {"w": torch.ones(1)}, "best.pt")
    save_prediction(rec, 0, {"x": np.zeros(1)}, timestamp=0, intrinsics=K)
    rec.close()
    assert cli("replay", str(rec.run_dir)).code == 0  # type: ignore[operator]
    listed = {f["path"] for f in json.loads((rec.run_dir / "bundle_manifest.json").read_text())["files"]}
    assert {
        "artifacts/checkpoints/best.pt",
        "artifacts/predictions/frame_0000.npz",
        "artifacts/predictions/metadata.json",
    } <= listed
