"""Plugins fed by a tail, batch by batch, end with the same derived values as a full replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from _tail_harness import PLUGINS_DIR, json_lines, tail, writer

from vrx_core.codec import json_safe
from vrx_core.engine.replay import Replayer, replay
from vrx_core.follow.follower import Snapshot, follow
from vrx_core.hooks.api import ReplayContext
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.log.reader import LogReader


def _plugins() -> PluginSet:
    return PluginSet.load(Selection(dirs=[PLUGINS_DIR]), entry_points=False)


def _full(run: Path) -> dict[str, dict[str, Any]]:
    plugins = _plugins()
    r = Replayer(plugins.derivers(ReplayContext(run_dir=run, out_dir=None, registry=plugins.registry)))
    r.feed(LogReader(run, registry=plugins.registry))
    return r.snapshots()


@pytest.mark.parametrize("from_start", [True, False], ids=["from-start", "from-end"])
def test_incremental_snapshots_equal_full_replay(tmp_path: Path, from_start: bool) -> None:
    """follow(snapshots=True) with the writer in another process: the last snapshot equals a full
    replay's, and the derived file a replay writes holds the same values."""
    run = tmp_path / "run"
    w = writer(run, "--n", "20", "--more", "300", "--interval", "0.001", stdin=True)
    w.wait_for("paused")
    items = follow(run, plugins=_plugins(), snapshots=True, from_start=from_start, timeout=30)
    snaps: list[Snapshot] = []
    for item in items:
        if isinstance(item, Snapshot):
            snaps.append(item)
            if len(snaps) == 1:
                w.send("go\n")  # the rest arrives while the tail follows
    assert w.wait() == 0, w.stderr
    assert len(snaps) > 1  # folded in several parts
    assert snaps[-1].plugins == _full(run)
    assert snaps[-1].seq == snaps[-1].plugins["tail_stats"]["max_seq"]
    result = replay(run, _plugins(), out_dir=tmp_path / "out")
    derived = msgspec.json.decode((result.out_dir / "tail_stats.json").read_bytes())
    assert derived == snaps[-1].plugins["tail_stats"]


def test_cli_json_snapshots_equal_full_replay(tmp_path: Path) -> None:
    """`vrx tail --json --plugins-dir`: the last snapshot object equals the full replay's values."""
    run = tmp_path / "run"
    t = tail(run, "--json", "--plugins-dir", str(PLUGINS_DIR), env={"VRX_LOAD_PLUGINS": "tail_stats"})
    w = writer(run, "--n", "250", "--interval", "0.001", "--start-delay", "0.2")
    assert w.wait() == 0
    assert t.wait() == 0, t.stderr
    snaps = [o for o in json_lines(t.seen) if o["kind"] == "snapshot"]
    assert snaps and snaps[-1]["plugins"] == json_safe(_full(run))


def test_failing_plugin_is_reported_and_the_tail_goes_on(tmp_path: Path) -> None:
    """A deriver that raises: a plugin_failed notice naming plugin, hook and seq; every event is
    still shown; exit 70 at the run end (as `vrx replay`)."""
    run = tmp_path / "run"
    w = writer(run, "--n", "80")
    assert w.wait() == 0
    boom = PLUGINS_DIR.parent / "tail_plugins_boom"
    t = tail(run, "--json", "--plugins-dir", str(boom), env={"VRX_LOAD_PLUGINS": "tail_boom"})
    assert t.wait() == 70, t.stderr
    objs = json_lines(t.seen)
    failed = [o for o in objs if o.get("notice") == "plugin_failed"]
    assert len(failed) == 1 and "'tail_boom' failed in on_event at seq" in failed[0]["message"]
    assert [o["event"]["seq"] for o in objs if o["kind"] == "event"] == list(range(objs[-1]["last_seq"] + 1))
    assert objs[-1]["exit"] == 70
