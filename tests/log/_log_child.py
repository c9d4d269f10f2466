"""Child process for the event-log tests (run with ``sys.executable``; never collected by pytest).

Modes:

``serve CTL_FD REPORT_FD ACK_FD``
    A fork server for the SIGKILL trials, so the interpreter start and the imports are paid once.
    For each command line ``RUN_DIR SEED BIG KILL_AT FRACTION`` read from CTL_FD it forks a writer,
    reports ``PID <pid>`` on REPORT_FD, and after the writer died reports ``DONE <wait status>``.
    The writer records events into RUN_DIR with a Recorder and, after each ``emit`` returned,
    writes ``<seq> <index>`` to ACK_FD (``0 -1`` for the run_start line once the recorder is open).
    With KILL_AT > 0 the writer SIGKILLs itself in the middle of its KILL_AT-th ``write`` call,
    after FRACTION of the line (a deterministic torn tail); otherwise the parent kills it. The fds
    are passed by number on argv (RELIABILITY §6.1: a dup2'ed fd 3 gets closed by close_fds).

``fsize RUN_DIR LIMIT``
    Record events under RLIMIT_FSIZE=LIMIT (SIGXFSZ ignored) until the recorder fails; print the
    error's class, exit code and message as one JSON line.

``hold RUN_DIR``
    Open a Recorder on RUN_DIR, print ``ready <pid>``, keep emitting until stdin closes, then
    close. If the recorder cannot be opened, print the error as JSON and exit with its code.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import sys
import traceback
from typing import Any

from _log_harness import crash_event

from vrx_core.errors import VrxError
from vrx_core.events import Metric
from vrx_core.log.writer import OsFS, Recorder


class SelfKillFS(OsFS):
    """Writes only the first ``fraction`` of write number ``at`` (1-based), then SIGKILLs itself."""

    def __init__(self, at: int, fraction: float) -> None:
        self.at = at
        self.fraction = fraction
        self.n = 0

    def write(self, fd: int, data: Any) -> int:  # type: ignore[override]
        self.n += 1
        if self.n == self.at:
            cut = min(int(len(data) * self.fraction), len(data) - 1)
            os.write(fd, bytes(data[:cut]))
            os.kill(os.getpid(), signal.SIGKILL)
        return os.write(fd, data)


def writer(run_dir: str, *, seed: int, big: bool, kill_at: int, fraction: float, ack_fd: int) -> None:
    fs = SelfKillFS(kill_at, fraction) if kill_at else None
    rec = Recorder(run_dir, fsync_every_n=5, fs=fs)
    os.write(ack_fd, b"0 -1\n")
    for idx in range(1_000_000):
        seq = rec.emit(crash_event(seed, idx, big))
        os.write(ack_fd, b"%d %d\n" % (seq, idx))


def serve(ctl_fd: int, report_fd: int, ack_fd: int) -> None:
    ctl = os.fdopen(ctl_fd, "r")
    for line in ctl:
        run_dir, seed, big, kill_at, fraction = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                writer(
                    run_dir,
                    seed=int(seed),
                    big=big == "1",
                    kill_at=int(kill_at),
                    fraction=float(fraction),
                    ack_fd=ack_fd,
                )
            except BaseException:
                os.write(report_fd, ("ERR " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
            while True:  # never exit on our own: the parent kills us, so our pid cannot be reused
                signal.pause()
        os.write(report_fd, b"PID %d\n" % pid)
        _, status = os.waitpid(pid, 0)
        os.write(report_fd, b"DONE %d\n" % status)


def fsize(run_dir: str, limit: int) -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    rec = Recorder(run_dir, fsync_every_n=3)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    acked = 0
    try:
        for i in range(100_000):
            rec.emit(Metric(name="loss", value=float(i), step=i))
            acked = i + 1
    except VrxError as exc:
        try:
            rec.emit(Metric(name="after", value=0.0))
            after = "emit after failure succeeded"
        except VrxError as exc2:
            after = type(exc2).__name__
        rec.close()
        print(
            json.dumps(
                {
                    "error": type(exc).__name__,
                    "exit_code": int(exc.exit_code),
                    "message": str(exc),
                    "acked": acked,
                    "after": after,
                }
            )
        )
        return
    print(json.dumps({"error": None}))


def hold(run_dir: str) -> None:
    try:
        rec = Recorder(run_dir)
    except VrxError as exc:
        print(json.dumps({"error": type(exc).__name__, "exit_code": int(exc.exit_code), "message": str(exc)}))
        raise SystemExit(int(exc.exit_code)) from None
    with rec:
        print(f"ready {os.getpid()}", flush=True)
        i = 0
        while not select.select([sys.stdin], [], [], 0.005)[0]:
            rec.emit(Metric(name="held", value=float(i), step=i))
            i += 1
        sys.stdin.read()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "fsize":
        fsize(sys.argv[2], int(sys.argv[3]))
    elif mode == "hold":
        hold(sys.argv[2])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
