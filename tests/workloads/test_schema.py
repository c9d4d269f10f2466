"""workload_schema_v1: the original tool's tests, the golden ids, strict validation, spec arguments."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vrx_plugins.workloads import (
    PRESETS,
    SCHEMA_VERSION,
    TEMPLATES,
    SpecLoadError,
    SpecProblem,
    WorkloadSpecError,
    canonical_json,
    canonicalize_spec,
    extract_subspec,
    load_spec_arg,
    load_template,
    resolve_probe_spec,
    validate_spec,
    workload_id,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = {
    "od1_small_v1": "wl_v1_37d4c849bed8",
    "od1_real_v1": "wl_v1_a87a40941a4c",
    "od1_stress_v1": "wl_v1_ab3432401162",
}


def real() -> dict[str, Any]:
    return {
        "schema_version": "workload_schema_v1",
        "ant_spec": {"ring_len": 8192, "slot_dim": 576, "ptr_dtype": "fp64", "precision": "fp32"},
        "colony_spec": {
            "seq_len": 256,
            "synth_len": 256,
            "batch_size": 16,
            "ptr_update_every": 1,
            "state_loop_samples": 0,
        },
    }


def problems_of(spec: object) -> list[str]:
    return [str(p) for p in validate_spec(spec)]


# --- the original tool's tests (Golden Draft/tests/test_workload_id.py) -----------------------


def test_key_order_does_not_change_the_id() -> None:
    spec = real()
    reordered = {
        "colony_spec": dict(reversed(list(spec["colony_spec"].items()))),
        "ant_spec": dict(reversed(list(spec["ant_spec"].items()))),
        "schema_version": SCHEMA_VERSION,
    }
    assert workload_id(spec) == workload_id(reordered)


def test_a_required_field_change_changes_the_id() -> None:
    changed = real()
    changed["ant_spec"]["ring_len"] = 8193
    assert workload_id(real()) != workload_id(changed)


def test_name_and_notes_at_every_level_are_excluded() -> None:
    labelled = real()
    labelled.update(name="example", notes="hello")
    labelled["ant_spec"]["name"] = "ant"
    labelled["colony_spec"]["notes"] = "col"
    assert workload_id(labelled) == workload_id(real())
    assert canonicalize_spec(labelled) == real()


def test_unknown_top_level_key_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"\$\.unexpected: unknown key"):
        canonicalize_spec({**real(), "unexpected": 1})


# --- golden ids and the canonical form -------------------------------------------------------


@pytest.mark.parametrize(("name", "wid"), GOLDEN.items())
def test_golden_template_ids(name: str, wid: str) -> None:
    assert workload_id(load_template(name)) == wid


def test_id_is_sha256_of_the_canonical_json() -> None:
    text = canonical_json(canonicalize_spec(load_template("od1_small_v1")))
    assert text == (
        '{"ant_spec":{"precision":"fp32","ptr_dtype":"fp64","ring_len":2048,"slot_dim":256},'
        '"colony_spec":{"batch_size":4,"ptr_update_every":1,"seq_len":128,"state_loop_samples":0,'
        '"synth_len":128},"schema_version":"workload_schema_v1"}'
    )
    assert (
        workload_id(load_template("od1_small_v1"))
        == "wl_v1_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    )


def test_canonical_form_holds_exactly_the_id_keys() -> None:
    canon = canonicalize_spec({**real(), "name": "x"})
    assert list(canon) == ["schema_version", "ant_spec", "colony_spec"]
    assert list(canon["ant_spec"]) == ["ring_len", "slot_dim", "ptr_dtype", "precision"]
    assert list(canon["colony_spec"]) == [
        "seq_len",
        "synth_len",
        "batch_size",
        "ptr_update_every",
        "state_loop_samples",
    ]
    assert workload_id(canon) == workload_id(real())


def test_name_and_notes_may_be_any_json_value() -> None:
    """The original never checked their type, so specs written for it keep their ids."""
    spec = real()
    spec["name"] = {"label": [1, 2]}
    spec["ant_spec"]["notes"] = None
    assert validate_spec(spec) == []


def test_templates_ship_as_the_originals() -> None:
    for name in TEMPLATES:
        shipped = json.loads((ROOT / "plugins" / "workloads" / "templates" / f"{name}.json").read_text())
        assert shipped == load_template(name)
        assert list(shipped) == ["schema_version", "ant_spec", "colony_spec"]
        assert shipped["ant_spec"]["ptr_dtype"] == "fp64" and shipped["ant_spec"]["precision"] == "fp32"


# --- strict validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("ant_spec", "ring_len", "8192", 'expected an integer >= 1, got the string "8192"'),
        ("ant_spec", "ring_len", True, "expected an integer >= 1, got the boolean true"),
        ("ant_spec", "slot_dim", 8.0, "expected an integer >= 1, got the number 8.0"),
        ("ant_spec", "slot_dim", 0, "expected an integer >= 1, got 0"),
        ("ant_spec", "slot_dim", None, "expected an integer >= 1, got null"),
        ("colony_spec", "state_loop_samples", -1, "expected an integer >= 0, got -1"),
        ("colony_spec", "batch_size", [16], "expected an integer >= 1, got an array"),
        (
            "ant_spec",
            "precision",
            " fp32 ",
            'expected one of "fp64", "fp32", "fp16", "bf16", "amp", got the string " fp32 "',
        ),
        ("ant_spec", "precision", "FP32", 'got the string "FP32"'),
        (
            "ant_spec",
            "ptr_dtype",
            "amp",
            'expected one of "fp64", "fp32", "fp16", "bf16", got the string "amp"',
        ),
        ("ant_spec", "ptr_dtype", 32, "got the integer 32"),
    ],
)
def test_values_are_never_coerced(section: str, key: str, value: object, message: str) -> None:
    spec = real()
    spec[section][key] = value
    (problem,) = validate_spec(spec)
    assert problem.path == f"$.{section}.{key}"
    assert message in problem.message
    with pytest.raises(WorkloadSpecError) as info:
        workload_id(spec)
    assert info.value.problems == [problem]


def test_zero_state_loop_samples_and_amp_precision_are_valid() -> None:
    spec = real()
    spec["colony_spec"]["state_loop_samples"] = 0
    spec["ant_spec"]["precision"] = "amp"
    assert validate_spec(spec) == []


@pytest.mark.parametrize("where", ["$", "$.ant_spec", "$.colony_spec"])
def test_unknown_keys_are_errors_at_every_level(where: str) -> None:
    spec = real()
    target = spec if where == "$" else spec[where[2:]]
    target["extra"] = 1
    (problem,) = validate_spec(spec)
    assert problem.path == f"{where}.extra" and problem.message.startswith("unknown key (allowed: ")


def test_odd_unknown_keys_are_quoted_in_the_path() -> None:
    assert problems_of({**real(), "ring len": 1})[0].startswith('$["ring len"]: unknown key')


def test_missing_keys_are_problems() -> None:
    spec = real()
    del spec["ant_spec"]["slot_dim"]
    del spec["colony_spec"]
    assert problems_of(spec) == [
        "$.ant_spec.slot_dim: missing required key",
        "$.colony_spec: missing required key",
    ]
    assert problems_of({}) == [
        "$.schema_version: missing required key",
        "$.ant_spec: missing required key",
        "$.colony_spec: missing required key",
    ]


@pytest.mark.parametrize("version", ["workload_schema_v2", " workload_schema_v1", 1, None])
def test_schema_version_must_match_exactly(version: object) -> None:
    (problem,) = validate_spec({**real(), "schema_version": version})
    assert problem.path == "$.schema_version" and problem.message.startswith('expected "workload_schema_v1"')


@pytest.mark.parametrize(
    ("spec", "described"), [([], "an array"), ("x", 'the string "x"'), (None, "null"), (3, "the integer 3")]
)
def test_a_non_object_spec_is_a_problem(spec: object, described: str) -> None:
    assert problems_of(spec) == [f"$: expected a JSON object (a workload spec), got {described}"]


def test_non_object_sections_are_problems() -> None:
    spec = {**real(), "ant_spec": [], "colony_spec": "od1"}
    assert problems_of(spec) == [
        "$.ant_spec: expected an object, got an array",
        '$.colony_spec: expected an object, got the string "od1"',
    ]


def test_every_problem_is_reported_together_with_its_path() -> None:
    spec = real()
    spec["schema_version"] = "v1"
    spec["ant_spec"].update(ring_len="8192", ptr_dtype=" fp32 ", bogus=1)
    spec["colony_spec"].update(batch_size=False)
    del spec["colony_spec"]["seq_len"]
    spec["extra"] = True
    expected = [
        '$.schema_version: expected "workload_schema_v1", got the string "v1"',
        '$.ant_spec.ring_len: expected an integer >= 1, got the string "8192"',
        '$.ant_spec.ptr_dtype: expected one of "fp64", "fp32", "fp16", "bf16", got the string " fp32 "',
        "$.ant_spec.bogus: unknown key (allowed: ring_len, slot_dim, ptr_dtype, precision, name, notes)",
        "$.colony_spec.seq_len: missing required key",
        "$.colony_spec.batch_size: expected an integer >= 1, got the boolean false",
        "$.extra: unknown key (allowed: schema_version, ant_spec, colony_spec, name, notes)",
    ]
    assert problems_of(spec) == expected
    with pytest.raises(WorkloadSpecError) as info:
        canonicalize_spec(spec)
    assert [str(p) for p in info.value.problems] == expected
    assert str(info.value).startswith("invalid workload spec: 7 problems: $.schema_version: ")
    assert all(isinstance(p, SpecProblem) for p in info.value.problems)


# --- spec arguments, presets, subspecs -------------------------------------------------------


@pytest.mark.parametrize("text", ["od1_canon_small", "  OD1_Canon_Small\n", "od1_small_v1", " OD1_SMALL_V1 "])
def test_presets_and_template_names_are_trimmed_and_case_insensitive(text: str) -> None:
    assert load_spec_arg(text) == load_template("od1_small_v1")


def test_every_preset_names_a_shipped_template() -> None:
    assert sorted(PRESETS.values()) == sorted(TEMPLATES)
    assert {preset: workload_id(load_spec_arg(preset)) for preset in PRESETS} == {
        "od1_canon_small": GOLDEN["od1_small_v1"],
        "od1_canon_real": GOLDEN["od1_real_v1"],
        "od1_canon_stress": GOLDEN["od1_stress_v1"],
    }


def test_load_template_returns_a_fresh_copy() -> None:
    load_template("od1_real_v1")["ant_spec"]["ring_len"] = 1
    assert workload_id(load_template("od1_real_v1")) == GOLDEN["od1_real_v1"]


def test_a_file_and_inline_json_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(real()))
    assert load_spec_arg(str(path)) == real()
    assert load_spec_arg(json.dumps(real(), indent=2)) == real()
    monkeypatch.chdir(tmp_path)
    assert load_spec_arg("spec.json") == real()


def test_bad_json_in_a_file_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "schema_version": "workload_schema_v1",\n  "ant_spec": {,\n}\n')
    with pytest.raises(SpecLoadError) as info:
        load_spec_arg(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: invalid JSON at line 3 column 16: ") and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_bad_inline_json_and_unknown_names_are_one_line_errors() -> None:
    with pytest.raises(SpecLoadError, match=r"^spec '\{\"a\": 1,\}': invalid JSON at line 1 column 9: "):
        load_spec_arg('{"a": 1,}')
    with pytest.raises(SpecLoadError, match=r"no such preset, template or file, and not inline JSON"):
        load_spec_arg("od1_canon_smal")
    with pytest.raises(SpecLoadError, match="empty spec argument"):
        load_spec_arg("   ")
    with pytest.raises(SpecLoadError, match='duplicate key "ring_len"'):
        load_spec_arg('{"ring_len": 1, "ring_len": 2}')
    with pytest.raises(SpecLoadError) as info:
        load_spec_arg("{\n" + '"a":' * 30 + "\n")
    assert "\n" not in str(info.value)


def test_a_directory_or_unreadable_file_is_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(SpecLoadError, match="no such preset, template or file"):
        load_spec_arg(str(tmp_path))
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(SpecLoadError, match="not UTF-8 text"):
        load_spec_arg(str(binary))


def test_extract_subspec_takes_the_kind_from_a_full_workload() -> None:
    full = real()
    assert extract_subspec(full, "ant") == full["ant_spec"]
    assert extract_subspec(full, "colony") == full["colony_spec"]
    bare = {"ring_len": 1}
    assert extract_subspec(bare, "ant") == bare
    # Not all three top-level keys: the object itself is the subspec (the probe's rule).
    partial = {"ant_spec": {"ring_len": 1}, "colony_spec": {}}
    assert extract_subspec(partial, "ant") is not partial and extract_subspec(partial, "ant") == partial


def test_extract_subspec_copies_and_reports_non_objects() -> None:
    full = real()
    extract_subspec(full, "ant")["ring_len"] = 1
    assert full["ant_spec"]["ring_len"] == 8192
    with pytest.raises(WorkloadSpecError, match=r"\$\.colony_spec: expected an object .*got an array"):
        extract_subspec([1], "colony")
    with pytest.raises(WorkloadSpecError, match=r"\$\.ant_spec: expected an object, got null"):
        extract_subspec({**real(), "ant_spec": None}, "ant")
    with pytest.raises(ValueError, match="kind must be"):
        extract_subspec(real(), "queen")  # type: ignore[arg-type]


def test_resolve_probe_spec_applies_batch_and_precision() -> None:
    resolved, canon, wid = resolve_probe_spec("od1_canon_small", "OD1_CANON_SMALL", batch=8, precision="fp16")
    assert resolved["colony_spec"]["batch_size"] == 8 and resolved["ant_spec"]["precision"] == "fp16"
    assert canon == resolved and wid == workload_id(canon)
    assert wid != GOLDEN["od1_small_v1"] and re.fullmatch(r"wl_v1_[0-9a-f]{12}", wid)
    same = resolve_probe_spec("od1_small_v1", "od1_small_v1", batch=4, precision="fp32")
    assert same[2] == GOLDEN["od1_small_v1"]


def test_resolve_probe_spec_mixes_sources_and_keeps_name_out_of_the_id(tmp_path: Path) -> None:
    colony = tmp_path / "colony.json"
    colony.write_text(json.dumps({**real()["colony_spec"], "notes": "mine"}))
    ant = copy.deepcopy(real()["ant_spec"]) | {"name": "big"}
    resolved, canon, wid = resolve_probe_spec(json.dumps(ant), str(colony), batch=16, precision="fp32")
    assert resolved["ant_spec"]["name"] == "big" and "name" not in canon["ant_spec"]
    assert wid == GOLDEN["od1_real_v1"]
    assert resolve_probe_spec(real(), real(), batch=16, precision="fp32")[2] == GOLDEN["od1_real_v1"]


def test_resolve_probe_spec_reports_every_problem() -> None:
    ant = {"ring_len": "8", "slot_dim": 1, "ptr_dtype": "fp64", "extra": 1}
    with pytest.raises(WorkloadSpecError) as info:
        resolve_probe_spec(json.dumps(ant), "od1_canon_small", batch=0, precision="fp16")
    assert [p.path for p in info.value.problems] == [
        "$.ant_spec.ring_len",
        "$.ant_spec.extra",
        "$.colony_spec.batch_size",
    ]


# --- packaging --------------------------------------------------------------------------------


def test_the_spec_api_imports_no_torch() -> None:
    code = "import sys, vrx_plugins.workloads; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def test_the_python_examples_of_the_workloads_doc_run(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "workloads.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert blocks
    for code in blocks:
        r = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
        )
        assert r.returncode == 0, f"{code}\n{r.stderr}"
