"""Shared fixtures: a hypothesis profile for CI, a bare plugin manager, and an in-process CLI runner."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass

import pluggy
import pytest
from hypothesis import HealthCheck, settings

import vrx_core.log.lock
from vrx_core.cli.main import main
from vrx_core.hooks.manager import new_plugin_manager

settings.register_profile(
    "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.load_profile("ci")


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """flock unavailable, as on Lustre mounted with noflock (ENOSYS): the lock file's content decides."""

    def flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(vrx_core.log.lock.fcntl, "flock", flock)


@pytest.fixture
def pm() -> pluggy.PluginManager:
    """A fresh vrx plugin manager with the hookspecs and no plugin loaded."""
    return new_plugin_manager()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``vrx ARGS...`` in-process; return exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
