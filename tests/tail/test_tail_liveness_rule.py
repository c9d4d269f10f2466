"""One liveness rule (``vrx_core.log.lock.holder_alive``) for the lock and the tail.

The disputed cases, where the lock and the tail used to disagree: a record naming this host with
no usable pid (the lock called it dead and recovered it; the tail called it alive), and a record
with a boot id when this host's is unknown (the lock called it dead; the tail checked the pid).
Now both ask ``holder_alive``: no usable pid cannot be judged (None): the lock needs ``takeover``,
the tail gives the full ``dead_after_s``; an unknown boot id of our own falls back to the pid.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from _tail_harness import append, finished_log

import vrx_core.follow.liveness as liveness_mod
from vrx_core.errors import LockHeld
from vrx_core.follow.follower import Follower, WriterDead
from vrx_core.follow.liveness import Liveness
from vrx_core.log.lock import acquire, boot_id, holder_alive
from vrx_core.log.rundir import LOCK as LOCK_NAME
from vrx_core.log.rundir import LOG as LOG_NAME

HOST = socket.gethostname()


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    return int(proc.stdout)


DEAD = _dead_pid()
NO_PID: dict[str, Any] = {"host": HOST, "boot_id": boot_id()}


@pytest.mark.parametrize(
    ("holder", "boot", "alive"),
    [
        ({"host": "another-host", "pid": os.getpid()}, None, None),
        ({"pid": os.getpid()}, None, None),  # no host
        ({"unreadable": "garbage"}, None, None),
        (NO_PID, None, None),  # disputed: this host, no pid
        ({"host": HOST, "pid": "123"}, None, None),
        ({"host": HOST, "pid": 0}, None, None),  # kill(0, 0) would signal our own group
        ({"host": HOST, "pid": -1}, None, None),
        ({"host": HOST, "pid": True}, None, None),
        ({"host": HOST, "pid": os.getpid(), "boot_id": boot_id()}, None, True),
        ({"host": HOST, "pid": DEAD, "boot_id": boot_id()}, None, False),
        ({"host": HOST, "pid": os.getpid(), "boot_id": "an-earlier-boot"}, "this-boot", False),
        # disputed: our boot id unknown: judged by the pid, not presumed dead
        ({"host": HOST, "pid": os.getpid(), "boot_id": "an-earlier-boot"}, "", True),
        ({"host": HOST, "pid": DEAD, "boot_id": "an-earlier-boot"}, "", False),
    ],
)
def test_holder_alive(holder: dict[str, Any], boot: str | None, alive: bool | None) -> None:
    assert holder_alive(holder, boot=boot) is alive


def _write_lock(run: Path, holder: dict[str, Any]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / LOCK_NAME).write_bytes(
        msgspec.json.encode({"run_id": "old", "since": time.time(), **holder}) + b"\n"
    )


@pytest.mark.usefixtures("no_flock")
def test_lock_acquisition_follows_the_rule(tmp_path: Path) -> None:
    """Without flock: a holder on this host without a pid is not recovered (it cannot be proven
    dead) but can be taken over; a dead pid is recovered."""
    ident = {"run_id": "new", "host": HOST, "pid": os.getpid(), "boot_id": boot_id()}
    _write_lock(tmp_path, NO_PID)
    with pytest.raises(LockHeld):
        acquire(tmp_path, ident)
    lock = acquire(tmp_path, ident, takeover=True)
    assert lock.previous is not None and "pid" not in lock.previous
    lock.release()
    _write_lock(tmp_path, {"host": HOST, "pid": DEAD, "boot_id": boot_id()})
    lock = acquire(tmp_path, ident)
    assert lock.previous is not None and lock.previous["pid"] == DEAD
    lock.release()


def test_liveness_follows_the_rule(tmp_path: Path) -> None:
    """The tail's verdict on the same records: after the short grace only for a holder proven dead."""
    _write_lock(tmp_path, NO_PID)
    live = Liveness(tmp_path, dead_after_s=30.0, now=0.0)
    assert live.check(0.0) is None
    assert live.check(liveness_mod.QUICK_DEAD_S + 1) is None  # cannot tell: the full 30 s
    why = live.check(31.0)
    assert why is not None and why.startswith("no event and no heartbeat for 31.0 s")
    _write_lock(tmp_path, {"host": HOST, "pid": DEAD, "boot_id": boot_id()})
    dead = Liveness(tmp_path, dead_after_s=30.0, now=0.0)
    assert dead.check(0.0) is None
    assert (
        dead.check(liveness_mod.QUICK_DEAD_S + 1) == f"the writer process (pid {DEAD} on this host) is gone"
    )


@pytest.mark.parametrize("pid", [None, DEAD], ids=["no-pid", "dead-pid"])
def test_follower_follows_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pid: int | None) -> None:
    """The follower itself (short grace shortened to 0.2 s): a dead pid ends it, no pid does not."""
    monkeypatch.setattr(liveness_mod, "QUICK_DEAD_S", 0.2)
    lines = finished_log(tmp_path, 10)
    run = tmp_path / "run"
    _write_lock(run, NO_PID if pid is None else {**NO_PID, "pid": pid})
    append(run / LOG_NAME, b"".join(lines[:-1]))
    with Follower(run, dead_after_s=30.0, check_s=0.05) as f:
        deadline = time.monotonic() + 1.5
        if pid is None:
            while time.monotonic() < deadline:
                f.read(timeout=0.1)
            assert not f.ended
        else:
            with pytest.raises(WriterDead, match="is gone"):
                while time.monotonic() < deadline:
                    f.read(timeout=0.1)
