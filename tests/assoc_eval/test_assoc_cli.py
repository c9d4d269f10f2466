"""`vrx assoc run|eval` end to end on a toy shape: events, report.json by replay, the post-mortem eval."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from vrx_core.events import Checkpoint
from vrx_core.log.reader import read_events
from vrx_core.testing import PluginContract
from vrx_plugins import assoc_eval
from vrx_plugins.assoc_eval.events import (
    AssocData,
    AssocEnded,
    AssocEvalBatch,
    AssocModel,
    AssocStarted,
    AssocStep,
)

TINY_ANT = '{"ring_len": 16, "slot_dim": 8, "ptr_dtype": "fp64", "precision": "fp32"}'
TASK = ["--keys", "4", "--pairs", "2", "--val-range", "4", "--seq-len", "8"]
TINY = [
    "--ant",
    TINY_ANT,
    *TASK,
    "--max-samples",
    "64",
    "--eval-samples",
    "40",
    "--eval-batch-size",
    "16",
    "--batch",
    "8",
]
SETTINGS_KEYS = {
    "device",
    "dtype",
    "seed",
    "model",
    "ring_len",
    "slot_dim",
    "expert_capacity_hidden_dims",
    "batch_size",
    "seq_len",
    "max_samples",
    "eval_samples",
    "lr",
    "keys",
    "pairs",
    "val_range",
    "assoc_unique_keys",
    "assoc_mq_dup",
    "assoc_mq_grouped",
    "eval_disjoint",
    "eval_split_source",
    "eval_seed_offset",
    "eval_ptr_deterministic",
    "abort_after",
    "abort_acc",
}
EVAL_KEYS = {
    "eval_loss",
    "eval_acc",
    "eval_acc_d0",
    "eval_acc_d1",
    "eval_n",
    "eval_mi_bits",
    "eval_mi_bits_shuffled",
    "eval_ptr_flip_rate",
    "eval_tei",
    "mitosis_parent_expert",
    "mitosis_hot_addresses",
    "mitosis_expert_imbalance",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One recorded `vrx assoc run` (4 steps), shared by the tests that only read it."""
    from vrx_core.cli.main import main

    out = tmp_path_factory.mktemp("assoc") / "run"
    assert main(["assoc", "run", "--output-dir", str(out), *TINY, "--steps", "4"]) == 0
    return out


def _report(run: Path) -> dict:
    return json.loads((run / "report.json").read_text())


def test_run_records_steps_batches_and_the_report_shape(trained: Path) -> None:
    kinds = Counter(type(e).__name__ for e in read_events(trained))
    assert kinds["AssocStep"] == 4 and kinds["AssocEvalBatch"] == 3 and kinds["Checkpoint"] == 1
    report = _report(trained)
    assert set(report) == {
        "benchmark",
        "run_root",
        "git_rev",
        "platform",
        "settings",
        "model_shape",
        "params",
        "train",
        "eval_mid",
        "eval",
        "notes",
        "vrx",
    }
    assert set(report["settings"]) == SETTINGS_KEYS and set(report["eval"]) == EVAL_KEYS
    assert report["benchmark"] == "vrx_assoc_run" and report["eval_mid"] is None
    assert (
        report["settings"]["eval_disjoint"] is True and report["settings"]["eval_split_source"] == "default"
    )
    assert report["settings"]["assoc_unique_keys"] is True and report["settings"]["max_samples"] == 64
    assert report["model_shape"] == {
        "ring_len": 16,
        "slot_dim": 8,
        "num_classes": 4,
        "expert_heads": 1,
        "expert_capacity_hidden_dims": None,
    }
    assert report["train"]["steps"] == 4 and isinstance(report["train"]["loss_slope"], float)
    assert report["eval"]["eval_n"] == 40 and 0.0 <= report["eval"]["eval_acc"] <= 1.0
    assert report["eval"]["eval_mi_bits"] is None and report["platform"]["python"]
    assert report["vrx"]["checkpoint"]["path"] == "checkpoint.pt"


def test_replay_rebuilds_the_report_byte_for_byte(trained: Path, cli, tmp_path: Path) -> None:
    r = cli("replay", str(trained), "--out", str(tmp_path / "again"))
    assert r.code == 0, r.err
    assert (tmp_path / "again" / "report.json").read_bytes() == (trained / "report.json").read_bytes()
    assert cli("replay", "--check", str(trained)).code == 0


def test_checkpoint_keeps_the_originals_layout(trained: Path) -> None:
    ck = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert {"model", "optimizer", "step", "losses", "scaler", "vrx_assoc"} <= set(ck)
    assert ck["step"] == 4 and len(ck["losses"]) == 4 and "router_map" in ck["model"]
    assert ck["vrx_assoc"]["keys"] == 4 and ck["vrx_assoc"]["seed"] == 123


def test_eval_of_the_checkpoint_is_deterministic_and_matches_the_run(trained: Path, cli) -> None:
    args = (
        "assoc",
        "eval",
        "--checkpoint",
        str(trained / "checkpoint.pt"),
        "--eval-samples",
        "40",
        "--batch-size",
        "16",
    )
    first, second = cli(*args), cli(*args)
    assert first.code == 0 and second.code == 0, first.err + second.err
    a, b = _report(trained / "assoc_eval"), _report(trained / "assoc_eval-2")  # never the same dir twice
    assert a["eval"] == b["eval"]
    # Same weights, same seed, same disjoint set as the run's own eval: the same numbers.
    assert a["eval"] == _report(trained)["eval"]
    assert a["benchmark"] == "eval_ckpt_assoc_byte" and a["settings"]["lr"] == 0.0
    assert a["settings"]["eval_split_source"] == "inferred" and a["settings"]["eval_disjoint"] is True
    assert a["train"] == {"steps": 4, "loss_slope": _report(trained)["train"]["loss_slope"]}
    assert a["vrx"]["seed_source"] == "checkpoint"
    assert a["notes"] == "postmortem eval from checkpoint (no additional training)"


def test_eval_of_an_original_checkpoint_with_its_log(tmp_path: Path, cli) -> None:
    from vrx_plugins.workloads.ring import build_model

    root = tmp_path / "runs_assoc" / "small_E2_B0004" / "seed42"
    root.mkdir(parents=True)
    model = build_model(json.loads(TINY_ANT), 2, num_classes=4)
    losses = [2.0 - 0.01 * i for i in range(60)]
    torch.save(
        {"model": model.state_dict(), "optimizer": {}, "step": 60, "losses": losses, "scaler": None},
        root / "checkpoint.pt",
    )
    (root / "vraxion.log").write_text(
        "[synth] mode=assoc_byte rows=32 keys=4 vals=4 pairs=2 len=8\n[eval] split=disjoint overlap=0/32\n"
    )
    r = cli(
        "assoc",
        "eval",
        "--checkpoint",
        str(root / "checkpoint.pt"),
        "--eval-samples",
        "24",
        "--run-root",
        str(tmp_path / "ev"),
    )
    assert r.code == 0, r.err
    rep = _report(tmp_path / "ev")
    st = rep["settings"]
    assert (st["seed"], st["keys"], st["pairs"], st["val_range"], st["seq_len"]) == (42, 4, 2, 4, 8)
    assert st["max_samples"] == 32 and st["eval_disjoint"] is True and st["eval_split_source"] == "inferred"
    assert rep["model_shape"]["expert_heads"] == 2 and rep["eval"]["eval_n"] == 24
    assert rep["train"]["steps"] == 60 and rep["train"]["loss_slope"] == pytest.approx(-0.01)
    assert rep["vrx"]["checkpoint"]["layout"] == "vraxion" and rep["vrx"]["seed_source"] == "path"
    sub = cli(
        "assoc", "eval", "--checkpoint", str(root / "checkpoint.pt"), "--eval-samples", "24", "--subset"
    )
    assert sub.code == 0, sub.err
    forced = _report(root / "assoc_eval")["settings"]
    assert forced["eval_disjoint"] is False and forced["eval_split_source"] == "forced"


def test_token_budget_clamp_sets_the_steps(tmp_path: Path, cli) -> None:
    out = tmp_path / "budget"
    r = cli(
        "assoc",
        "run",
        "--output-dir",
        str(out),
        *TINY,
        "--token-budget",
        "100",
        "--min-steps",
        "2",
        "--max-steps",
        "3",
        "--eval-samples",
        "8",
    )
    assert r.code == 0, r.err
    train = _report(out)["vrx"]["train"]
    assert (train["steps"], train["steps_source"], train["tokens_per_step"]) == (2, "token_budget", 64)
    assert _report(out)["train"]["steps"] == 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["assoc", "run", "--output-dir", "{tmp}/x", "--keys", "1"], 2, "--keys must be >= 2"),
        (
            ["assoc", "run", "--output-dir", "{tmp}/x", "--steps", "1", "--token-budget", "9"],
            2,
            "not allowed",
        ),
        (["assoc", "run", "--output-dir", "{tmp}/x", "--ant", "NOPE"], 2, "invalid --ant"),
        (["assoc", "run", "--output-dir", "{tmp}/x", "--lr", "0"], 2, "--lr must be"),
        (["assoc", "eval", "--checkpoint", "{tmp}/missing.pt"], 66, "checkpoint not found"),
        (["assoc", "eval", "--checkpoint", "{tmp}/junk.pt"], 65, "cannot load the checkpoint"),
        (
            ["assoc", "eval", "--checkpoint", "{tmp}/bare.pt"],
            2,
            "give --keys, --pairs, --val-range, --seq-len",
        ),
    ],
)
def test_errors_are_one_line_with_their_code(
    tmp_path: Path, cli, args: list[str], code: int, message: str
) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    from vrx_plugins.workloads.ring import build_model

    torch.save(build_model(json.loads(TINY_ANT), 1).state_dict(), tmp_path / "bare.pt")
    r = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.code == code and message in r.err, r.err
    assert "Traceback" not in r.err and not (tmp_path / "x" / "events.jsonl").exists()


def test_an_existing_run_is_never_overwritten(trained: Path, cli) -> None:
    r = cli("assoc", "run", "--output-dir", str(trained), *TINY, "--steps", "1")
    assert r.code == 73 and "already holds" in r.err
    r = cli("assoc", "eval", "--checkpoint", str(trained / "checkpoint.pt"), "--run-root", str(trained))
    assert r.code == 73 and "already holds" in r.err


class TestAssocDeriverContract(PluginContract):
    """Replay twice == once, incremental == full, no wall clock: on a hand-made assoc run."""

    plugin = assoc_eval

    def events(self) -> list:
        started = AssocStarted(
            mode="run",
            benchmark="vrx_assoc_run",
            argv=["vrx"],
            run_root="/r",
            git_rev=None,
            python="3",
            os="x",
            settings={"seq_len": 8, "eval_disjoint": True},
            extras={"train": {"steps": 3}},
            notes="n",
        )
        data = {"rows": 8, "seq_len": 8, "requested_seq_len": 8, "bumps": 0, "seed": 1, "source": "generated"}
        return [
            started,
            AssocModel(
                model_shape={"ring_len": 4}, params={"total": 1, "trainable": 1, "head": 0, "core": 0}
            ),
            AssocData(split="train", **data),
            *[AssocStep(step=i, loss=2.0 - i / 10, samples=4, step_time_s=0.1) for i in range(1, 4)],
            Checkpoint(path="checkpoint.pt", step=3, size_bytes=10, sha256="0" * 64),
            AssocData(split="eval", **data),
            AssocEvalBatch(index=0, n=4, correct=1, loss_sum=5.0),
            AssocEvalBatch(index=1, n=4, correct=3, loss_sum=3.0),
            AssocEnded(status="ok", train_wall_time_s=1.0, eval_wall_time_s=0.5),
        ]


def test_a_run_that_raises_is_recorded_without_a_report(tmp_path: Path, cli, monkeypatch) -> None:
    from vrx_plugins.assoc_eval import runner

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "train", broken)
    out = tmp_path / "broken"
    r = cli("assoc", "run", "--output-dir", str(out), *TINY, "--steps", "2")
    assert r.code == 1 and "assoc run failed: RuntimeError: boom" in r.err and "Traceback" not in r.err
    ended = [e for e in read_events(out) if isinstance(e, AssocEnded)]
    assert [(e.status, e.error) for e in ended] == [("error", "RuntimeError: boom")]
    assert not (out / "report.json").exists()
    assert cli("replay", str(out)).code == 0 and not (out / "report.json").exists()


def test_tail_snapshot_follows_the_phases(trained: Path) -> None:
    from vrx_plugins.assoc_eval.fold import AssocFold

    fold = AssocFold()
    handlers = {
        AssocStarted: fold.on_start,
        AssocModel: fold.on_model,
        AssocData: fold.on_data,
        AssocStep: fold.on_step,
        AssocEvalBatch: fold.on_eval_batch,
        AssocEnded: fold.on_end,
    }
    phases = []
    for event in read_events(trained):
        handler = handlers.get(type(event))
        if handler is not None:
            handler(event)  # type: ignore[operator]
            phases.append(fold.snapshot()["phase"])
    assert phases[0] == "train" and "eval" in phases and phases[-1] == "done"
    snap = fold.snapshot()
    assert (snap["step"], snap["steps"], snap["eval_n"]) == (4, 4, 40)
