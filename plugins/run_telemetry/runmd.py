"""``run.md``: the human-readable side of ``summary.json``, in the sections of nanochat's ``run.md``.

Built from the summary document (never from the events), so the two files cannot disagree; only
the Artifacts bullet also takes the run's ``layout`` event, which says where an rvinci run lies.
Sections in upstream's order (ORIGINS.md 3.3): the title and bullets, ``## Command``, ``## Budget``,
``## Compilation``, ``## Numerics (debug)``, ``## Results (measured after warmup)``, and the closing
line. Unknown numbers read ``n/a`` (as upstream writes a missing peak memory); compile settings
that were not recorded read ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from vrx_core.events import RunLayout

NA = "n/a"
DASH = "-"


def fmt(value: Any, spec: str = "") -> str:
    """``value`` formatted with ``spec``; ``n/a`` for null and non-finite floats (null in
    summary.json), and for anything but a number when a ``spec`` is given."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    if spec and (isinstance(value, bool) or not isinstance(value, int | float)):
        return NA
    return format(value, spec)


def compile_enabled(compile_: Mapping[str, Any], flag: Any) -> Any:
    """``compile.enabled``, else a boolean ``compile`` param/config value, else None."""
    enabled = compile_.get("enabled")
    if enabled is not None:
        return enabled
    return flag if isinstance(flag, bool) else None


def setting(summary: Mapping[str, Any], name: str) -> Any:
    """A setting as the summary recorded it: ``hparams`` (the params) first, then ``config``."""
    sources: tuple[Mapping[str, Any], ...] = (summary.get("hparams") or {}, summary.get("config") or {})
    return next((s[name] for s in sources if s.get(name) is not None), None)


def _compile_lines(summary: Mapping[str, Any]) -> list[str]:
    comp: Mapping[str, Any] = summary.get("compile") or {}
    enabled = compile_enabled(comp, setting(summary, "compile"))

    def show(key: str, quoted: bool = False) -> str:
        value = comp.get(key)
        if value is None:
            return DASH
        return repr(value) if quoted else str(value)

    return [
        f"- torch.compile: {DASH if enabled is None else enabled}",
        f"- compile_backend: {show('backend', quoted=True)}",
        f"- compile_mode: {show('mode', quoted=True)}",
        f"- compile_fullgraph: {show('fullgraph')}",
        f"- compile_dynamic: {show('dynamic')}",
        f"- compile_flex_attention: {show('compile_flex_attention')}",
    ]


def _numerics_lines(numerics: Mapping[str, Any]) -> list[str]:
    bad = numerics.get("non_finite_losses", 0)
    first = numerics.get("first_non_finite_loss_step")
    where = f" (first at step {first})" if bad else ""
    return [
        f"- check_numerics: {fmt(numerics.get('check_numerics'))}",
        f"- detect_anomaly: {fmt(numerics.get('detect_anomaly'))}",
        f"- non_finite_losses: {bad}{where}",
    ]


def artifacts_path(summary: Mapping[str, Any], layout: RunLayout | None = None) -> str:
    """The Artifacts bullet: ``<project>/<run_id>`` for a run an ``RvinciLayout`` placed (its
    ``layout`` event), else upstream's ``kind/topic/run_id`` from ``meta``."""
    meta: Mapping[str, Any] = summary["meta"]
    if layout is not None and layout.style == "rvinci" and layout.project:
        return f"{layout.project}/{meta['run_id']}"
    return f"{meta['kind']}/{meta['topic']}/{meta['run_id']}"


def run_md(summary: Mapping[str, Any], layout: RunLayout | None = None) -> str:
    """The text of ``run.md`` for a ``summary.json`` document (docs/summary.md); ``layout``, the
    run's ``layout`` event, places the Artifacts bullet."""
    meta: Mapping[str, Any] = summary["meta"]
    budget: Mapping[str, Any] = summary["budget"]
    results: Mapping[str, Any] = summary["results"]
    git: Mapping[str, Any] = meta["git"]
    run_id, topic = meta["run_id"], meta["topic"]
    dirty = " (dirty)" if git.get("dirty") else ""

    lines = [
        f"# {topic} run",
        "",
        f"- Run ID: `{run_id}`",
        f"- Generated: {meta['generated_at']}",
        f"- Artifacts: `{artifacts_path(summary, layout)}`",
        f"- Commit: {git.get('commit_full')}{dirty}",
        "",
        "## Command",
        "",
        "```bash",
        meta["command"],
        "```",
        "",
        "## Budget",
        "",
        f"- steps: {budget['max_steps']}",
        f"- warmup_steps: {budget['warmup_steps']}",
        f"- tokens/step (global): {fmt(budget['tokens_per_step_global'], ',')}",
        f"- FLOPs/token (est): {fmt(budget['flops_per_token_est'], ',')}",
        f"- FLOPs/step (est): {fmt(budget['flops_per_step_est'], ',')}",
        f"- planned_total_FLOPs (est): {fmt(budget['planned_total_flops_est'], ',')}",
        "",
        "## Compilation",
        "",
        *_compile_lines(summary),
        "",
        "## Numerics (debug)",
        "",
        *_numerics_lines(summary["numerics"]),
        "",
        "## Results (measured after warmup)",
        "",
        f"- measured_steps: {results['measured_steps']}",
        f"- measured_tokens: {fmt(results['measured_tokens'], ',')}",
        f"- measured_time_s: {fmt(results['measured_time_s'], '.3f')}",
        f"- tokens/s: {fmt(results['tokens_per_second'], ',.0f')}",
        f"- TFLOP/s (est): {fmt(results['tflops_per_second_est'], '.2f')}",
        f"- peak_memory_allocated_gb: {fmt(results['peak_memory_allocated_gb'])}",
        f"- final_train_ce: {fmt(results['train_ce_final'], '.4f')}",
        f"- val_interval: {fmt(setting(summary, 'val_interval'))}",
        f"- val_batches: {fmt(setting(summary, 'val_batches'))}",
        f"- final_val_ce: {fmt(results['val_ce_final'])}",
        "",
        "See `summary.json` for full details.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["artifacts_path", "compile_enabled", "fmt", "run_md", "setting"]
