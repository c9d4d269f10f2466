"""Hostile manifest paths and symlink-free opening of bundle members."""

from __future__ import annotations

import contextlib
import os
import posixpath
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.manifest.paths import (
    MAX_COMPONENT_BYTES,
    MemberNotFoundError,
    MemberPathError,
    MemberTypeError,
    check_member_path,
    member_path_problem,
    safe_open_member,
)

HOSTILE = {
    "": "is empty",
    "/etc/passwd": "is absolute",
    "//server/share": "is absolute",
    "../secret": "'..' component",
    "a/../../b": "'..' component",
    "a/..": "'..' component",
    "..": "'..' component",
    ".": "'.' component",
    "./a": "'.' component",
    "a/./b": "'.' component",
    "a//b": "empty component",
    "a/": "empty component",
    "a\\..\\b": "backslash",
    "..\\windows": "backslash",
    "C:/Windows/win.ini": "drive letter",
    "c:evil": "drive letter",
    "a\x00b": "U+0000",
    "a\nb": "U+000A",
    "a\x7fb": "U+007F",
    "a\x85b": "U+0085",
    "a\u2028b": "U+2028",
    "evil\u202etxt.exe": "U+202E",
    "e\u0301t\u00e9.txt": "NFC",
    "\udcff": "U+DCFF",
    "a/" + "x" * (MAX_COMPONENT_BYTES + 1): "longer than 255 bytes",
    "/".join(["abcdefgh"] * 600): "longer than 4096 bytes",
}

VALID = [
    "events.jsonl",
    "metrics.csv",
    "nic/eth0.txt",
    "a/b/c/d.json",
    "\u00e9t\u00e9.txt",
    "..hidden",
    "a..b",
    ".config",
    "dir.with.dots/file",
    "x" * MAX_COMPONENT_BYTES,
    "file:stream",
]


@pytest.mark.parametrize(("rel", "reason"), sorted(HOSTILE.items()))
def test_hostile_paths_are_refused(rel: str, reason: str) -> None:
    with pytest.raises(MemberPathError) as info:
        check_member_path(rel)
    assert reason in str(info.value)
    assert str(info.value).startswith("manifest path ")


def test_non_string_is_refused() -> None:
    with pytest.raises(MemberPathError, match="must be a str"):
        check_member_path(b"a")  # type: ignore[arg-type]


@pytest.mark.parametrize("rel", VALID)
def test_valid_paths_pass(rel: str) -> None:
    check_member_path(rel)


@given(
    st.text(max_size=40)
    | st.lists(st.sampled_from(["a", "..", ".", "", "b\\", "C:", "\u00e9", "e\u0301"])).map("/".join)
)
def test_accepted_paths_stay_inside(rel: str) -> None:
    if member_path_problem(rel) is not None:
        with pytest.raises(MemberPathError):
            check_member_path(rel)
        return
    parts = rel.split("/")
    assert rel and not rel.startswith("/")
    assert all(part not in ("", ".", "..") for part in parts)
    assert posixpath.normpath(rel) == rel
    assert not posixpath.isabs(rel)
    assert "\\" not in rel
    assert all(unicodedata.category(c) not in ("Cc", "Cs") for c in rel)
    assert unicodedata.is_normalized("NFC", rel)


# ----------------------------------------------------------------------------------------------
# safe_open_member


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "bundle"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "run.json").write_bytes(b"{}\n")
    (root / "sub" / "deeper" / "m.csv").write_bytes(b"x,y\n")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    (root / "link_to_outside").symlink_to(outside)
    (root / "link_to_inside").symlink_to(root / "run.json")
    (root / "dirlink").symlink_to(root / "sub")
    (root / "escape").symlink_to(tmp_path)
    os.mkfifo(root / "fifo")
    return root


def read_member(root: int | Path, rel: str) -> bytes:
    fd = safe_open_member(root, rel)
    try:
        return os.read(fd, 100)
    finally:
        os.close(fd)


def test_opens_regular_members(bundle: Path) -> None:
    assert read_member(bundle, "run.json") == b"{}\n"
    assert read_member(bundle, "sub/deeper/m.csv") == b"x,y\n"
    assert read_member(str(bundle), "run.json") == b"{}\n"


def test_root_fd_is_left_open(bundle: Path) -> None:
    root_fd = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert read_member(root_fd, "sub/deeper/m.csv") == b"x,y\n"
        os.fstat(root_fd)
    finally:
        os.close(root_fd)


def test_root_may_be_a_symlink(bundle: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(bundle)
    assert read_member(alias, "run.json") == b"{}\n"


@pytest.mark.parametrize(
    ("rel", "error", "reason"),
    [
        ("link_to_outside", MemberTypeError, "is a symlink"),
        ("link_to_inside", MemberTypeError, "is a symlink"),
        ("dirlink/deeper/m.csv", MemberTypeError, "'dirlink' is a symlink"),
        ("escape/outside.txt", MemberTypeError, "'escape' is a symlink"),
        ("sub", MemberTypeError, "is not a regular file"),
        ("fifo", MemberTypeError, "is not a regular file"),
        ("run.json/x", MemberTypeError, "'run.json' is not a directory"),
        ("missing.json", MemberNotFoundError, "does not exist"),
        ("sub/nope/m.csv", MemberNotFoundError, "'sub/nope' does not exist"),
        ("../outside.txt", MemberPathError, "'..' component"),
        ("/etc/passwd", MemberPathError, "is absolute"),
    ],
)
def test_refusals(bundle: Path, rel: str, error: type[Exception], reason: str) -> None:
    with pytest.raises(error) as info:
        safe_open_member(bundle, rel)
    assert reason in str(info.value)
    assert repr(rel) in str(info.value)


def test_no_fd_leak_on_errors(bundle: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for rel in ["dirlink/deeper/m.csv", "missing.json", "fifo", "sub/nope/m.csv", "run.json"]:
        with contextlib.suppress(MemberTypeError, MemberNotFoundError):
            os.close(safe_open_member(bundle, rel))
    assert len(os.listdir("/proc/self/fd")) == before
