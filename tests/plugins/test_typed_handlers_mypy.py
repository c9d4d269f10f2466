"""mypy checks each handler's parameter against the classes it subscribes to; the example needs no ignore."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_metric_plugin.py"

BAD = textwrap.dedent(
    """\
    from vrx_core.events import AnyEvent, Log, Metric, Params, UnknownEvent
    from vrx_core.hooks.api import Deriver, handles


    class Wrong(Deriver):
        @handles(Metric)  # error: a Log is not a Metric
        def on_metric(self, event: Log) -> None: ...

        @handles(Metric, Params)  # error: Params missing
        def on_two(self, event: Metric) -> None: ...

        @handles("x.y")  # error: a tagged kind may decode typed
        def on_tag(self, event: UnknownEvent) -> None: ...

        @handles(Metric, Params)
        def on_ok(self, event: Metric | Params) -> None: ...

        @handles("x.y", Metric)
        def on_any(self, event: AnyEvent) -> None: ...


    class NotADeriver:
        @handles(Metric)  # error: not a Deriver method
        def on_metric(self, event: Metric) -> None: ...
    """
)


def test_mypy_checks_handler_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip("mypy.api")
    bad = tmp_path / "bad_plugin.py"
    bad.write_text(BAD)
    assert "type: ignore" not in EXAMPLE.read_text()
    monkeypatch.setenv("MYPYPATH", str(ROOT / "src"))
    out, err, _ = api.run(
        ["--strict", "--no-error-summary", "--follow-imports=silent", str(EXAMPLE), str(bad)]
    )
    lines = [line for line in out.splitlines() if ": error:" in line]
    assert not [line for line in lines if "custom_metric_plugin" in line], out + err
    flagged = sorted({int(line.split(":")[1]) for line in lines if "bad_plugin" in line})
    expected = [i for i, line in enumerate(BAD.splitlines(), 1) if "# error" in line]
    assert len(expected) == 4 and flagged == expected, out + err
