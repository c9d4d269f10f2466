"""The one git reader: commit, dirty flag, branch and subject, failures in the probe's vocabulary."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from vrx_core.capture.git import MESSAGE_MAX_CHARS, git_toplevel, read_git, short_hash
from vrx_core.capture.proc import Completed
from vrx_core.events import GitInfo

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NOT_A_REPO = "fatal: not a git repository (or any of the parent directories): .git"


class FakeGit:
    """``which`` and ``run`` of a machine whose git answers ``answers[" ".join(argv[1:])]``."""

    def __init__(self, answers: dict[str, Completed], *, installed: bool = True) -> None:
        self.answers = answers
        self.installed = installed
        self.commands: list[tuple[str, Path | None]] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if self.installed and name == "git" else None

    def run(self, argv: Sequence[str], cwd: Path | None, timeout_s: float) -> Completed:
        assert argv[0] == "git"
        args = " ".join(argv[1:])
        self.commands.append((args, cwd))
        return self.answers.get(args, Completed(1, "", "unexpected arguments"))


def ok(stdout: str) -> Completed:
    return Completed(0, stdout, "")


def repo(*, status: str = "", branch: str = "main\n", subject: str = "Fix the thing\n") -> FakeGit:
    return FakeGit(
        {
            "rev-parse HEAD": ok(COMMIT + "\n"),
            "status --porcelain": ok(status),
            "rev-parse --abbrev-ref HEAD": ok(branch),
            "log -1 --format=%s": ok(subject),
        }
    )


def read(git: FakeGit, cwd: Path) -> GitInfo:
    return read_git(cwd, run=git.run, which=git.which)


def test_no_git_binary_is_git_not_found(tmp_path: Path) -> None:
    git = FakeGit({}, installed=False)
    assert read(git, tmp_path) == GitInfo(error="git_not_found")
    assert git.commands == []


def test_rev_parse_failing_names_its_exit_code_and_stderr(tmp_path: Path) -> None:
    git = FakeGit({"rev-parse HEAD": Completed(128, "", NOT_A_REPO + "\n")})
    info = read(git, tmp_path)
    assert info == GitInfo(error=f"git_rev_parse_nonzero_rc:128:{NOT_A_REPO}")
    assert (info.commit_full, info.dirty, info.branch) == (None, None, None)
    assert [args for args, _ in git.commands] == ["rev-parse HEAD"]  # nothing more is asked


def test_rev_parse_that_cannot_run_is_failed_with_the_reason(tmp_path: Path) -> None:
    git = FakeGit({"rev-parse HEAD": Completed(999, "", "", "FileNotFoundError: gone")})
    assert read(git, tmp_path).error == "git_rev_parse_failed:FileNotFoundError: gone"


def test_a_long_stderr_is_cut(tmp_path: Path) -> None:
    git = FakeGit({"rev-parse HEAD": Completed(2, "", "e" * 1000)})
    error = read(git, tmp_path).error
    assert error is not None and error.startswith("git_rev_parse_nonzero_rc:2:eee")
    assert error.endswith("...<truncated>...\n") and len(error) < 260


def test_a_clean_checkout(tmp_path: Path) -> None:
    git = repo()
    info = read(git, tmp_path)
    assert info == GitInfo(commit_full=COMMIT, branch="main", dirty=False, message="Fix the thing")
    assert short_hash(info) == COMMIT[:7] and short_hash(info, 12) == COMMIT[:12]
    assert [args for args, _ in git.commands] == [
        "rev-parse HEAD",
        "status --porcelain",
        "rev-parse --abbrev-ref HEAD",
        "log -1 --format=%s",
    ]
    assert {cwd for _, cwd in git.commands} == {tmp_path}


def test_any_status_line_is_dirty(tmp_path: Path) -> None:
    assert read(repo(status=" M src/x.py\n"), tmp_path).dirty is True
    assert read(repo(status="?? new.txt\n"), tmp_path).dirty is True


def test_a_failing_status_keeps_the_commit(tmp_path: Path) -> None:
    git = repo()
    git.answers["status --porcelain"] = Completed(128, "", "fatal: index file corrupt")
    info = read(git, tmp_path)
    assert (info.commit_full, info.dirty) == (COMMIT, None)
    assert info.error == "git_status_nonzero_rc:128:fatal: index file corrupt"


def test_detached_head_has_no_branch(tmp_path: Path) -> None:
    info = read(repo(branch="HEAD\n"), tmp_path)
    assert info.branch is None and info.commit_full == COMMIT and info.error is None


def test_branch_and_subject_are_best_effort(tmp_path: Path) -> None:
    git = repo()
    del git.answers["rev-parse --abbrev-ref HEAD"], git.answers["log -1 --format=%s"]
    info = read(git, tmp_path)  # both answered rc 1: no error, just unknown
    assert (info.branch, info.message, info.error, info.dirty) == (None, None, None, False)


def test_subject_is_cut_to_80_characters(tmp_path: Path) -> None:
    info = read(repo(subject="s" * 100 + "\n"), tmp_path)
    assert MESSAGE_MAX_CHARS == 80 and info.message == "s" * 80


def test_short_hash_of_nothing() -> None:
    assert short_hash(GitInfo(error="git_not_found")) is None


def test_toplevel_with_fake_git(tmp_path: Path) -> None:
    git = FakeGit({"rev-parse --show-toplevel": ok("/src/repo\n")})
    assert git_toplevel(tmp_path, run=git.run, which=git.which) == Path("/src/repo")
    failing = FakeGit({"rev-parse --show-toplevel": Completed(128, "", NOT_A_REPO)})
    assert git_toplevel(tmp_path, run=failing.run, which=failing.which) is None
    absent = FakeGit({}, installed=False)
    assert git_toplevel(tmp_path, run=absent.run, which=absent.which) is None


# -- the real git ------------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` with git unable to see a repository above it or the user's configuration."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return tmp_path


def git(cwd: Path, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@needs_git
def test_a_real_repository(isolated: Path) -> None:
    work = isolated / "repo"
    work.mkdir()
    git(work, "init", "-q", "-b", "trunk")
    (work / "a.txt").write_text("a\n")
    git(work, "add", "a.txt")
    git(work, "commit", "-q", "-m", "First commit")
    clean = read_git(work)
    assert clean.commit_full is not None and re.fullmatch(r"[0-9a-f]{40}", clean.commit_full)
    assert (clean.branch, clean.dirty, clean.message, clean.error) == ("trunk", False, "First commit", None)
    (work / "untracked.txt").write_text("new\n")
    (work / "sub").mkdir()
    dirty = read_git(work / "sub")  # asked from a subdirectory: the same checkout
    assert (dirty.commit_full, dirty.dirty) == (clean.commit_full, True)
    assert git_toplevel(work / "sub") == work.resolve()


@needs_git
def test_a_real_directory_outside_any_repository(isolated: Path) -> None:
    info = read_git(isolated)
    assert info.commit_full is None and info.dirty is None
    assert info.error is not None and info.error.startswith("git_rev_parse_nonzero_rc:128:")
    assert git_toplevel(isolated) is None
