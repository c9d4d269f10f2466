"""What ``vrx packet publish|rank|frontier`` read: packets and published rows, wherever they are.

An argument may be a packet run (a directory with ``packet.json``), a packet file, a JSON lines
file of packets (a sweep's ``ant_ratio_packets.jsonl``), a database directory (``db_v0.jsonl``)
or a ``db_v0.jsonl`` file. A JSON object whose ``schema_version`` is ``ant_ratio_db_row_v0`` is
a row already; any other object is a packet, made a row by :func:`rows.db_row` with the run tag
given, or else the name of the directory the packet is in (a packet run's name, a sweep's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vrx_core.errors import ExitCode

from .derive import PACKET_FILE
from .rows import DB_FIELDS, DB_JSONL, ROW_SCHEMA, VRAM_TARGET, db_row, read_jsonl


class InputsError(Exception):
    """An argument that names no packet or row (exit 66), or holds bad data (exit 65)."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def load_rows(
    paths: Iterable[str], *, run_tag: str | None = None, vram_target: float = VRAM_TARGET
) -> list[dict[str, Any]]:
    """Every row the arguments hold or make, in argument order."""
    rows: list[dict[str, Any]] = []
    for arg in paths:
        file = _file_of(Path(arg))
        tag = run_tag if run_tag is not None else file.parent.resolve().name
        for obj in _objects(file):
            rows.append(_as_row(obj, tag, vram_target))
    return rows


def _file_of(path: Path) -> Path:
    if path.is_dir():
        for name in (DB_JSONL, PACKET_FILE):
            if (path / name).is_file():
                return path / name
        raise InputsError(
            f"{path}: no {DB_JSONL} or {PACKET_FILE} here (a packet run without its file: "
            f"`vrx replay {path}` derives it)",
            ExitCode.NOINPUT,
        )
    if not path.exists():
        raise InputsError(f"{path}: no such file or directory", ExitCode.NOINPUT)
    return path


def _objects(file: Path) -> list[dict[str, Any]]:
    try:
        if file.suffix == ".jsonl":
            values = read_jsonl(file)
        else:
            values = [json.loads(file.read_text(encoding="utf-8"))]
    except OSError as exc:
        raise InputsError(f"{file}: cannot read: {exc.strerror}", ExitCode.NOINPUT) from None
    except ValueError as exc:
        raise InputsError(f"{file}: failed to parse JSON ({exc})", ExitCode.DATAERR) from None
    bad = next((i for i, v in enumerate(values, 1) if not isinstance(v, dict)), None)
    if bad is not None:
        where = f"line {bad}: " if file.suffix == ".jsonl" else ""
        raise InputsError(f"{file}: {where}not a JSON object", ExitCode.DATAERR)
    return values


def _as_row(obj: dict[str, Any], run_tag: str, vram_target: float) -> dict[str, Any]:
    if obj.get("schema_version") == ROW_SCHEMA:
        return {field: obj.get(field) for field in DB_FIELDS}
    return db_row(obj, run_tag=run_tag, vram_target=vram_target)
