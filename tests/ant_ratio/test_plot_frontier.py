"""The frontier plot: the Pareto points, byte-stable PNGs, and one line without matplotlib."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_plugins.ant_ratio.plot import EXTRA_HINT, PlotUnavailable, frontier_png, frontier_points
from vrx_plugins.ant_ratio.rows import db_row, write_db

Cli = Callable[..., Any]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "ant_ratio")


def row(tier: str, heads: int, vram: float, tps: float, acc: float, *, steps: int = 40) -> dict[str, Any]:
    packet = {
        "ant_tier": tier,
        "expert_heads": heads,
        "stability_pass": True,
        "vram_ratio_reserved": vram,
        "throughput_tokens_per_s": tps,
        "assoc_byte_disjoint_accuracy": acc,
        "assoc_eval_n": 4096,
        "token_budget_steps": steps,
        "assoc_run_root": f"runs/seed{heads}",
    }
    return db_row(packet, run_tag="sweep")


ROWS = [
    row("small", 1, 0.85, 1000.0, 0.02),
    row("small", 4, 0.85, 850.0, 0.05),
    row("real", 2, 0.80, 400.0, 0.08),
    row("stress", 8, 0.90, 90.0, 0.06),  # dominated by real E2
    row("custom", 16, 0.50, 50.0, 0.01),  # dominated
    row("small", 2, 0.85, 5000.0, 0.5, steps=10),  # not rankable: never on the frontier
]


def test_frontier_points_are_the_undominated_rankable_rows() -> None:
    assert frontier_points(ROWS) == [(500.0, 0.08), (1000.0, 0.05), (1000.0 / 0.85, 0.02)]


def test_the_png_is_byte_stable() -> None:
    first = frontier_png(ROWS)
    assert first.startswith(PNG)
    assert frontier_png(ROWS) == first
    assert b"Software" not in first and b"matplotlib" not in first.lower()
    assert frontier_png(ROWS, title="other") != first


def test_no_rows_still_make_a_png() -> None:
    assert frontier_png([]).startswith(PNG)


def test_vrx_packet_frontier(cli: Cli, tmp_path: Path) -> None:
    write_db(ROWS, tmp_path / "db")
    out = tmp_path / "plots" / "frontier.png"
    r = cli("packet", "frontier", str(tmp_path / "db"), "--out", str(out))
    assert r.code == 0, r.err
    assert out.read_bytes() == frontier_png(ROWS)
    assert cli("packet", "frontier", str(tmp_path / "db"), "--out", str(out)).code == 0
    assert out.read_bytes() == frontier_png(ROWS)


def test_without_matplotlib_one_line_names_the_extra(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PlotUnavailable):
        frontier_png(ROWS)
    write_db(ROWS, tmp_path / "db")
    r = cli("packet", "frontier", str(tmp_path / "db"), "--out", str(tmp_path / "f.png"))
    assert r.code == 69
    assert r.err.count("\n") == 1 and EXTRA_HINT in r.err and EXTRA_HINT == "pip install 'vrx-core[plot]'"
    assert not (tmp_path / "f.png").exists()
