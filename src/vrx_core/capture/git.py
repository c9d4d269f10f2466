"""The one git reader: commit, branch, dirty flag and subject of the checkout holding a directory.

Every tool that stamps a run with its code's revision (run environments, the GPU probe's
``env.json``, assoc-eval reports, packets, regression reports) asks here. Failures are named in
the GPU probe original's vocabulary (``git_not_found``, ``git_rev_parse_failed:...``,
``git_rev_parse_nonzero_rc:<rc>:<stderr>``, ``git_status_...``), which its ``env.json`` keeps.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vrx_core.capture.proc import Completed, Runner, Which, run_command, truncate
from vrx_core.events import GitInfo

GIT_TIMEOUT_S = 2.0
#: ``message`` is the commit subject, cut to this many characters (as model_guided_research does).
MESSAGE_MAX_CHARS = 80


def read_git(
    cwd: str | Path | None = None,
    *,
    run: Runner = run_command,
    which: Which = shutil.which,
) -> GitInfo:
    """The git state of the checkout holding ``cwd`` (default: the current directory).

    ``commit_full`` and ``dirty`` come first (their failure is ``error``); ``branch`` (None on a
    detached HEAD) and ``message`` are best-effort extras.
    """
    where = Path.cwd() if cwd is None else Path(cwd)
    if which("git") is None:
        return GitInfo(error="git_not_found")
    head = run(["git", "rev-parse", "HEAD"], where, GIT_TIMEOUT_S)
    failure = _failure("rev_parse", head)
    if failure is not None:
        return GitInfo(error=failure)
    commit = head.stdout.strip() or None
    status = run(["git", "status", "--porcelain"], where, GIT_TIMEOUT_S)
    failure = _failure("status", status)
    dirty = None if failure is not None else bool(status.stdout.strip())
    return GitInfo(
        commit_full=commit,
        branch=_branch(run, where),
        dirty=dirty,
        message=_subject(run, where),
        error=failure,
    )


def git_toplevel(
    cwd: str | Path | None = None,
    *,
    run: Runner = run_command,
    which: Which = shutil.which,
) -> Path | None:
    """The root of the work tree holding ``cwd`` (``git rev-parse --show-toplevel``), or None
    where git cannot tell (no git, not a checkout)."""
    where = Path.cwd() if cwd is None else Path(cwd)
    if which("git") is None:
        return None
    done = run(["git", "rev-parse", "--show-toplevel"], where, GIT_TIMEOUT_S)
    top = done.stdout.strip() if _failure("toplevel", done) is None else ""
    return Path(top) if top else None


def short_hash(git: GitInfo, length: int = 7) -> str | None:
    """The abbreviated commit (``git rev-parse --short``'s default length), or None."""
    return git.commit_full[:length] if git.commit_full else None


def _branch(run: Runner, where: Path) -> str | None:
    done = run(["git", "rev-parse", "--abbrev-ref", "HEAD"], where, GIT_TIMEOUT_S)
    name = done.stdout.strip() if _failure("branch", done) is None else ""
    return name if name and name != "HEAD" else None


def _subject(run: Runner, where: Path) -> str | None:
    done = run(["git", "log", "-1", "--format=%s"], where, GIT_TIMEOUT_S)
    subject = done.stdout.strip() if _failure("log", done) is None else ""
    return subject[:MESSAGE_MAX_CHARS] or None


def _failure(step: str, done: Completed) -> str | None:
    """``git_<step>_failed:...`` / ``git_<step>_nonzero_rc:<rc>:<stderr>``, or None on success."""
    if done.error is not None:
        return f"git_{step}_failed:{done.error}"
    if done.returncode != 0:
        return f"git_{step}_nonzero_rc:{done.returncode}:{truncate(done.stderr.strip(), 200)}"
    return None


__all__ = ["GIT_TIMEOUT_S", "git_toplevel", "read_git", "short_hash"]
