"""Shape inference, checkpoint layouts, the original's log headers, the budget clamp and the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vrx_plugins.assoc_eval.ckpt import (
    CheckpointInvalid,
    find_state,
    infer_shape,
    last_losses,
    log_says_disjoint,
    seed_from_path,
    synth_header,
)
from vrx_plugins.assoc_eval.report import loss_slope, report_json
from vrx_plugins.assoc_eval.settings import QUICK, SWEEP, InvalidArgs, budget_steps, merged, resolve_ant


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")  # a shape without the memory


def test_infer_single_head() -> None:
    state = {
        "router_map": _meta(2048),
        "input_proj.weight": _meta(256, 1),
        "head.single.weight": _meta(256, 256),
    }
    assert infer_shape(state) == {"ring_len": 2048, "slot_dim": 256, "num_classes": 256, "expert_heads": 1}


def test_infer_multi_head() -> None:
    state = {
        "router_map": _meta(8192),
        "input_proj.weight": _meta(576, 1),
        "head.experts.0.weight": _meta(256, 576),
        "head.experts.1.weight": _meta(256, 576),
        "head.experts.1.bias": _meta(256),
    }
    assert infer_shape(state) == {"ring_len": 8192, "slot_dim": 576, "num_classes": 256, "expert_heads": 2}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"input_proj.weight": _meta(8, 1)}, "no router_map"),
        ({"router_map": _meta(8)}, "input_proj.weight"),
        ({"router_map": _meta(8), "input_proj.weight": _meta(8, 1)}, "head weights"),
    ],
)
def test_infer_refuses_other_models(state: dict[str, torch.Tensor], message: str) -> None:
    with pytest.raises(CheckpointInvalid, match=message):
        infer_shape(state)


def test_find_state_in_each_layout() -> None:
    sd = {"router_map": _meta(4)}
    assert find_state(sd) == (sd, "state_dict")
    assert find_state({"model": sd, "step": 3}) == (sd, "vraxion")
    assert find_state({"model": sd, "vrx_assoc": {"keys": 2}}) == (sd, "vrx")
    assert find_state({"state_dict": sd}) == (sd, "vraxion")
    with pytest.raises(CheckpointInvalid, match="no state dict"):
        find_state({"weights": sd})


def test_the_originals_log_lines() -> None:
    log = "x\n[synth] mode=assoc_byte rows=8192 keys=64 vals=256 pairs=4 len=256\n[eval] split=disjoint"
    assert synth_header(log) == {
        "rows": 8192,
        "keys": 64,
        "vals": 256,
        "pairs": 4,
        "seq_len": 256,
        "mq_dup": 1,
    }
    dup = "[synth] mode=assoc_byte rows=10 keys=4 vals=16 pairs=2 mq_dup=3 len=32"
    assert synth_header(dup) == {"rows": 10, "keys": 4, "vals": 16, "pairs": 2, "seq_len": 32, "mq_dup": 3}
    assert synth_header("no header") is None
    assert log_says_disjoint(log) and not log_says_disjoint("[eval] split=subset overlap=5/5")
    assert seed_from_path(Path("/runs/runs_assoc/small_E1_B0004/seed123")) == 123
    assert seed_from_path(Path("/runs/x_seed7")) is None  # "_" is a word character: no \b before seed


def test_loss_slope_and_window() -> None:
    assert loss_slope([]) == 0.0 and loss_slope([1.0]) == 0.0
    assert loss_slope([3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert loss_slope([1.0, None, 2.0]) is None
    assert last_losses([float(i) for i in range(60)])[0] == 10.0
    assert last_losses([1.0, float("nan")]) == [1.0, None]


def test_report_bytes() -> None:
    assert report_json({"b": float("nan"), "a": "\u00e9"}) == b'{\n  "a": "\\u00e9",\n  "b": null\n}\n'


def test_token_budget_clamp() -> None:
    # ORIGINS 2.5's packet test: 256*16*10 tokens at batch 16, seq_len 256 -> 10 steps.
    assert budget_steps(256 * 16 * 10, 16, 256, 1, 10000) == 10
    assert budget_steps(1_000_000, 16, 256, 50, 2000) == 244
    assert budget_steps(1_000, 16, 256, 50, 2000) == 50
    assert budget_steps(10**9, 1, 256, 50, 2000) == 2000


def test_flags_win_over_either_default_set() -> None:
    quick = merged({"keys": None}, sweep=False)
    assert quick["steps"] == QUICK["steps"] and quick["token_budget"] is None
    sweep = merged({}, sweep=True)
    assert sweep["token_budget"] == 1_000_000 and sweep["steps"] is None
    assert sweep["eval_batch_size"] == SWEEP["batch"]  # the sweep evaluates with its training batch
    assert (sweep["seq_len"], sweep["keys"], sweep["pairs"], sweep["val_range"]) == (256, 64, 4, 256)
    assert merged({"steps": 7}, sweep=True)["token_budget"] is None
    assert merged({"token_budget": 99}, sweep=False)["steps"] is None
    assert merged({"keys": 5, "disjoint": False}, sweep=True)["keys"] == 5


def test_resolve_ant() -> None:
    assert resolve_ant("OD1_CANON_SMALL", precision="fp32", ptr_dtype=None)["ring_len"] == 2048
    inline = resolve_ant(
        '{"ring_len": 8, "slot_dim": 4, "ptr_dtype": "fp64", "precision": "fp16"}',
        precision="fp32",
        ptr_dtype="fp32",
    )
    assert inline == {"ring_len": 8, "slot_dim": 4, "ptr_dtype": "fp32", "precision": "fp32"}
    with pytest.raises(InvalidArgs, match=r"\$\.ant_spec\.ring_len"):
        resolve_ant(
            '{"ring_len": 0, "slot_dim": 4, "ptr_dtype": "fp64", "precision": "fp32"}',
            precision="fp32",
            ptr_dtype=None,
        )
    with pytest.raises(InvalidArgs, match="invalid --ant"):
        resolve_ant("NO_SUCH_PRESET", precision="fp32", ptr_dtype=None)
