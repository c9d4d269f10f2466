"""`vrx probe pick-batch` (VRA-77): the batch search against a stand-in probe, the targets file, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vrx_plugins.gpu_probe import pick_batch_cli
from vrx_plugins.gpu_probe.pick_batch import (
    FAIL_AT_ONE,
    MISSING_RATIO,
    NON_MONOTONIC,
    SCHEMA_VERSION,
    Band,
    PickBatchError,
    ProbeOutcome,
    pick_batch,
)
from vrx_plugins.gpu_probe.pick_batch_cli import ProbeSettings, pick_all, read_outcome, run_probe

ROW_KEYS = [
    "ant_tier", "colony", "expert_heads", "precision", "amp", "target_ratio", "accept_band", "chosen_batch",
    "chosen_ratio", "chosen_run_root", "boundary_fail_batch", "boundary_fail_run_root", "unusable", "notes",
]


class StandIn:
    """A probe stand-in: ratio(batch) -> ratio; FAIL at or above ``fail_at`` (the VRAM guard)."""

    def __init__(self, ratio: Callable[[int], float | None], fail_at: float = 0.92) -> None:
        self.ratio = ratio
        self.fail_at = fail_at
        self.calls: list[int] = []

    def __call__(self, batch: int) -> ProbeOutcome:
        self.calls.append(batch)
        r = self.ratio(batch)
        ok = r is None or r < self.fail_at
        reasons = () if ok else ("vram_guard",)
        return ProbeOutcome(pass_=ok, ratio=r, run_root=f"run/B{batch}", fail_reasons=reasons)


def linear(b: int) -> float:
    return 0.10 + 0.03 * b  # the original test's oracle: FAIL from B=28 (0.94)


def test_monotonic_ratio_lands_in_the_band() -> None:
    probe = StandIn(linear)
    r = pick_batch(probe, Band(0.85, 0.82, 0.88), max_calls=10)
    assert not r.unusable
    assert r.chosen_ratio is not None and 0.82 <= r.chosen_ratio <= 0.88
    assert r.chosen_run_root == f"run/B{r.chosen_batch}"
    assert len(probe.calls) <= 10 and len(set(probe.calls)) == len(probe.calls)  # no batch twice


def test_doubling_then_bracketing_then_bisection() -> None:
    probe = StandIn(linear)
    r = pick_batch(probe)
    # Doubling up to the first FAIL (32), then bisection between 16 and 32.
    assert probe.calls == [1, 2, 4, 8, 16, 32, 24, 28, 26, 25]
    assert (r.chosen_batch, r.boundary_fail_batch, r.boundary_fail_run_root) == (25, 28, "run/B28")
    assert r.notes == []


def test_step_up_once_when_still_below_target() -> None:
    # 4 lands at 0.82 (in the band, below target): one more doubling for a high bracket.
    probe = StandIn(lambda b: {1: 0.2, 2: 0.4, 4: 0.82, 8: 0.95}.get(b, 0.9))
    r = pick_batch(probe)
    assert probe.calls[:4] == [1, 2, 4, 8]
    assert r.chosen_batch == 4 and r.boundary_fail_batch == 8


def test_refinement_makes_at_most_six_probes() -> None:
    # A cliff jumps over the band: 0.80 up to B=700, 0.90 above. No batch can land in the band.
    probe = StandIn(lambda b: 0.80 if b <= 700 else 0.90, fail_at=2.0)
    r = pick_batch(probe, max_calls=100)
    bracket = probe.calls.index(1024) + 1
    assert probe.calls[:bracket] == [2**i for i in range(11)]
    assert len(probe.calls) - bracket == 6
    assert not r.unusable and r.chosen_ratio is not None and not Band().holds(r.chosen_ratio)


def test_non_monotonic_ratio_aborts_refinement() -> None:
    # The original test's sequence.
    probe = StandIn(lambda b: {1: 0.10, 2: 0.50, 4: 0.40, 8: 0.60}.get(b, 0.60))
    r = pick_batch(probe, Band(0.55, 0.40, 0.70), max_calls=6)
    assert NON_MONOTONIC in r.notes
    assert r.chosen_batch == 2 and not r.unusable


def test_non_monotonic_ratio_during_doubling_keeps_best_pass() -> None:
    probe = StandIn(lambda b: {1: 0.1, 2: 0.3, 4: 0.2}.get(b, 0.5))
    r = pick_batch(probe)
    assert r.notes == [NON_MONOTONIC]
    assert probe.calls == [1, 2, 4, 8]  # the step up still runs, then no refinement
    assert r.chosen_batch == 8 and not r.unusable


def test_non_monotonic_ratio_during_bisection() -> None:
    ratios = {1: 0.1, 2: 0.2, 4: 0.4, 8: 0.6, 16: 0.95, 12: 0.5}
    probe = StandIn(lambda b: ratios.get(b, 0.7))
    r = pick_batch(probe)
    assert probe.calls == [1, 2, 4, 8, 16, 12]
    assert r.notes == [NON_MONOTONIC]
    assert r.chosen_batch == 8 and r.boundary_fail_batch == 16


def test_fail_at_batch_one_is_unusable() -> None:
    probe = StandIn(lambda b: 0.95)
    r = pick_batch(probe)
    assert probe.calls == [1]
    assert r.unusable and r.notes == [FAIL_AT_ONE]
    assert (r.chosen_batch, r.boundary_fail_batch, r.boundary_fail_run_root) == (None, 1, "run/B1")


def test_max_calls_caps_the_probes() -> None:
    probe = StandIn(linear)
    r = pick_batch(probe, max_calls=3)
    assert probe.calls == [1, 2, 4]
    assert r.chosen_batch == 4 and not r.unusable


def test_a_pass_without_ratio_is_unusable() -> None:
    r = pick_batch(StandIn(lambda b: None))
    assert r.unusable and r.chosen_batch is None and r.notes == [MISSING_RATIO]


def test_no_budget_raises() -> None:
    with pytest.raises(PickBatchError, match=r"max_calls=0"):
        pick_batch(StandIn(linear), max_calls=0)


SETTINGS = ProbeSettings(
    colony="OD1_CANON_REAL", precision="fp16", amp=1, warmup_steps=5, measure_steps=50, timeout_s=900.0,
    telemetry_interval=1.0,
)


def test_targets_document_rows_and_flush(tmp_path: Path) -> None:
    out = tmp_path / "targets.json"
    seen_on_disk: list[int] = []

    def prober(tier: str, eh: int, runs: Path) -> Callable[[int], ProbeOutcome]:
        seen_on_disk.append(len(json.loads(out.read_text())["rows"]) if out.exists() else 0)
        if tier == "stress":
            def refuse(batch: int) -> ProbeOutcome:
                raise PickBatchError(f"probe harness rc=2 (invalid args or cannot write): out_dir={runs}")
            return refuse
        return StandIn(linear) if eh == 1 else StandIn(lambda b: 0.99)

    doc = pick_all(
        ["small", "stress"], [1, 4], Band(), SETTINGS, out_root=tmp_path, out_file=out, max_calls=10,
        prober=prober,
    )
    assert seen_on_disk == [0, 1, 2, 3]  # the file is rewritten after every configuration
    assert json.loads(out.read_text()) == doc
    assert out.read_text().endswith("}\n")
    assert doc["schema_version"] == SCHEMA_VERSION and doc["out_root"] == str(tmp_path)
    rows = doc["rows"]
    assert [list(r) for r in rows] == [ROW_KEYS] * 4
    ok, fail1, err, _ = rows
    assert ok["chosen_batch"] == 25 and ok["accept_band"] == [0.82, 0.88] and ok["target_ratio"] == 0.85
    assert (ok["colony"], ok["precision"], ok["amp"], ok["unusable"]) == ("OD1_CANON_REAL", "fp16", 1, False)
    assert fail1["unusable"] and fail1["notes"] == [FAIL_AT_ONE]
    assert err["unusable"] and err["notes"][0].startswith("exception: probe harness rc=2")


def _artifacts(run: Path, metrics: dict[str, object], total: object = 100) -> None:
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "env.json").write_text(json.dumps({"total_vram_bytes": total}))


PASSING = {"stability_pass": True, "had_oom": False, "had_nan": False, "had_inf": False}


def test_outcome_is_read_from_the_artifacts(tmp_path: Path) -> None:
    _artifacts(tmp_path / "a", {**PASSING, "peak_vram_reserved_bytes": 85})
    assert read_outcome(tmp_path / "a", 8) == ProbeOutcome(True, 0.85, str(tmp_path / "a"), 8)
    # The combined rule: a missing had_* key is a FAIL; a missing total gives no ratio.
    _artifacts(tmp_path / "b", {"stability_pass": True, "peak_vram_reserved_bytes": 85}, total=None)
    got = read_outcome(tmp_path / "b", 8)
    assert not got.pass_ and got.ratio is None
    with pytest.raises(PickBatchError, match="probe artifacts missing"):
        read_outcome(tmp_path / "missing", 1)


def test_a_finished_probe_is_read_not_rerun(tmp_path: Path) -> None:
    run = tmp_path / "small_x_real_E1_B0001_fp16_amp1_ms50"
    _artifacts(run, {**PASSING, "peak_vram_reserved_bytes": 50})
    assert run_probe(SETTINGS, "OD1_CANON_SMALL", 1, 1, run).ratio == 0.5


def test_a_real_probe_subprocess_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocess path end to end, on a tiny shape: the artifacts are read; CPU has no ratio."""
    monkeypatch.setenv("VRX_FORCE_DEVICE", "cpu")
    ant = '{"ring_len": 16, "slot_dim": 8, "ptr_dtype": "fp32", "precision": "fp32"}'
    colony = '{"seq_len": 4, "synth_len": 4, "batch_size": 1, "ptr_update_every": 1, "state_loop_samples": 0}'
    settings = ProbeSettings(colony, "fp32", 0, 1, 2, 300.0, 0.0)
    run = tmp_path / "runs" / "p"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text("")  # the remains of a killed probe: set aside, not refused
    got = run_probe(settings, ant, 1, 2, run)
    assert got.pass_ and got.ratio is None and got.batch == 2
    assert (tmp_path / "runs" / "p.interrupted-1" / "events.jsonl").exists()
    assert (tmp_path / "runs" / "p.log").exists()


def test_cli_without_gpu_exits_69(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRX_FORCE_DEVICE", "cpu")
    r = cli("probe", "pick-batch")
    assert r.code == 69
    lines = r.err.strip().splitlines()
    assert len(lines) == 1
    assert "no reserved-VRAM ratio without" in lines[0] and "VRX_FORCE_DEVICE=cpu" in lines[0]


def test_cli_without_cuda_exits_69(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.delenv("VRX_FORCE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = cli("probe", "pick-batch", "--ant-tiers", "small")
    assert r.code == 69 and "CUDA is not available" in r.err


def test_cli_usage_errors(cli: Callable[..., Any]) -> None:
    for args in (["--ant-tiers", "huge"], ["--accept-low", "0.9"], ["--max-calls", "0"], ["--amp", "0"]):
        r = cli("probe", "pick-batch", *args)
        assert r.code == 2 and r.err.startswith("ERROR: invalid args:"), args


def test_cli_with_a_stand_in_probe(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pick_batch_cli, "gpu_problem", lambda: None)
    monkeypatch.setattr(pick_batch_cli, "subprocess_prober", lambda settings, tier, eh, runs: StandIn(linear))
    args = ("--ant-tiers", "small,real", "--expert-heads", "2", "--out-root", str(tmp_path))
    r = cli("probe", "pick-batch", *args)
    assert r.code == 0, r.err
    doc = json.loads((tmp_path / "ant_ratio_batch_targets_v0.json").read_text())
    assert [(row["ant_tier"], row["expert_heads"], row["chosen_batch"]) for row in doc["rows"]] == [
        ("small", 2, 25),
        ("real", 2, 25),
    ]
    assert "[pick-batch small E2] B=25 ratio 0.850 after 10 probe(s)" in r.err
