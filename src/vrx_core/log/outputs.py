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
import math
import numbers
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vrx_core.errors import RecorderClosed, UsageError, VrxError
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
#: ``numpy.savez``'s own keyword arguments: an array cannot be saved under these names.
_SAVEZ_ARGUMENTS = frozenset({"file", "allow_pickle"})


def save_prediction(
    rec: Recorder,
    frame_id: int | str,
    arrays: Mapping[str, Any],
    *,
    timestamp: float | str,
    intrinsics: Any = None,
    intrinsics_ref: str | None = None,
    contract_version: str = CONTRACT_VERSION,
) -> Path:
    """Write ``frame_<id>.npz`` (int ids padded to 4 digits) and its ``metadata.json`` entry,
    record an ``artifact`` event, and return the npz path.

    Give the camera ``intrinsics`` (3x3 finite numbers: nested lists or a numpy array) or
    ``intrinsics_ref`` (a non-empty string saying where they are), not both. ``timestamp`` is a
    finite number (a numpy scalar too) or a string. Every argument is checked before anything
    is written: a refused call leaves no file behind.
    """
    np = _numpy()
    _check_open(rec)
    if (intrinsics is None) == (intrinsics_ref is None):
        raise UsageError("save_prediction needs exactly one of intrinsics= or intrinsics_ref=")
    frame_id = _frame_id(frame_id)
    name = frame_name(frame_id)
    entry: dict[str, Any] = {
        "frame_id": frame_id,
        "timestamp": _timestamp(np, timestamp),
        "contract_version": _plain_string("contract_version", contract_version),
        "file": f"{name}.npz",
    }
    if intrinsics is not None:
        entry["intrinsics"] = _intrinsics(np, intrinsics)
    else:
        entry["intrinsics_ref"] = _plain_string("intrinsics_ref", intrinsics_ref)
    data = _npz_bytes(np, arrays)
    folder = rec.run_dir / PREDICTIONS_DIR
    path = folder / f"{name}.npz"
    with _metadata_lock:
        # Read (and so check) the metadata before the npz exists: a damaged metadata.json
        # refuses the save without leaving a frame that no entry names.
        current = read_predictions_metadata(rec.run_dir)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        _write_metadata(folder, current, entry, entry["contract_version"])
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
    ``checkpoint`` event (size, sha256; the recorder fsyncs on checkpoints). ``name`` and ``step``
    are checked before anything is written."""
    _check_open(rec)
    _check_checkpoint_name(name)
    step = _check_step(step)
    try:
        import torch
    except ImportError:
        raise UsageError("save_checkpoint needs torch: pip install 'vrx-core[torch]'") from None
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    path = rec.run_dir / CHECKPOINTS_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
    record_checkpoint(rec, path, step=step)
    return path


def record_checkpoint(rec: Recorder, path: str | os.PathLike[str], *, step: int | None = None) -> Checkpoint:
    """Record a checkpoint file written by other means (a trainer's own save) with its size and
    sha256. The file must lie inside the run directory (``artifacts/checkpoints/`` is the place):
    the event stores its path relative to the run, which the bundle manifest and ``vrx verify``
    cover; a file elsewhere is refused (save it in the run, or copy it there first)."""
    _check_open(rec)
    step = _check_step(step)
    file = Path(path)
    try:
        rel = file.resolve().relative_to(rec.run_dir.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"the checkpoint must be inside the run directory {rec.run_dir}, e.g. under "
            f"{CHECKPOINTS_DIR}/; save it there or copy it first",
            path=file,
        ) from None
    digest = hashlib.sha256()
    size = 0
    try:
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise VrxError(f"cannot read checkpoint: {exc.strerror}", path=file) from None
    event = Checkpoint(path=rel, step=step, size_bytes=size, sha256=digest.hexdigest())
    rec.emit(event)
    return event


def frame_name(frame_id: int | str) -> str:
    """``frame_0000`` for 0 (a numpy integer too), ``frame_cam2-17`` for ``"cam2-17"``."""
    frame_id = _frame_id(frame_id)
    if isinstance(frame_id, bool) or not isinstance(frame_id, int | str):
        raise UsageError(f"frame_id must be an int or a plain string, got {frame_id!r}")
    if isinstance(frame_id, int):
        if frame_id < 0:
            raise UsageError(f"frame_id must be >= 0, got {frame_id}")
        return f"frame_{frame_id:04d}"
    if not _FRAME_ID.fullmatch(frame_id):
        raise UsageError(f"frame_id must be letters, digits, '_' or '-', got {frame_id!r}")
    return f"frame_{frame_id}"


def _write_metadata(
    folder: Path, current: dict[str, Any], entry: dict[str, Any], contract_version: str
) -> None:
    frames = [f for f in current.get("frames", []) if f.get("file") != entry["file"]]
    frames.append(entry)
    frames.sort(key=lambda f: str(f.get("file")))
    doc = {"contract_version": contract_version, "frames": frames}
    text = json.dumps(doc, indent=2, sort_keys=True, allow_nan=False)
    atomic_write(folder / METADATA, (text + "\n").encode())


def _timestamp(np: Any, value: Any) -> float | int | str:
    if isinstance(value, np.generic | np.ndarray) and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"save_prediction timestamp= must be a finite number or a string, got {value!r}")
    return value


def _intrinsics(np: Any, value: Any) -> list[list[float]]:
    what = "save_prediction intrinsics= must be a 3x3 matrix of finite numbers"
    try:
        matrix = np.asarray(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what}; got {value!r}") from None
    if matrix.shape != (3, 3) or matrix.dtype.kind not in "iuf":
        raise UsageError(f"{what}; got shape {matrix.shape} of {matrix.dtype}")
    if not np.isfinite(matrix).all():
        raise UsageError(f"{what}; got NaN or Inf")
    rows: list[list[float]] = matrix.tolist()
    return rows


def _plain_string(argument: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"save_prediction {argument}= must be a non-empty string, got {value!r}")
    return value


def _npz_bytes(np: Any, arrays: Any) -> bytes:
    if not isinstance(arrays, Mapping):
        got = type(arrays).__name__
        raise UsageError(f"save_prediction arrays must be a mapping of names to arrays, got {got}")
    payload: dict[str, Any] = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not key or key in _SAVEZ_ARGUMENTS:
            raise UsageError(
                f"prediction array names must be non-empty strings other than {sorted(_SAVEZ_ARGUMENTS)}, "
                f"got {key!r}"
            )
        try:
            payload[key] = np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"prediction array {key!r} is not an array: {exc}") from None
        if payload[key].dtype.hasobject:
            raise UsageError(f"prediction array {key!r} holds Python objects: only plain arrays, no pickle")
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **payload)
    return buffer.getvalue()


def _frame_id(frame_id: Any) -> Any:
    """A numpy integer id as a Python int (what metadata.json can hold); anything else as is."""
    if isinstance(frame_id, numbers.Integral) and not isinstance(frame_id, bool | int):
        return int(frame_id)
    return frame_id


def _check_open(rec: Recorder) -> None:
    if rec.closed:
        raise RecorderClosed(
            "the recorder is closed: save predictions and checkpoints while the run is recording",
            path=rec.run_dir,
        )


def _check_checkpoint_name(name: str) -> None:
    if not isinstance(name, str) or not _CHECKPOINT_NAME.fullmatch(name):
        raise UsageError(f"checkpoint name must be a plain file name such as best.pt, got {name!r}")


def _check_step(step: Any) -> int | None:
    """``step`` as an int (a numpy integer too), or None; a bool or anything else is refused."""
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise UsageError(f"checkpoint step= must be an int or None, got {step!r}")
    return int(step)


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
