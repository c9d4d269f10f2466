"""FNV-1a 64: test vectors, compiled/fallback parity, chunking, and file hashing safety."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrx_plugins.manifest import fnv

VECTORS = [
    (b"", "cbf29ce484222325"),
    (b"a", "af63dc4c8601ec8c"),
    (b"foobar", "85944171f73967e8"),
    (b'{"scenario_id":"smoke"}\n', "0fd782beec963be6"),
    (b'{"run_id":"run-123"}\n', "a42d7ab98cefff66"),
]


@pytest.mark.parametrize(("data", "digest"), VECTORS)
def test_vectors(data: bytes, digest: str) -> None:
    assert fnv.fnv1a64_hex(data) == digest
    assert fnv.format_hash(fnv.fnv1a64_py(data)) == digest
    assert fnv.format_hash(fnv.fnv1a64(bytearray(data))) == digest
    assert fnv.format_hash(fnv.fnv1a64(memoryview(data))) == digest
    assert fnv.Fnv1a64(data).hexdigest() == digest


def test_extension_is_built() -> None:
    # The editable install must build plugins/manifest/_fnv.c; the fallback is ~200x slower.
    assert fnv.COMPILED


@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=5))
def test_chunked_equals_whole_and_matches_fallback(data: bytes, cuts: list[int]) -> None:
    whole = fnv.fnv1a64(data)
    assert whole == fnv.fnv1a64_py(data)
    h = fnv.OFFSET_BASIS
    hasher = fnv.Fnv1a64()
    previous = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        h = fnv.fnv1a64(data[previous:cut], h)
        hasher.update(data[previous:cut])
        previous = cut
    assert h == whole == hasher.intdigest()
    assert hasher.size == len(data)


@given(h=st.integers(0, fnv.MASK64), data=st.binary(max_size=40))
def test_any_start_state(h: int, data: bytes) -> None:
    assert fnv.fnv1a64(data, h) == fnv.fnv1a64_py(data, h)


@pytest.mark.parametrize("impl", [fnv.fnv1a64, fnv.fnv1a64_py])
def test_bad_arguments(impl: object) -> None:
    func = impl  # type: ignore[assignment]
    with pytest.raises(OverflowError):
        func(b"x", -1)  # type: ignore[operator]
    with pytest.raises(OverflowError):
        func(b"x", 1 << 64)  # type: ignore[operator]
    with pytest.raises(TypeError):
        func("text")  # type: ignore[operator]


def test_compiled_rejects_bool_state_and_bad_arity() -> None:
    if not fnv.COMPILED:
        pytest.skip("extension not built")
    from vrx_plugins.manifest import _fnv

    with pytest.raises(TypeError):
        _fnv.fnv1a64(b"x", True)
    with pytest.raises(TypeError):
        _fnv.fnv1a64()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _fnv.fnv1a64(b"x", 1, 2)  # type: ignore[call-arg]


def test_large_buffer_releases_gil_and_stays_correct() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: above the GIL-release threshold
    expected = fnv.fnv1a64_py(data)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(fnv.fnv1a64(data))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_file_hashing_multi_chunk(tmp_path: Path) -> None:
    data = os.urandom(fnv.CHUNK_SIZE * 2 + 12345)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert fnv.fnv1a64_file(path) == (len(data), fnv.fnv1a64_hex(data))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert fnv.fnv1a64_file(empty) == (0, "cbf29ce484222325")


def test_fd_hashing_starts_at_zero_and_leaves_fd_open(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"foobar")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.read(fd, 3)
        assert fnv.fnv1a64_fd(fd) == (6, "85944171f73967e8")
        os.fstat(fd)  # still open
    finally:
        os.close(fd)


def test_file_hashing_refuses_symlinks_dirs_and_fifos(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"a")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        fnv.fnv1a64_file(link)
    with pytest.raises(fnv.NotRegularFileError, match="is not a regular file"):
        fnv.fnv1a64_file(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(fnv.NotRegularFileError, match="fifo: is not a regular file"):
        fnv.fnv1a64_file(fifo)  # must not block waiting for a writer
