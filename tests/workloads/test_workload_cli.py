"""`vrx workload validate|id|show|list`: outputs and exit codes (0 valid, 2 invalid or usage)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from vrx_plugins.workloads import template_text

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = ROOT / "plugins" / "workloads" / "templates"
ID = re.compile(r"wl_v1_[0-9a-f]{12}")
BAD = (
    '{"schema_version":"workload_schema_v1","ant_spec":{"ring_len":"8192","slot_dim":256,'
    '"ptr_dtype":" fp32 ","precision":"fp32"},"colony_spec":{"seq_len":1,"synth_len":1,'
    '"batch_size":1,"ptr_update_every":1,"state_loop_samples":0,"extra":1}}'
)


def test_id_of_the_real_template_file(cli) -> None:
    """The original's CLI smoke test: od1_real_v1.json prints wl_v1_ + 12 hex, rc 0."""
    r = cli("workload", "id", str(TEMPLATES_DIR / "od1_real_v1.json"))
    assert r.code == 0, r.err
    assert r.out == "wl_v1_a87a40941a4c\n" and ID.fullmatch(r.out.strip())


def test_id_json_is_the_original_object(cli) -> None:
    r = cli("workload", "id", "od1_canon_small", "--json")
    assert r.code == 0
    obj = json.loads(r.out)
    assert list(obj) == ["ant_spec", "colony_spec", "schema_version", "workload_id"]
    assert obj["workload_id"] == "wl_v1_37d4c849bed8"
    assert r.out == json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def test_id_of_an_invalid_spec_lists_every_problem_on_stderr(cli) -> None:
    r = cli("workload", "id", BAD)
    assert r.code == 2 and r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 3 and all(line.startswith('vrx: {"schema_version":') for line in lines)
    assert lines[0].endswith(': $.ant_spec.ring_len: expected an integer >= 1, got the string "8192"')
    assert ": $.ant_spec.ptr_dtype: expected one of " in lines[1]
    assert lines[2].endswith(
        ": $.colony_spec.extra: unknown key (allowed: seq_len, synth_len, batch_size, "
        "ptr_update_every, state_loop_samples, name, notes)"
    )


def test_id_of_unreadable_specs_is_one_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": }')
    r = cli("workload", "id", str(bad))
    assert r.code == 2
    assert r.err == f"vrx: {bad}: invalid JSON at line 1 column 7: Expecting value\n"
    r = cli("workload", "id", "od1_canon_tiny")
    assert r.code == 2 and r.err.count("\n") == 1 and "no such preset, template or file" in r.err
    assert "Traceback" not in r.err


def test_validate_reports_each_spec(cli, tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(template_text("od1_stress_v1"))
    r = cli("workload", "validate", str(good), "OD1_CANON_REAL", BAD)
    assert r.code == 2
    lines = r.out.splitlines()
    assert lines[:2] == [f"{good}: ok wl_v1_ab3432401162", "OD1_CANON_REAL: ok wl_v1_a87a40941a4c"]
    assert len(lines) == 5
    assert lines[2] == (
        '{"schema_version":"workload_schema_v1","ant_spec":{"ring_...: '
        '$.ant_spec.ring_len: expected an integer >= 1, got the string "8192"'
    )


def test_validate_all_valid_exits_0(cli) -> None:
    r = cli("workload", "validate", *(str(p) for p in sorted(TEMPLATES_DIR.glob("*.json"))))
    assert r.code == 0 and r.out.count(": ok wl_v1_") == 3


def test_validate_unreadable_spec_is_invalid(cli, tmp_path: Path) -> None:
    r = cli("workload", "validate", "od1_small_v1", str(tmp_path / "missing.json"), "[1]")
    assert r.code == 2
    assert r.out.splitlines()[1:] == [
        f"{tmp_path / 'missing.json'}: no such preset, template or file, and not inline JSON (presets: "
        "od1_canon_small, od1_canon_real, od1_canon_stress; templates: od1_small_v1, od1_real_v1, "
        "od1_stress_v1)",
        "[1]: $: expected a JSON object (a workload spec), got an array",
    ]


def test_show_prints_the_template_as_shipped(cli) -> None:
    r = cli("workload", "show", "od1_real_v1")
    assert r.code == 0 and r.out == (TEMPLATES_DIR / "od1_real_v1.json").read_text()
    assert cli("workload", "show", " od1_canon_real ").out == r.out


def test_show_unknown_name_is_a_usage_error(cli) -> None:
    r = cli("workload", "show", "od1_huge_v1")
    assert r.code == 2 and r.out == ""
    assert r.err == (
        "vrx: 'od1_huge_v1': unknown template (known: od1_small_v1, od1_real_v1, od1_stress_v1, "
        "od1_canon_small, od1_canon_real, od1_canon_stress)\n"
    )


def test_list_shows_templates_presets_and_ids(cli) -> None:
    r = cli("workload", "list")
    assert r.code == 0
    assert [line.split() for line in r.out.splitlines()] == [
        ["TEMPLATE", "PRESET", "WORKLOAD_ID"],
        ["od1_small_v1", "od1_canon_small", "wl_v1_37d4c849bed8"],
        ["od1_real_v1", "od1_canon_real", "wl_v1_a87a40941a4c"],
        ["od1_stress_v1", "od1_canon_stress", "wl_v1_ab3432401162"],
    ]


def test_usage_errors_exit_2(cli) -> None:
    assert cli("workload").code == 2
    assert cli("workload", "validate").code == 2
    assert cli("workload", "id").code == 2
    assert cli("workload", "id", "a", "b").code == 2


def test_every_subcommand_has_help_citing_the_contract(cli) -> None:
    for argv in (["workload"], ["workload", "validate"], ["workload", "id"], ["workload", "show"]):
        r = cli(*argv, "--help")
        assert r.code == 0 and "workload_schema_v1" in r.out
    assert cli("workload", "list", "--help").code == 0


def test_console_script_smoke() -> None:
    """One real process: the installed entry point finds the command and exits 0."""
    r = subprocess.run(
        [sys.executable, "-m", "vrx_core", "workload", "id", "od1_canon_stress"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "wl_v1_ab3432401162\n"
