"""The ring-pointer model's contract: construction, state_dict, forward's shape and draws, no host sync."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from vrx_plugins.workloads import ring
from vrx_plugins.workloads.ring import build_model, compile_problem

SMALL = {"ring_len": 64, "slot_dim": 24, "ptr_dtype": "fp64", "precision": "fp32"}
OD1 = {"ring_len": 2048, "slot_dim": 256, "ptr_dtype": "fp64", "precision": "fp32"}


def spec_table(R: int, D: int, E: int, C: int = 256) -> dict[str, tuple[int, ...]]:
    """Spec section 2's table: every state_dict key and its shape."""
    Ds = max(8, D // 3)
    table = {
        "theta_ptr_reduced": (R,),
        "theta_gate_reduced": (R,),
        "context_logit": (),
        "state_loop_proj": (0,),
        "router_map": (R,),
        "bin_edges": (129,),
        "sensory_proj_in.weight": (Ds, 1),
        "sensory_proj_in.bias": (Ds,),
        "sensory_gru.weight_ih": (3 * Ds, Ds),
        "sensory_gru.weight_hh": (3 * Ds, Ds),
        "sensory_gru.bias_ih": (3 * Ds,),
        "sensory_gru.bias_hh": (3 * Ds,),
        "sensory_bridge.weight": (D, Ds),
        "sensory_bridge.bias": (D,),
        "input_proj.weight": (D, 1),
        "input_proj.bias": (D,),
        "gru.weight_ih": (3 * D, D),
        "gru.weight_hh": (3 * D, D),
        "gru.bias_ih": (3 * D,),
        "gru.bias_hh": (3 * D,),
        "jump_score.weight": (1, D),
        "jump_score.bias": (1,),
    }
    for name in ("inertia_head", "deadzone_head", "walk_head"):
        table |= {f"{name}.weight": (1, D), f"{name}.bias": (1,)}
    heads = ["head.single"] if E == 1 else [f"head.experts.{i}" for i in range(E)]
    for name in heads:
        table |= {f"{name}.weight": (C, D), f"{name}.bias": (C,)}
    return table


@pytest.mark.parametrize(("ant", "E"), [(SMALL, 1), (SMALL, 3), (OD1, 1), (OD1, 4)])
def test_state_dict_has_exactly_the_spec_keys_and_shapes(ant: dict[str, Any], E: int) -> None:
    sd = build_model(ant, E).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == spec_table(ant["ring_len"], ant["slot_dim"], E)
    assert sd["router_map"].dtype == torch.int64
    assert all(v.dtype == torch.float32 for k, v in sd.items() if k != "router_map")


def test_num_classes_sets_the_heads_width() -> None:
    m = build_model(SMALL, 2, num_classes=10)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == spec_table(64, 24, 2, C=10)
    assert m(torch.randn(3, 5, 1))[0].shape == (3, 10)


@pytest.mark.parametrize(("E", "count"), [(1, 532_227), (4, 729_603)])
def test_parameter_counts_are_the_golden_ones(E: int, count: int) -> None:
    assert sum(p.numel() for p in build_model(OD1, E).parameters()) == count


def test_inits_follow_the_spec_table() -> None:
    torch.manual_seed(0)
    R, D, E = 2048, 256, 4
    m = build_model(OD1, E)
    f = min(1.0, R / 200)
    assert -4 <= m.theta_ptr_reduced.min() < -3.9 and 3.9 < m.theta_ptr_reduced.max() <= 4
    assert -0.5 <= m.theta_gate_reduced.min() < -0.49 and 0.49 < m.theta_gate_reduced.max() <= 0.5
    assert m.context_logit.item() == pytest.approx(math.log(0.2 / 0.8))
    assert torch.equal(m.router_map, torch.arange(R) % E)
    assert torch.equal(m.bin_edges, torch.linspace(0, R, 129))
    assert m.gru.weight_ih.std().item() == pytest.approx(0.1 - 0.05 * f, rel=0.02)
    assert torch.all(m.gru.bias_hh == 0.5 - 0.3 * f)
    assert m.sensory_gru.weight_hh.std().item() == pytest.approx(0.05, rel=0.05)
    for linear in (m.sensory_proj_in, m.sensory_bridge, m.input_proj, m.jump_score, *m.head.experts):
        fan_in, fan_out = linear.weight.shape[1], linear.weight.shape[0]
        assert linear.weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out))  # Xavier-uniform
        assert torch.all(linear.bias == 0)
    bound = 1 / math.sqrt(D)  # PyTorch's Linear default
    for linear in (m.inertia_head, m.deadzone_head, m.walk_head):
        assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound


def test_a_state_dict_round_trips_strictly_and_reproduces_outputs() -> None:
    torch.manual_seed(0)
    a = build_model(SMALL, 3)
    torch.manual_seed(1)
    b = build_model(SMALL, 3, variant="compact")
    b.load_state_dict(a.state_dict(), strict=True)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    x = torch.randn(2, 8, 1)
    torch.manual_seed(7)
    out_a = a(x)[0]
    torch.manual_seed(7)
    assert torch.allclose(out_a, b(x)[0], atol=1e-6)


def test_the_originals_state_loop_projection_loads() -> None:
    """With state-loop metrics on, the original registers state_loop_proj as [D, 8]."""
    sd = build_model(SMALL, 1).state_dict()
    sd["state_loop_proj"] = torch.randn(SMALL["slot_dim"], 8)
    m = build_model(SMALL, 1)
    m.load_state_dict(sd, strict=True)
    assert m.state_loop_proj.shape == (SMALL["slot_dim"], 8)


def test_attributes_the_probe_sets() -> None:
    m = build_model(SMALL, 1, variant="compact")
    assert (m.ptr_update_every, m.state_loop_samples, m.variant) == (1, 0, "compact")
    assert build_model(SMALL, 1).variant == "dense"


@pytest.mark.parametrize(
    ("ant", "out_dim", "variant", "message"),
    [
        (SMALL, 1, "sparse", "variant must be one of dense, compact"),
        ({**SMALL, "ptr_dtype": "fp8"}, 1, "dense", "ptr_dtype must be one of fp64, fp32, fp16, bf16"),
        ({**SMALL, "ring_len": 0}, 1, "dense", "ring_len must be an int >= 1"),
        ({**SMALL, "slot_dim": True}, 1, "dense", "slot_dim must be an int >= 1"),
        (SMALL, 0, "dense", "out_dim must be an int >= 1"),
    ],
)
def test_build_model_rejects_bad_arguments(
    ant: dict[str, Any], out_dim: int, variant: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(ant, out_dim, variant=variant)
    with pytest.raises(ValueError, match="num_classes must be an int >= 1"):
        build_model(SMALL, 1, num_classes=0)


@pytest.mark.parametrize("variant", ["dense", "compact"])
@pytest.mark.parametrize("ptr_dtype", ["fp64", "fp32", "fp16", "bf16"])
def test_forward_returns_fp32_logits_and_draws_the_start_pointer_first(variant: str, ptr_dtype: str) -> None:
    m = build_model({**SMALL, "ptr_dtype": ptr_dtype}, 3, variant=variant)
    x = torch.randn(3, 10, 1)
    torch.manual_seed(5)
    logits, move_penalty = m(x)
    after_forward = torch.rand(4)
    F.cross_entropy(logits, torch.tensor([1, 2, 3])).backward()
    assert logits.shape == (3, 256) and logits.dtype == torch.float32
    assert move_penalty.shape == () and torch.isfinite(move_penalty)
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    # Exactly one draw, of B values in the pointer dtype: the start pointer.
    torch.manual_seed(5)
    torch.rand(3, dtype=ring.PTR_DTYPES[ptr_dtype])
    assert torch.equal(torch.rand(4), after_forward)


@pytest.mark.parametrize(
    ("x", "every", "message"),
    [
        (torch.randn(2, 4), 1, r"x must have shape \[B, T, 1\]"),
        (torch.randn(2, 4, 2), 1, r"x must have shape \[B, T, 1\]"),
        (torch.randn(2, 0, 1), 1, "at least one time step"),
        (torch.randn(2, 4, 1), 0, "ptr_update_every must be >= 1"),
    ],
)
def test_forward_rejects_bad_input(x: torch.Tensor, every: int, message: str) -> None:
    m = build_model(SMALL, 1)
    m.ptr_update_every = every
    with pytest.raises(ValueError, match=message):
        m(x)


@pytest.mark.parametrize("R", [1, 2, 3, 5])
def test_rings_shorter_than_the_kernel_work(R: int) -> None:
    m = build_model({**SMALL, "ring_len": R}, 2)
    logits, _ = m(torch.randn(2, 6, 1))
    logits.sum().backward()
    assert torch.isfinite(logits).all()


class _HostReads(TorchDispatchMode):
    """Records every op that would synchronise with a CUDA stream: reading values to the host, sizing
    a result by its data, or making a tensor from host data (its copy to the device waits)."""

    SYNCING = ("_local_scalar_dense", "nonzero", "masked_select", "unique", "repeat_interleave", "lift_fresh")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        name = str(func)
        bool_index = name.startswith("aten.index") and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool
            for i in (args[1] if len(args) > 1 else ()) or ()
        )
        if bool_index or any(s in name for s in self.SYNCING):
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


class _ListReads(TorchFunctionMode):
    """``tolist`` and ``numpy`` read values without dispatching an aten op."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if getattr(func, "__name__", "") in {"tolist", "numpy"}:
            self.seen.append(func.__name__)
        return func(*args, **(kwargs or {}))


def _host_reads(fn: Any) -> list[str]:
    with _HostReads() as ops, _ListReads() as calls:
        fn()
    return ops.seen + calls.seen


def test_the_host_read_detector_sees_item_bool_masks_tolist_and_host_data() -> None:
    t = torch.randn(4)
    reads = (t.sum().item(), bool(t[0] > 0), t[t > 0], t.tolist(), torch.tensor([1, 2]))
    assert len(_host_reads(lambda: reads)) == 0  # built outside: the detector is not on yet
    assert (
        len(_host_reads(lambda: (t.sum().item(), bool(t[0] > 0), t[t > 0], t.tolist(), torch.tensor([1]))))
        == 5
    )


@pytest.mark.parametrize("variant", ["dense", "compact"])
@pytest.mark.parametrize("E", [1, 3])
def test_forward_and_backward_never_synchronise_with_the_device(variant: str, E: int) -> None:
    m = build_model(SMALL, E, variant=variant)
    m.ptr_update_every = 2
    x, y = torch.randn(3, 40, 1), torch.tensor([0, 1, 2])  # T > Ls: the sensory feedback runs too
    out: dict[str, torch.Tensor] = {}
    assert _host_reads(lambda: out.update(logits=m(x)[0])) == []
    assert _host_reads(lambda: F.cross_entropy(out["logits"], y).backward()) == []


def _saved_storages(model: Any, x: torch.Tensor) -> list[int]:
    """Sizes in bytes of the distinct storages autograd keeps for backward after one forward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return list(storages.values())


def test_dense_keeps_every_steps_state_for_backward_and_compact_does_not() -> None:
    """The memory profile: dense saves T + 1 copies of the [B, R, D] state, as the original does."""
    ant, B, T = {**SMALL, "ring_len": 512}, 2, 12
    state = B * ant["ring_len"] * ant["slot_dim"] * 4
    x = torch.randn(B, T, 1)
    assert _saved_storages(build_model(ant, 1), x).count(state) == T + 1
    assert sum(_saved_storages(build_model(ant, 1, variant="compact"), x)) < 2 * state  # weights included


@pytest.mark.parametrize("variant", ["dense", "compact"])
def test_backward_twice_with_retain_graph_doubles_the_gradient(variant: str) -> None:
    m = build_model(SMALL, 3, variant=variant)
    logits, _ = m(torch.randn(2, 9, 1))
    loss = F.cross_entropy(logits, torch.tensor([3, 4]))
    loss.backward(retain_graph=True)
    once = {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}
    loss.backward()
    for k, g in once.items():
        torch.testing.assert_close(m.get_parameter(k).grad, 2 * g)


@pytest.mark.parametrize("variant", ["dense", "compact"])
def test_no_grad_forward_gives_the_same_logits(variant: str) -> None:
    m = build_model(SMALL, 1, variant=variant)
    x = torch.randn(2, 9, 1)
    torch.manual_seed(3)
    with_grad = m(x)[0]
    torch.manual_seed(3)
    with torch.no_grad():
        assert torch.equal(m(x)[0], with_grad)


def test_an_expert_no_sample_reads_gets_a_zero_gradient() -> None:
    """Gathered expert weights: unread experts get zeros, where the original's masks left None."""
    m = build_model({**SMALL, "ring_len": 8}, 6)
    m.router_map.zero_()  # every slot routes to expert 0
    F.cross_entropy(m(torch.randn(2, 5, 1))[0], torch.tensor([0, 1])).backward()
    assert m.head.experts[0].weight.grad.abs().sum() > 0
    assert all(torch.all(e.weight.grad == 0) for e in m.head.experts[1:])


def test_compile_problem_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch._dynamo import eval_frame
    from torch._inductor import cpp_builder

    assert compile_problem("cpu") in (None, compile_problem())
    monkeypatch.setattr(
        cpp_builder, "get_cpp_compiler", lambda: (_ for _ in ()).throw(RuntimeError("no g++"))
    )
    assert "C++ compiler" in (compile_problem("cpu") or "")
    monkeypatch.setattr(eval_frame, "is_dynamo_supported", lambda: False)
    assert "no dynamo support" in (compile_problem("cpu") or "")
