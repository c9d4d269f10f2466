"""Published rows: the rankable gate, derived columns, no local paths, byte-stable republishing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_packet_fixtures import VECTOR_ENV, VECTOR_METRICS, VECTOR_REPORT, VECTOR_RUN_CMD

from vrx_plugins.ant_ratio.packet import build_packet, packet_json
from vrx_plugins.ant_ratio.rows import (
    DB_FIELDS,
    cap_seed,
    db_csv,
    db_jsonl,
    db_row,
    is_rankable,
    merge_rows,
    write_db,
)

Cli = Callable[..., Any]


@pytest.fixture(autouse=True)
def _plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_LOAD_PLUGINS", "ant_ratio")


def vector_packet(root: str = "/home/me/bench/seed123", **over: Any) -> dict[str, Any]:
    pkt = build_packet(
        VECTOR_METRICS,
        VECTOR_ENV,
        VECTOR_RUN_CMD,
        VECTOR_REPORT,
        probe_run_root="/home/me/bench/probe",
        assoc_run_root=root,
        generated_utc="2026-02-07T12:36:07Z",
        capability_steps=36,
    )
    pkt.update(over)
    return pkt


def test_a_row_from_the_upstream_vector() -> None:
    row = db_row(vector_packet(), run_tag="sweep-a")
    assert list(row) == list(DB_FIELDS)
    assert row == {
        "schema_version": "ant_ratio_db_row_v0",
        "run_tag": "sweep-a",
        "generated_utc": "2026-02-07T12:36:07Z",
        "ant_tier": "small",
        "expert_heads": 4,
        "batch": 16,
        "steps": 36,
        "cap_seed": 123,
        "status": "ok",
        "cap_train_rc": 0,
        "cap_train_nonzero_rc": False,
        "cap_eval_device": "",
        "eval_heartbeat_seen": False,
        "attempt_eval_count": 0,
        "probe_pass": True,
        "vram_ratio_reserved": 0.85,
        "throughput_tokens_per_s": 123.0,
        "tokens_per_vram_ratio": 123.0 / 0.85,
        "assoc_byte_disjoint_accuracy": 0.75,
        "assoc_eval_n": 1234,
        "token_budget_steps": 36,
        "vram_target_abs_error": 0.0,
        "assoc_acc_per_token_per_s": 0.75 / 123.0,
        "assoc_acc_per_vram_ratio": 0.75 / 0.85,
        "rankable": True,
    }


SUMMARY_CSV = (
    "status,error,ant_tier,expert_heads,batch,steps,cap_train_rc,cap_train_nonzero_rc,cap_eval_device,"
    "eval_heartbeat_seen,attempt_eval_count,probe_pass,vram_ratio_reserved,throughput_tokens_per_s,"
    "tokens_per_vram_ratio,assoc_byte_disjoint_accuracy,assoc_acc_per_token_per_s,assoc_acc_per_vram_ratio,"
    "probe_run_root,assoc_run_root\n"
    "ok,,small,1,27,36,0,False,cpu,True,1,True,0.8633,1287.68,1491.47,0.0078125,0.000006,0.0090,"
    "bench_vault/_tmp/a/probe,bench_vault/_tmp/a/seed123\n"
)


def test_the_original_publish_fixture() -> None:
    """The summary CSV row and packet of the upstream publish tests (strings, as csv reads them)."""
    summary = next(csv.DictReader(io.StringIO(SUMMARY_CSV)))
    packet = {
        "ant_tier": "small",
        "expert_heads": 1,
        "batch_size": 27,
        "assoc_eval_n": 512,
        "token_budget_steps": 36,
        "stability_pass": True,
        "probe_run_root": "bench_vault/_tmp/a/probe",
        "assoc_run_root": "bench_vault/_tmp/a/seed123",
    }
    row = db_row(
        packet, summary=summary, run_tag="20260207_082612-full_rankable", generated_utc="2026-02-07T12:36:07Z"
    )
    assert (row["ant_tier"], row["expert_heads"], row["batch"], row["steps"], row["cap_seed"]) == (
        "small",
        1,
        27,
        36,
        123,
    )
    assert (row["status"], row["cap_eval_device"], row["eval_heartbeat_seen"], row["attempt_eval_count"]) == (
        "ok",
        "cpu",
        True,
        1,
    )
    assert (row["probe_pass"], row["vram_ratio_reserved"], row["throughput_tokens_per_s"]) == (
        True,
        0.8633,
        1287.68,
    )
    assert (row["assoc_eval_n"], row["token_budget_steps"], row["rankable"]) == (512, 36, True)
    assert row["tokens_per_vram_ratio"] == 1287.68 / 0.8633  # recomputed, not copied from the summary
    assert "run_root" not in json.dumps(row)


@pytest.mark.parametrize(
    ("status", "probe_pass", "steps", "eval_n", "rankable"),
    [
        ("ok", True, 30, 512, True),
        ("ok", True, 29, 512, False),
        ("ok", True, 30, 511, False),
        ("ok", False, 30, 512, False),
        ("error", True, 30, 512, False),
        ("OK", True, 30, 512, False),
    ],
)
def test_the_rankable_gate(status: str, probe_pass: bool, steps: int, eval_n: int, rankable: bool) -> None:
    assert is_rankable(status, probe_pass, steps, eval_n) is rankable


def test_the_gate_on_packets() -> None:
    assert db_row(vector_packet(token_budget_steps=29), run_tag="t")["rankable"] is False
    assert db_row(vector_packet(assoc_eval_n=511), run_tag="t")["rankable"] is False
    failed = db_row(vector_packet(stability_pass=False), run_tag="t")
    assert (failed["status"], failed["probe_pass"], failed["rankable"]) == ("error", False, False)
    assert db_row(vector_packet(), run_tag="t", status="timeout")["rankable"] is False
    assert db_row(vector_packet(), run_tag="t", summary={"status": "error"})["status"] == "error"


def test_derived_columns_without_a_vram_ratio_or_throughput() -> None:
    row = db_row(vector_packet(vram_ratio_reserved=None, throughput_tokens_per_s=None), run_tag="t")
    assert (row["vram_ratio_reserved"], row["tokens_per_vram_ratio"], row["assoc_acc_per_vram_ratio"]) == (
        0.0,
        0.0,
        0.0,
    )
    assert (row["assoc_acc_per_token_per_s"], row["vram_target_abs_error"]) == (0.0, 0.85)


def test_the_vram_target_is_a_parameter() -> None:
    assert db_row(vector_packet(), run_tag="t", vram_target=0.9)["vram_target_abs_error"] == pytest.approx(
        0.05
    )


def test_non_finite_numbers_count_as_missing() -> None:
    row = db_row(vector_packet(throughput_tokens_per_s=float("nan")), run_tag="t")
    assert row["throughput_tokens_per_s"] == 0.0
    assert b"NaN" not in db_jsonl([row])


@pytest.mark.parametrize(
    ("root", "seed"), [("runs/seed123", 123), ("/x/SEED7/y", 7), (None, 0), ("runs/a", 0)]
)
def test_cap_seed(root: Any, seed: int) -> None:
    assert cap_seed(root) == seed


def test_merge_replaces_a_row_with_the_same_key_and_sorts() -> None:
    a = db_row(vector_packet(), run_tag="b")
    b = db_row(vector_packet(ant_tier="real"), run_tag="a")
    newer = db_row(vector_packet(assoc_byte_disjoint_accuracy=0.5), run_tag="b")
    merged = merge_rows([a, b], [newer])
    assert [(r["run_tag"], r["ant_tier"], r["assoc_byte_disjoint_accuracy"]) for r in merged] == [
        ("a", "real", 0.75),
        ("b", "small", 0.5),
    ]


def test_file_formats() -> None:
    rows = [db_row(vector_packet(), run_tag="t")]
    text = db_csv(rows).decode()
    assert text.startswith(",".join(DB_FIELDS) + "\r\n")
    assert next(csv.DictReader(io.StringIO(text)))["rankable"] == "True"
    line = db_jsonl(rows).decode()
    assert line == json.dumps(rows[0], sort_keys=True, ensure_ascii=True) + "\n"
    assert db_jsonl([]) == b""


# -- vrx packet publish --------------------------------------------------------------------------------


def write_packet(path: Path, packet: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(packet_json(packet))
    return path


def test_published_rows_hold_no_local_paths(cli: Cli, tmp_path: Path) -> None:
    local = tmp_path / "bench" / "assoc_seed123"
    run = tmp_path / "packet-20260207-123607"
    write_packet(
        run / "packet.json", vector_packet(str(local), probe_run_root=str(tmp_path / "bench" / "probe"))
    )
    r = cli("packet", "publish", str(run), "--db", str(tmp_path / "db"))
    assert r.code == 0, r.err
    assert "published 1 row(s), 1 rankable" in r.out
    for name in ("db_v0.csv", "db_v0.jsonl"):
        text = (tmp_path / "db" / name).read_text()
        assert str(tmp_path) not in text and "run_root" not in text and "/home/" not in text
    row = json.loads((tmp_path / "db" / "db_v0.jsonl").read_text())
    assert (row["run_tag"], row["cap_seed"]) == ("packet-20260207-123607", 123)


def test_republishing_is_byte_stable(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "20260207_082612-full_rankable"
    lines = [
        packet_json(vector_packet()).decode().replace("\n", "").replace("  ", ""),
        json.dumps({**vector_packet("runs/seed7"), "ant_tier": "real", "expert_heads": 2}),
    ]
    (sweep / "ant_ratio_packets.jsonl").parent.mkdir(parents=True)
    (sweep / "ant_ratio_packets.jsonl").write_text("\n".join(lines) + "\n")
    single = write_packet(tmp_path / "p" / "packet.json", vector_packet(assoc_eval_n=100))
    args = (
        "packet",
        "publish",
        str(sweep / "ant_ratio_packets.jsonl"),
        str(single),
        "--db",
        str(tmp_path / "db"),
    )
    assert cli(*args).code == 0
    first = {n: (tmp_path / "db" / n).read_bytes() for n in ("db_v0.csv", "db_v0.jsonl")}
    r = cli(*args)
    assert r.code == 0 and "(3 row(s) in all)" in r.out
    assert {n: (tmp_path / "db" / n).read_bytes() for n in first} == first
    rows = [json.loads(x) for x in first["db_v0.jsonl"].decode().splitlines()]
    assert [(r["run_tag"], r["ant_tier"]) for r in rows] == [
        ("20260207_082612-full_rankable", "small"),
        ("20260207_082612-full_rankable", "real"),
        ("p", "small"),
    ]


def test_publish_merges_into_an_existing_database(cli: Cli, tmp_path: Path) -> None:
    write_db([db_row(vector_packet(), run_tag="old")], tmp_path / "db")
    new = write_packet(tmp_path / "new" / "packet.json", vector_packet())
    assert cli("packet", "publish", str(new), "--db", str(tmp_path / "db"), "--run-tag", "fresh").code == 0
    tags = [json.loads(x)["run_tag"] for x in (tmp_path / "db" / "db_v0.jsonl").read_text().splitlines()]
    assert tags == ["fresh", "old"]


def test_publish_rankable_only(cli: Cli, tmp_path: Path) -> None:
    bad = write_packet(tmp_path / "bad" / "packet.json", vector_packet(token_budget_steps=10))
    good = write_packet(tmp_path / "good" / "packet.json", vector_packet())
    r = cli("packet", "publish", str(bad), str(good), "--db", str(tmp_path / "db"), "--rankable-only")
    assert r.code == 0 and "published 1 row(s), 1 rankable" in r.out


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "code", "what"),
    [
        (lambda p: p, 66, "no such file or directory"),
        (lambda p: p.mkdir() or p, 66, "no db_v0.jsonl or packet.json here"),
        (lambda p: _write(p, "{oops"), 65, "failed to parse JSON"),
        (lambda p: _write(p, "[1]"), 65, "not a JSON object"),
    ],
)
def test_publish_input_errors(
    cli: Cli, tmp_path: Path, make: Callable[[Path], Path], code: int, what: str
) -> None:
    arg = make(tmp_path / "input")
    r = cli("packet", "publish", str(arg), "--db", str(tmp_path / "db"))
    assert r.code == code
    assert r.err.startswith(f"ERROR: {arg}") and what in r.err
    assert not (tmp_path / "db").exists()
