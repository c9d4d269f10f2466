"""Helpers for plugin authors' tests: write a real log, replay it, and a contract test base class.

>>> from vrx_core.testing import PluginContract, write_log
>>> class TestMyPlugin(PluginContract):
...     plugin = my_plugin_module
...     def events(self):
...         return [Metric("loss", 1.0, 1), Metric("loss", 0.5, 2)]

The contract tests check, for every plugin: replaying twice gives the same bytes as once; feeding
the log in parts (as a live tail does) gives the same files as one pass; and the output does not
depend on the wall clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

from vrx_core.engine.replay import Replayer, replay
from vrx_core.events import AnyEvent, Event
from vrx_core.hooks.api import ReplayContext
from vrx_core.hooks.manager import PluginSet
from vrx_core.log.reader import LogReader
from vrx_core.log.rundir import LOCK, LOG, PROVENANCE
from vrx_core.log.writer import Recorder


def make_plugins(*plugins: Any, names: Sequence[str] | None = None) -> PluginSet:
    """A PluginSet holding exactly ``plugins`` (modules or objects with hookimpls), no entry points."""
    ps = PluginSet()
    for i, plugin in enumerate(plugins):
        name = names[i] if names else getattr(plugin, "__name__", f"plugin{i}").rsplit(".", 1)[-1]
        ps.register_module(name, plugin, source="test")
    ps.finalize()
    return ps


def write_log(
    run_dir: str | os.PathLike[str], events: Iterable[Event], *, plugins: PluginSet | None = None
) -> Path:
    """Record ``events`` into a new run with the real writer; return the run directory."""
    path = Path(run_dir)
    registry = plugins.registry if plugins is not None else None
    with Recorder(path, registry=registry, durability="os") as rec:
        for ev in events:
            rec.emit(ev)
    return path


def read_files(directory: Path, *, include_provenance: bool = True) -> dict[str, bytes]:
    """Every derived file under ``directory`` (the log and lock excluded), path -> bytes."""
    out: dict[str, bytes] = {}
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if not p.is_file() or rel in (LOG, LOCK) or rel.startswith(f"{LOG}."):
            continue
        if rel == PROVENANCE and not include_provenance:
            continue
        out[rel] = p.read_bytes()
    return out


def replay_to_dict(
    run_dir: str | os.PathLike[str], plugins: PluginSet, out_dir: str | os.PathLike[str]
) -> dict[str, bytes]:
    """Replay ``run_dir`` into ``out_dir`` and return the derived files."""
    replay(run_dir, plugins, out_dir=out_dir)
    return read_files(Path(out_dir))


def replay_in_parts(
    run_dir: Path, plugins: PluginSet, out_dir: Path, cuts: Sequence[int]
) -> dict[str, bytes]:
    """Feed the log to a Replayer in parts split at event indices ``cuts``, then finish."""
    events: list[AnyEvent] = list(LogReader(run_dir / LOG, registry=plugins.registry))
    ctx = ReplayContext(run_dir=run_dir, out_dir=out_dir, registry=plugins.registry)
    replayer = Replayer(plugins.derivers(ctx))
    start = 0
    for cut in [*sorted(cuts), len(events)]:
        replayer.feed(events[start:cut])
        replayer.snapshots()  # a tail asks for snapshots between parts; that must not change the result
        start = cut
    out_dir.mkdir(parents=True, exist_ok=True)
    replayer.finish(out_dir, {name: plugins.version_of(name) for name, _ in replayer.derivers})
    return read_files(out_dir, include_provenance=False)


class PluginContract:
    """Subclass in a test module; set ``plugin`` and implement ``events()`` (and maybe ``plugins()``)."""

    plugin: ClassVar[Any] = None

    def events(self) -> list[Event]:
        raise NotImplementedError("return the events of a representative run")

    def plugins(self) -> PluginSet:
        return make_plugins(self.plugin)

    def _run(self, tmp_path: Path) -> tuple[Path, PluginSet]:
        ps = self.plugins()
        run = write_log(tmp_path / "run", self.events(), plugins=ps)
        return run, ps

    def test_replay_twice_equals_once(self, tmp_path: Path) -> None:
        """Replaying the same log twice gives byte-identical derived files."""
        run, ps = self._run(tmp_path)
        first = replay_to_dict(run, ps, tmp_path / "a")
        second = replay_to_dict(run, ps, tmp_path / "a")
        assert first == second
        assert first == replay_to_dict(run, ps, tmp_path / "b")

    def test_incremental_equals_full(self, tmp_path: Path) -> None:
        """Feeding the log in parts (as a live tail does) gives the same files as one pass."""
        run, ps = self._run(tmp_path)
        full = {k: v for k, v in replay_to_dict(run, ps, tmp_path / "full").items() if k != PROVENANCE}
        n = sum(1 for _ in LogReader(run / LOG, registry=ps.registry))
        for cuts in ([n // 2], [1, n // 3, (2 * n) // 3], list(range(0, n, max(1, n // 7)))):
            parts = replay_in_parts(run, ps, tmp_path / f"parts-{len(cuts)}", cuts)
            assert parts == full

    def test_output_ignores_wall_clock(self, tmp_path: Path) -> None:
        """Derived bytes do not depend on the wall clock at replay time."""
        run, ps = self._run(tmp_path)
        normal = replay_to_dict(run, ps, tmp_path / "now")
        with (
            mock.patch("time.time", return_value=4102444800.0),
            mock.patch("time.time_ns", return_value=4102444800 * 10**9),
        ):
            shifted = replay_to_dict(run, ps, tmp_path / "later")
        assert normal == shifted
