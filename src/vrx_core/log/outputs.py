"""Files a run produces that are not derived from its log: predictions and checkpoints.

Both live where rvinci's ``runs_and_artifacts.md`` puts them and are recorded in the log with
their size and sha256 (``artifact`` and ``checkpoint`` events), so ``bundle_manifest.json`` and
``vrx verify`` cover them.

- ``artifacts/predictions/frame_<id>.npz`` (numpy arrays only: saving an object array and loading
  with pickle are refused) and ``artifacts/predictions/metadata.json``: ``contract_version`` and
  one entry per frame with ``frame_id``, ``timestamp``, ``intrinsics`` or ``intrinsics_ref``,
  ``contract_version`` and ``file``.
- ``artifacts/checkpoints/<name>`` (``best.pt``, ``last.pt``), written with ``torch.save``.

numpy and torch are imported only when these are called.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrx_core.errors import UsageError, VrxError
from vrx_core.events import Artifact, Checkpoint
from vrx_core.log.atomic import atomic_write

if TYPE_CHECKING:
    from vrx_core.log.writer import Recorder

PREDICTIONS_DIR = "artifacts/predictions"
CHECKPOINTS_DIR = "artifacts/checkpoints"
METADATA = "metadata.json"
#: rvinci names ``contract_version`` but defines no value; vrx's predictions contract is "1".
CONTRACT_VERSION = "1"
_FRAME_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CHECKPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_metadata_lock = threading.Lock()


def save_prediction(
    rec: Recorder,
    frame_id: int | str,
    arrays: Mapping[str, Any],
    *,
    timestamp: float | str,
    intrinsics: list[list[float]] | None = None,
    intrinsics_ref: str | None = None,
    contract_version: str = CONTRACT_VERSION,
) -> Path:
    """Write ``frame_<id>.npz`` (int ids padded to 4 digits) and its ``metadata.json`` entry,
    record an ``artifact`` event, and return the npz path.

    Give the camera ``intrinsics`` (3x3) or ``intrinsics_ref`` (where they are), not both.
    """
    np = _numpy()
    if (intrinsics is None) == (intrinsics_ref is None):
        raise UsageError("save_prediction needs exactly one of intrinsics= or intrinsics_ref=")
    name = frame_name(frame_id)
    payload = {key: np.asarray(value) for key, value in arrays.items()}
    for key, array in payload.items():
        if array.dtype.hasobject:
            raise UsageError(f"prediction array {key!r} holds Python objects: only plain arrays, no pickle")
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **payload)
    folder = rec.run_dir / PREDICTIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    data = buffer.getvalue()
    atomic_write(path, data)
    entry: dict[str, Any] = {
        "frame_id": frame_id,
        "timestamp": timestamp,
        "contract_version": contract_version,
        "file": path.name,
    }
    entry.update({"intrinsics": intrinsics} if intrinsics is not None else {"intrinsics_ref": intrinsics_ref})
    _update_metadata(folder, entry, contract_version)
    rec.emit(
        Artifact(
            path=f"{PREDICTIONS_DIR}/{path.name}",
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            media_type="application/x-npz",
        )
    )
    return path


def load_prediction(run_dir: str | os.PathLike[str], frame_id: int | str) -> dict[str, Any]:
    """The arrays of one saved prediction; pickled content is refused, never unpickled."""
    np = _numpy()
    path = Path(run_dir) / PREDICTIONS_DIR / f"{frame_name(frame_id)}.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except FileNotFoundError:
        raise VrxError("no such prediction", path=path) from None
    except ValueError as exc:  # numpy's "Object arrays cannot be loaded when allow_pickle=False"
        raise VrxError(f"refusing to load: {exc}", path=path) from None


def read_predictions_metadata(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``artifacts/predictions/metadata.json`` of a run (empty ``frames`` when none was saved)."""
    path = Path(run_dir) / PREDICTIONS_DIR / METADATA
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"contract_version": CONTRACT_VERSION, "frames": []}
    except json.JSONDecodeError as exc:
        raise VrxError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    return data


def save_checkpoint(rec: Recorder, obj: Any, name: str = "last.pt", *, step: int | None = None) -> Path:
    """``torch.save(obj)`` to ``artifacts/checkpoints/<name>`` atomically and record a
    ``checkpoint`` event (size, sha256; the recorder fsyncs on checkpoints)."""
    try:
        import torch
    except ImportError:
        raise UsageError("save_checkpoint needs torch: pip install 'vrx-core[torch]'") from None
    _check_checkpoint_name(name)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    path = rec.run_dir / CHECKPOINTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
    record_checkpoint(rec, path, step=step)
    return path


def record_checkpoint(rec: Recorder, path: str | os.PathLike[str], *, step: int | None = None) -> Checkpoint:
    """Record a checkpoint file written by other means (a trainer's own save) with its size and
    sha256; ``path`` is stored relative to the run directory when it lies inside it."""
    file = Path(path)
    digest = hashlib.sha256()
    size = 0
    try:
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise VrxError(f"cannot read checkpoint: {exc.strerror}", path=file) from None
    rel = _relative(file, rec.run_dir)
    event = Checkpoint(path=rel, step=step, size_bytes=size, sha256=digest.hexdigest())
    rec.emit(event)
    return event


def frame_name(frame_id: int | str) -> str:
    """``frame_0000`` for 0, ``frame_cam2-17`` for ``"cam2-17"``."""
    if isinstance(frame_id, bool) or not isinstance(frame_id, int | str):
        raise UsageError(f"frame_id must be an int or a plain string, got {frame_id!r}")
    if isinstance(frame_id, int):
        if frame_id < 0:
            raise UsageError(f"frame_id must be >= 0, got {frame_id}")
        return f"frame_{frame_id:04d}"
    if not _FRAME_ID.match(frame_id):
        raise UsageError(f"frame_id must be letters, digits, '_' or '-', got {frame_id!r}")
    return f"frame_{frame_id}"


def _update_metadata(folder: Path, entry: dict[str, Any], contract_version: str) -> None:
    with _metadata_lock:
        current = read_predictions_metadata(folder.parent.parent)
        frames = [f for f in current.get("frames", []) if f.get("file") != entry["file"]]
        frames.append(entry)
        frames.sort(key=lambda f: str(f.get("file")))
        doc = {"contract_version": contract_version, "frames": frames}
        atomic_write(folder / METADATA, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())


def _check_checkpoint_name(name: str) -> None:
    if not _CHECKPOINT_NAME.match(name):
        raise UsageError(f"checkpoint name must be a plain file name such as best.pt, got {name!r}")


def _relative(file: Path, run_dir: Path) -> str:
    try:
        return file.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(file)


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise UsageError("predictions need numpy: pip install 'vrx-core[torch]' (or numpy)") from None
    return numpy


__all__ = [
    "CHECKPOINTS_DIR",
    "CONTRACT_VERSION",
    "PREDICTIONS_DIR",
    "frame_name",
    "load_prediction",
    "read_predictions_metadata",
    "record_checkpoint",
    "save_checkpoint",
    "save_prediction",
]
