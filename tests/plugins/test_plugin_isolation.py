"""A broken plugin is skipped whole, named with file:line, and every other command keeps working."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from vrx_core.errors import PluginError
from vrx_core.events import Metric
from vrx_core.hooks.manager import PluginSet, Selection
from vrx_core.testing import write_log

HEADER = "from vrx_core import hookimpl\nfrom vrx_core.events import Event\n"

RAISING = {
    "vrx_add_hookspecs": "@hookimpl\ndef vrx_add_hookspecs(pluginmanager):\n    raise RuntimeError('boom')\n",
    "vrx_event_kinds": "@hookimpl\ndef vrx_event_kinds():\n    raise RuntimeError('boom')\n",
    "vrx_upcasters": "@hookimpl\ndef vrx_upcasters():\n    raise RuntimeError('boom')\n",
    "vrx_add_commands": (
        "@hookimpl\ndef vrx_add_commands(commands):\n"
        "    commands.add('half', help='added before the failure', handler=lambda a: 0)\n"
        "    raise RuntimeError('boom')\n"
    ),
}


def _plugin_dir(tmp_path: Path, **files: str) -> Path:
    d = tmp_path / "plugins"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / f"{name}.py").write_text(HEADER + textwrap.dedent(text))
    return d


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_log(tmp_path / "run", [Metric("loss", 0.5, 1)])


@pytest.mark.parametrize("hook", sorted(RAISING))
def test_a_plugin_raising_in_a_registration_hook_is_skipped(
    cli, run: Path, tmp_path: Path, hook: str
) -> None:
    plugins = _plugin_dir(tmp_path, bad=RAISING[hook])
    line = 1 + HEADER.count("\n") + RAISING[hook].count("\n")  # the raise is the last line
    r = cli("verify", str(run), "--plugins-dir", str(plugins))
    assert r.code == 0, r.err
    warnings = [w for w in r.err.splitlines() if w.startswith("vrx: warning: plugin bad skipped")]
    if hook == "vrx_add_commands":
        # A core command never asks plugins for their commands; `vrx plugins` does.
        assert warnings == [], r.err
        r = cli("plugins", "--plugins-dir", str(plugins))
        warnings = [w for w in r.err.splitlines() if w.startswith("vrx: warning: plugin bad skipped")]
    assert len(warnings) == 1, r.err
    assert f"{hook} failed: RuntimeError: boom" in warnings[0]
    assert f"bad.py:{line - 1}" in warnings[0]
    # The other plugins and their commands are still there; the broken one's are not.
    listed = cli("plugins", "--plugins-dir", str(plugins)).out
    assert "frame_triage" in listed and "bad " not in listed
    assert cli("triage", "--help", "--plugins-dir", str(plugins)).code == 0
    assert cli("--version").code == 0


def test_a_half_added_command_is_taken_back(cli, tmp_path: Path) -> None:
    plugins = _plugin_dir(tmp_path, bad=RAISING["vrx_add_commands"])
    r = cli("half", "--plugins-dir", str(plugins))
    assert r.code == 69, r.err
    assert "unknown command 'half'" in r.err and "bad" in r.err


def test_a_plugin_whose_dependency_is_missing_names_the_extra(
    cli, run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without torch
    plugins = _plugin_dir(
        tmp_path,
        needs_torch="""
        import torch

        @hookimpl
        def vrx_add_commands(commands):
            commands.add("torchy", help="needs torch", handler=lambda args: 0)
        """,
    )
    r = cli("verify", str(run), "--plugins-dir", str(plugins))
    assert r.code == 0
    assert "plugin needs_torch skipped: import failed: ModuleNotFoundError" in r.err
    assert "needs_torch.py:4" in r.err
    assert "pip install 'vrx-core[torch]'" in r.err
    r = cli("torchy", "--plugins-dir", str(plugins))
    assert r.code == 69
    assert "unknown command 'torchy'" in r.err and "needs_torch" in r.err
    # Replay would silently lose the skipped plugin's files: it refuses and writes nothing.
    before = sorted(p.name for p in run.iterdir())
    r = cli("replay", str(run), "--plugins-dir", str(plugins))
    assert r.code == 69 and "needs_torch" in r.err
    assert sorted(p.name for p in run.iterdir()) == before
    # Leaving it out on purpose works.
    assert cli("replay", str(run), "--plugins-dir", str(plugins), "-p", "no:needs_torch").code == 0


CLASH = """
from vrx_core.events import Event

class Ping{n}(Event, frozen=True, kw_only=True, tag="shared.ping"):
    x: int = 0

@hookimpl
def vrx_event_kinds():
    return [Ping{n}]
"""


def test_two_plugins_registering_one_tag(cli, run: Path, tmp_path: Path) -> None:
    plugins = _plugin_dir(tmp_path, a_first=CLASH.format(n=1), b_second=CLASH.format(n=2))
    r = cli("verify", str(run), "--plugins-dir", str(plugins))
    assert r.code == 0
    assert "plugin b_second skipped: vrx_event_kinds failed: event tag 'shared.ping' is already" in r.err
    assert "registered by plugin a_first" in r.err and "b_second.py:6" in r.err
    ps = PluginSet.load(Selection(dirs=[plugins]), strict=False)
    assert ps.registry.get("shared.ping").cls.__name__ == "Ping1"  # type: ignore[union-attr]
    assert set(ps.skipped) == {"b_second"}


def test_a_plugin_clashing_with_a_core_kind(tmp_path: Path) -> None:
    plugins = _plugin_dir(tmp_path, c=CLASH.format(n=3).replace("shared.ping", "metric"))
    ps = PluginSet.load(Selection(dirs=[plugins]), strict=False)
    assert "already registered by the core" in ps.skipped["c"].reason


def test_strict_loading_raises_naming_the_plugin(tmp_path: Path) -> None:
    plugins = _plugin_dir(tmp_path, bad=RAISING["vrx_event_kinds"])
    with pytest.raises(PluginError, match="'bad' failed in vrx_event_kinds"):
        PluginSet.load(Selection(dirs=[plugins]), strict=True)


def test_a_misspelled_hook_skips_only_that_plugin(cli, run: Path, tmp_path: Path) -> None:
    plugins = _plugin_dir(tmp_path, typo="@hookimpl\ndef vrx_dervier(context):\n    return None\n")
    r = cli("verify", str(run), "--plugins-dir", str(plugins))
    assert r.code == 0, r.err
    assert "plugin typo skipped: check_pending failed: unknown hook 'vrx_dervier'" in r.err
    assert "frame_triage" in cli("plugins", "--plugins-dir", str(plugins)).out


def test_a_second_plugin_of_a_loaded_name_leaves_the_first(tmp_path: Path) -> None:
    from vrx_plugins import manifest

    ps = PluginSet.load(Selection(), strict=False)
    ps.register_module("manifest", manifest, source="-p")
    assert "manifest" in ps.infos and ps.pm.get_plugin("manifest") is not None
    assert "already loaded" in ps.skipped["manifest"].reason
