"""The ranking: rankable first, nearest the VRAM target, then tokens and accuracy per VRAM ratio."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_plugins.ant_ratio.rank import rank_key, ranked
from vrx_plugins.ant_ratio.rows import db_row, write_db
from vrx_plugins.ant_ratio.view import COLUMNS, plain_table, print_ranking

Cli = Callable[..., Any]


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "ant_ratio")


def row(
    tag: str, vram: float, tps: float, acc: float, *, steps: int = 40, passed: bool = True
) -> dict[str, Any]:
    packet = {
        "ant_tier": "small",
        "expert_heads": 1,
        "batch_size": 8,
        "stability_pass": passed,
        "vram_ratio_reserved": vram,
        "throughput_tokens_per_s": tps,
        "assoc_byte_disjoint_accuracy": acc,
        "assoc_eval_n": 4096,
        "token_budget_steps": steps,
    }
    return db_row(packet, run_tag=tag)


ROWS = [
    row("far", 0.60, 9000.0, 0.9),  # rankable but far from the target
    row("fail", 0.85, 9000.0, 0.9, passed=False),  # on target, but a FAIL: after every rankable row
    row("short", 0.85, 9000.0, 0.9, steps=29),  # too few steps to rank
    row("near-slow", 0.86, 100.0, 0.5),
    row("near-fast", 0.84, 172.0, 0.5),  # same distance as near-slow (0.01), more tokens per VRAM ratio
    row("exact", 0.85, 10.0, 0.1),
    row("tie-acc-lo", 0.80, 80.0, 0.2),
    row("tie-acc-hi", 0.80, 80.0, 0.4),  # same distance and tokens/vram: more accuracy per VRAM wins
]


def test_the_order() -> None:
    order = [r["run_tag"] for r in ranked(ROWS)]
    assert order == ["exact", "near-fast", "near-slow", "tie-acc-hi", "tie-acc-lo", "far", "fail", "short"]


def test_ranks_are_numbered_and_rankable_only_drops_the_rest() -> None:
    only = ranked(ROWS, rankable_only=True)
    assert [r["rank"] for r in only] == [1, 2, 3, 4, 5, 6]
    assert {r["run_tag"] for r in only}.isdisjoint({"fail", "short"})
    assert next(iter(only[0])) == "rank"


def test_ties_keep_their_order() -> None:
    a, b = row("a", 0.85, 10.0, 0.1), row("b", 0.85, 10.0, 0.1)
    assert [r["run_tag"] for r in ranked([b, a])] == ["b", "a"]


def test_missing_numbers_sort_last() -> None:
    assert rank_key({"rankable": True}) > rank_key(row("x", 0.1, 1.0, 0.0))


def test_plain_table() -> None:
    text = plain_table(ranked(ROWS[:2]))
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [header for header, _, _ in COLUMNS]
    assert len(lines) == 3 and lines[1].split()[:2] == ["1", "far"]
    assert "FAIL" in lines[2] and lines[2].endswith("no")


def test_vrx_packet_rank_prints_a_plain_table_when_piped(cli: Cli, tmp_path: Path) -> None:
    write_db(ROWS, tmp_path / "db")
    r = cli("packet", "rank", str(tmp_path / "db"))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "\x1b[" not in r.out and "┃" not in r.out
    assert [line.split()[1] for line in lines[1:]] == [
        "exact",
        "near-fast",
        "near-slow",
        "tie-acc-hi",
        "tie-acc-lo",
        "far",
        "fail",
        "short",
    ]


def test_vrx_packet_rank_json_and_limit(cli: Cli, tmp_path: Path) -> None:
    write_db(ROWS, tmp_path / "db")
    r = cli("packet", "rank", str(tmp_path / "db" / "db_v0.jsonl"), "--json", "--limit", "2")
    assert r.code == 0, r.err
    got = [json.loads(x) for x in r.out.splitlines()]
    assert [(g["rank"], g["run_tag"]) for g in got] == [(1, "exact"), (2, "near-fast")]


def test_vrx_packet_rank_takes_packets_too(cli: Cli, tmp_path: Path) -> None:
    run = tmp_path / "packet-1"
    run.mkdir()
    (run / "packet.json").write_text(
        json.dumps(
            {
                "ant_tier": "real",
                "stability_pass": True,
                "vram_ratio_reserved": 0.85,
                "token_budget_steps": 50,
                "assoc_eval_n": 600,
            }
        )
    )
    r = cli("packet", "rank", str(run), "--json")
    assert r.code == 0, r.err
    got = json.loads(r.out)
    assert (got["run_tag"], got["ant_tier"], got["rankable"]) == ("packet-1", "real", True)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("columns", "rich"), [("250", True), ("60", False)])
def test_a_terminal_gets_a_rich_table_when_it_fits(
    monkeypatch: pytest.MonkeyPatch, columns: str, rich: bool
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    out = Terminal()
    print_ranking(ranked(ROWS), out)
    text = out.getvalue()
    assert ("┃" in text) is rich
    assert ("near-fast" in text) and (text == plain_table(ranked(ROWS))) is not rich
