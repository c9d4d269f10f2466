"""The CLI side of plugins: discovery (-p, -p no:, --plugins-dir, env), replay, events, plugins, docs."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from vrx_core.events import Metric, Params
from vrx_core.hooks import specs as hookspecs
from vrx_core.hooks.manager import Selection
from vrx_core.testing import write_log

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_log(
        tmp_path / "run", [Params(values={"lr": 0.1}), *[Metric("loss", 1.0 / s, s) for s in range(1, 6)]]
    )


def test_plugins_dir_plugin_is_applied_to_an_old_run(cli, run: Path) -> None:
    """--plugins-dir loads a loose .py plugin and replay writes its file."""
    r = cli("replay", str(run), "--plugins-dir", str(EXAMPLES))
    assert r.code == 0, r.err
    assert "ema.json  (custom_metric_plugin)" in r.out
    assert json.loads((run / "ema.json").read_text())["loss"]["n"] == 5


def test_env_plugins_dir_and_blocking(cli, run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$VRX_PLUGINS_DIR loads plugins; -p no:NAME blocks one."""
    monkeypatch.setenv("VRX_PLUGINS_DIR", str(EXAMPLES))
    assert "custom_metric_plugin" in cli("plugins").out
    r = cli("replay", str(run), "-p", "no:custom_metric_plugin")
    assert r.code == 0 and not (run / "ema.json").exists()


def test_load_plugins_env_restricts(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """VRX_LOAD_PLUGINS='' loads no plugin at all."""
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "")
    monkeypatch.setenv("VRX_PLUGINS_DIR", str(EXAMPLES))
    r = cli("plugins", "--json")
    assert json.loads(r.out) == []


def test_selection_parses_every_spelling() -> None:
    """-p NAME, -pNAME, --plugin=NAME, -p no:NAME and --plugins-dir[=] are all understood."""
    sel = Selection.from_argv(
        [
            "replay",
            "x",
            "-p",
            "a",
            "-pb",
            "--plugin=c",
            "-p",
            "no:d",
            "--plugins-dir",
            "D1",
            "--plugins-dir=D2",
        ],
        environ={},
    )
    assert sel.enable == ["a", "b", "c"] and sel.block == {"d"}
    assert [str(d) for d in sel.dirs] == ["D1", "D2"] and sel.only is None


def test_p_imports_a_module(cli, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-p MODULE imports a plugin module by name."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    r = cli("plugins", "-p", "custom_metric_plugin")
    assert "custom_metric_plugin" in r.out and "[-p]" in r.out


def test_missing_plugins_dir_is_a_usage_error(cli, run: Path) -> None:
    """A --plugins-dir that does not exist exits 2 with one line."""
    r = cli("replay", str(run), "--plugins-dir", "/nonexistent/dir")
    assert r.code == 2 and "plugins directory does not exist" in r.err


def test_replay_check_cli(cli, run: Path) -> None:
    """replay --check exits 0 when clean and 65 with a diff on drift."""
    assert cli("replay", str(run), "--plugins-dir", str(EXAMPLES)).code == 0
    ok = cli("replay", "--check", str(run), "--plugins-dir", str(EXAMPLES))
    assert ok.code == 0 and "no drift" in ok.out
    (run / "ema.json").write_text("{}\n")
    bad = cli("replay", "--check", str(run), "--plugins-dir", str(EXAMPLES))
    assert bad.code == 65 and "ema.json: differs" in bad.out and "(from log)" in bad.out


def test_replay_of_missing_run_exits_66(cli, tmp_path: Path) -> None:
    """A run directory without a log exits 66 with one line."""
    r = cli("replay", str(tmp_path / "nope"))
    assert r.code == 66 and r.err.count("\n") == 1 and "no such event log" in r.err


def test_events_filters_and_json(cli, run: Path) -> None:
    """vrx events --type/--since-seq filter; --json prints one object per line."""
    r = cli("events", str(run), "--type", "metric", "--since-seq", "4", "--json")
    rows = [json.loads(line) for line in r.out.splitlines()]
    assert [row["seq"] for row in rows] == [4, 5, 6]
    assert {row["type"] for row in rows} == {"metric"}
    table = cli("events", str(run)).out.splitlines()
    assert table[0].split()[:2] == ["seq", "time"]  # a header, then one row per event
    assert len(table) == 1 + len((run / "events.jsonl").read_bytes().splitlines())
    assert "run_start" in table[1] and "name=loss" in table[4]


def test_plugins_lists_source_hooks_and_consumes(cli) -> None:
    """vrx plugins shows version, source, hooks and consumed kinds."""
    r = cli("plugins", "--plugins-dir", str(EXAMPLES), "--json")
    row = next(x for x in json.loads(r.out) if x["name"] == "custom_metric_plugin")
    assert row["hooks"] == ["vrx_deriver"] and row["consumes"] == ["metric", "params"]
    assert row["source"].startswith("plugins dir")


def test_every_hook_is_documented() -> None:
    """Each hookspec has a docstring with versionadded, and docs/hooks.md has a section for it."""
    doc = (ROOT / "docs" / "hooks.md").read_text()
    for name in hookspecs.HOOK_NAMES:
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and "versionadded" in fn.__doc__, name
        assert re.search(rf"^## `{name}", doc, re.M), f"{name} missing from docs/hooks.md"
        heading = f"## `{_signature(name)}`"
        assert heading in doc.splitlines(), f"docs/hooks.md: expected the heading {heading}"


def _signature(name: str) -> str:
    """``name(param: Type, ...) -> Return`` as the hookspec declares it (annotations as written)."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{name}({params}) -> {sig.return_annotation}"
