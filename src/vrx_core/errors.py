"""The VrxError hierarchy and the documented exit codes.

Every error a user can cause carries *where* it happened (file, line, byte offset, field, seq,
plugin, hook) and maps to one exit code, so the CLI prints one line and exits without a traceback.
Exit codes follow ``sysexits.h`` where one fits; see ``docs/cli.md``.
"""

from __future__ import annotations

import os
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every ``vrx`` command (documented in docs/cli.md)."""

    OK = 0
    FAILED = 1  # a command-specific failure (for example a failed triage run)
    USAGE = 2  # bad command line (argparse's convention, kept for every subcommand)
    INCOMPLETE = 3  # clean, but the run has no run_end yet: crashed or still running
    THRESHOLDS_FAILED = 30  # triage: the run completed but a threshold failed
    TIMEOUT = 124  # tail: --timeout ran out on a live run (GNU timeout's code)
    DATAERR = os.EX_DATAERR  # 65: corrupt log or invalid input data
    NOINPUT = os.EX_NOINPUT  # 66: no such run or file
    UNAVAILABLE = os.EX_UNAVAILABLE  # 69: the command needs a plugin that was skipped (missing extra)
    SOFTWARE = os.EX_SOFTWARE  # 70: a plugin raised
    CANTCREAT = os.EX_CANTCREAT  # 73: the run directory or log cannot be created
    IOERR = os.EX_IOERR  # 74: a write or fsync failed (ENOSPC, EIO, ...)
    TEMPFAIL = os.EX_TEMPFAIL  # 75: the run is locked by another writer
    NOPERM = os.EX_NOPERM  # 77: permission denied
    CONFIG = os.EX_CONFIG  # 78: the log was written by a newer major format


class VrxError(Exception):
    """Root of every error vrx raises on purpose.

    ``str(err)`` is the one-line message the CLI prints: ``where: what``.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        offset: int | None = None,
        field: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        self.offset = offset
        self.field = field
        self.seq = seq
        super().__init__(self.render())

    def where(self) -> str:
        parts: list[str] = []
        if self.path is not None:
            parts.append(self.path)
        if self.line is not None:
            parts.append(str(self.line))
        where = ":".join(parts)
        if self.offset is not None:
            where += f" (byte {self.offset})" if where else f"byte {self.offset}"
        return where

    def render(self) -> str:
        where = self.where()
        what = self.message
        if self.field is not None and f"`{self.field}`" not in what:
            what = f"{what} - at `{self.field}`"
        return f"{where}: {what}" if where else what


class UsageError(VrxError):
    """The command line or an argument is wrong."""

    exit_code = ExitCode.USAGE


class NoSuchRun(VrxError):
    """The run directory or its event log does not exist."""

    exit_code = ExitCode.NOINPUT


class CorruptLog(VrxError):
    """A committed line of the log is damaged: CRC, JSON, UTF-8, seq or hash-chain failure."""

    exit_code = ExitCode.DATAERR


class InvalidEvent(VrxError):
    """An event (from Python or from ``vrx ingest``) does not fit its kind's schema or the log limits."""

    exit_code = ExitCode.DATAERR


class NewerFormat(VrxError):
    """The log was written by a newer major log format than this vrx understands."""

    exit_code = ExitCode.CONFIG


class LockHeld(VrxError):
    """Another writer holds the run's lock."""

    exit_code = ExitCode.TEMPFAIL


class RecorderIOError(VrxError):
    """Writing or syncing the log failed; the recorder stopped and left no torn committed line."""

    exit_code = ExitCode.IOERR


class RunExists(VrxError):
    """A run is already recorded where the caller asked for a new one, or for one still going
    (``resume="never"``, or ``"auto"`` and the run ended); the message says how to proceed."""

    exit_code = ExitCode.CANTCREAT


class CannotCreate(VrxError):
    """The run directory or log cannot be created or written (read-only, permissions)."""

    exit_code = ExitCode.CANTCREAT


class RecorderClosed(VrxError):
    """``emit`` was called on a recorder that is closed or failed."""

    exit_code = ExitCode.SOFTWARE


class PluginError(VrxError):
    """A plugin raised; names the plugin, the hook and the event seq."""

    exit_code = ExitCode.SOFTWARE

    def __init__(self, message: str, *, plugin: str, hook: str, seq: int | None = None) -> None:
        self.plugin = plugin
        self.hook = hook
        super().__init__(message, seq=seq)

    def render(self) -> str:
        at = f" at seq {self.seq}" if self.seq is not None else ""
        return f"plugin {self.plugin!r} failed in {self.hook}{at}: {self.message}"


class PluginUnavailable(VrxError):
    """The command needs a plugin that was skipped at load time (the message names it and the fix)."""

    exit_code = ExitCode.UNAVAILABLE


class DriftError(VrxError):
    """``vrx replay --check`` found derived files that differ from a fresh replay."""

    exit_code = ExitCode.DATAERR
