"""Read-only places (RELIABILITY §4 row 9): the writer fails before any work starts, readers
never need write access.

Tests run as root, for whom ``chmod 0555`` changes nothing, so the writer's failure is simulated
through the syscall seam (``fs=``) or by making ``os.open`` refuse write flags; the readers are
checked by recording every ``os.open``/``open`` they make.
"""

from __future__ import annotations

import builtins
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _log_harness import WRITE_FLAGS, assert_verdict, read_all, sample_events, write_log

from vrx_core import read_events
from vrx_core.engine.verify import verify_log
from vrx_core.errors import CannotCreate, ExitCode, NoSuchRun
from vrx_core.events import Metric
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import LOG as LOG_NAME
from vrx_core.log.writer import OsFS, Recorder


class RefusingFS(OsFS):
    """A seam whose open fails the way a read-only mount or a forbidden directory does."""

    def __init__(self, code: int) -> None:
        self.code = code

    def open(self, path: Any, flags: int, mode: int = 0o777) -> int:  # type: ignore[override]
        raise OSError(self.code, os.strerror(self.code), str(path))


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES], ids=["EROFS", "EACCES"])
def test_log_recorder_refuses_to_start_where_it_cannot_write(tmp_path: Path, code: int) -> None:
    """Opening the log for writing fails with EROFS/EACCES: the Recorder constructor raises
    CannotCreate (exit 73) naming the path and the OS reason, and leaves no lock file behind."""
    run = tmp_path / "run"
    with pytest.raises(CannotCreate) as info:
        Recorder(run, fs=RefusingFS(code))
    err = info.value
    assert err.exit_code == ExitCode.CANTCREAT == 73
    assert str(run / LOG_NAME) in str(err) and os.strerror(code) in str(err)
    assert not (run / "writer.lock").exists()


def test_log_recorder_refuses_to_resume_where_it_cannot_write(tmp_path: Path) -> None:
    """Resuming an existing (crashed) log on a read-only mount fails with CannotCreate and
    leaves the log byte-for-byte as it was."""
    log = write_log(tmp_path, sample_events(5), close=False)
    before = log.read_bytes()
    with pytest.raises(CannotCreate):
        Recorder(tmp_path, fs=RefusingFS(errno.EROFS))
    assert log.read_bytes() == before
    assert not (tmp_path / "writer.lock").exists()


def _read_only_fs(monkeypatch: pytest.MonkeyPatch, allow: Path | None = None) -> None:
    """Make every open for writing fail with EROFS (except under ``allow``)."""
    real_os_open, real_open = os.open, builtins.open

    def refuse(path: Any) -> None:
        if allow is None or not os.fspath(path).startswith(os.fspath(allow)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

    def ro_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & WRITE_FLAGS:
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def ro_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if set(mode) & set("wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", ro_os_open)
    monkeypatch.setattr(OsFS, "open", staticmethod(ro_os_open))  # the seam bound os.open at import
    monkeypatch.setattr(builtins, "open", ro_open)


def test_log_recorder_on_a_read_only_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When every open for writing fails (a read-only file system as root sees it), the recorder
    fails at once with CannotCreate, before writing anything, lock file included."""
    _read_only_fs(monkeypatch)
    with pytest.raises(CannotCreate) as info:
        Recorder(tmp_path)
    assert "Read-only file system" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_log_resume_on_a_read_only_file_system_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reopening a crashed run with a torn tail on a read-only file system (only the lock file
    may be written, as on a mount where the lock lives elsewhere) fails with CannotCreate before
    the torn tail is cut or copied: the log is left exactly as it was."""
    log = write_log(tmp_path, sample_events(4), close=False)
    with log.open("ab") as f:
        f.write(b'{"seq":9,"t":1')
    before = sorted(p.name for p in tmp_path.iterdir()), log.read_bytes()
    _read_only_fs(monkeypatch, allow=tmp_path / "writer.lock")
    with pytest.raises(CannotCreate):
        Recorder(tmp_path)
    monkeypatch.undo()
    assert (sorted(p.name for p in tmp_path.iterdir()), log.read_bytes()) == before


@pytest.fixture
def read_only_run(tmp_path: Path) -> Iterator[Path]:
    """A copy of a crashed run (with a torn tail and a stale lock file) made read-only."""
    src = tmp_path / "src"
    log = write_log(src, sample_events(9), close=False, fsync_every_n=3)
    with log.open("ab") as f:
        f.write(b'{"seq":99,"t":1.0,"v":1,"type":"met')
    (src / "writer.lock").write_text('{"host":"elsewhere","pid":1}\n')
    ro = tmp_path / "ro"
    shutil.copytree(src, ro)
    for p in ro.iterdir():
        p.chmod(0o444)
    ro.chmod(0o555)
    try:
        yield ro
    finally:
        ro.chmod(0o755)


def _snapshot(run: Path) -> dict[str, tuple[bytes, int, float]]:
    return {
        p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode), p.stat().st_mtime) for p in run.iterdir()
    }


def test_log_readers_never_open_for_writing(read_only_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LogReader in every mode, read_events and verify_log work on a read-only run directory
    (torn tail and all), open nothing with a write flag or write mode, and change no file."""
    before = _snapshot(read_only_run)
    opened: list[tuple[str, object]] = []
    real_os_open, real_open = os.open, builtins.open

    def spy_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append((os.fspath(path), flags))
        return real_os_open(path, flags, *args, **kwargs)

    def spy_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        opened.append((os.fspath(file) if not isinstance(file, int) else str(file), mode))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(builtins, "open", spy_open)
    counts = {}
    for mode in ("strict", "recover", "salvage"):
        events, report = read_all(read_only_run / LOG_NAME, mode=mode)
        counts[mode] = len(events)
        assert report.torn_tail_bytes > 0
    assert len(list(read_events(read_only_run))) == counts["recover"]
    assert len(list(LogReader(read_only_run))) == counts["recover"]
    verdict = verify_log(read_only_run)
    monkeypatch.undo()

    assert verdict.status == "INCOMPLETE" and verdict.exit_code == 3
    assert counts["strict"] == counts["recover"] == counts["salvage"] > 9
    assert opened, "the spies saw the readers' opens"
    for path, how in opened:
        if isinstance(how, int):
            assert not how & WRITE_FLAGS, f"{path} opened with write flags {how:#o}"
        else:
            assert set(str(how)) <= set("rbt"), f"{path} opened with mode {how!r}"
    assert _snapshot(read_only_run) == before
    assert not any(p.name.startswith(f"{LOG_NAME}.torn") for p in read_only_run.iterdir())


def test_log_missing_log_is_no_such_run(tmp_path: Path) -> None:
    """Reading or verifying a directory without a log raises NoSuchRun (exit 66), nothing else."""
    for call in (
        lambda: read_all(tmp_path),
        lambda: verify_log(tmp_path),
        lambda: list(read_events(tmp_path / "x")),
    ):
        with pytest.raises(NoSuchRun) as info:
            call()
        assert info.value.exit_code == ExitCode.NOINPUT == 66


def test_log_run_dir_that_is_a_file_cannot_be_created(tmp_path: Path) -> None:
    """A run directory path that exists as a regular file gives CannotCreate, not an OSError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(CannotCreate):
        Recorder(tmp_path / "file" / "run")
    with pytest.raises(CannotCreate):
        Recorder(tmp_path / "file")


def test_log_recorder_works_again_once_writable(tmp_path: Path) -> None:
    """After a refused start the same directory works with a writable file system: the refused
    attempt left nothing that a later writer trips over."""
    with pytest.raises(CannotCreate):
        Recorder(tmp_path, fs=RefusingFS(errno.EROFS))
    with Recorder(tmp_path) as rec:
        rec.emit(Metric(name="ok", value=1.0))
    assert_verdict(tmp_path, "OK")
    assert read_all(tmp_path / LOG_NAME, mode="strict")[1].complete
