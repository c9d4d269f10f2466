"""``vrx regressions`` outputs: the Rich console view and the files under
``<artifacts-dir>/regressions/<run_id>/`` (``summary.json``, ``run.md``, ``report.html``).

Formats are upstream's (``mgr regressions``, ORIGINS.md 3.1): numbers ``:.6g``, deltas ``:+.6g``,
relative deltas ``:+.2f`` percent, ``-`` for None; loss sparklines over the last 24 values.
Rich is imported inside the functions that print, so importing the command stays light.
"""

from __future__ import annotations

import html
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from vrx_core.log.atomic import atomic_write

from .regressions import Comparison, Report

if TYPE_CHECKING:
    from rich.console import Console

GLYPHS: Final = "▁▂▃▄▅▆▇█"
SPARK_TAIL: Final = 24
STATUS_STYLE: Final = {"ok": "green", "regression": "bold red", "missing": "yellow"}
#: The provenance rows the console table shows (summary.json keeps all of them, command and kind too).
CONSOLE_PROVENANCE: Final = (
    "run_id", "device", "commit", "dirty", "attention_type", "use_flex_attention", "compile",
)


# -- formatting -------------------------------------------------------------------------------


def fmt_num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def fmt_delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+.6g}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f}%"


def fmt_value(value: object) -> str:
    """A provenance value as the table shows it."""
    return "-" if value is None else str(value)


def sparkline(values: Sequence[float], tail: int = SPARK_TAIL) -> str:
    """The last ``tail`` values as ``▁▂▃▄▅▆▇█`` scaled between their min and max (flat: all ``▁``)."""
    last = list(values)[-tail:] if tail > 0 else []
    if not last:
        return ""
    lo, hi = min(last), max(last)
    if hi <= lo:
        return GLYPHS[0] * len(last)
    top = len(GLYPHS) - 1
    return "".join(GLYPHS[min(top, int((v - lo) / (hi - lo) * top + 0.5))] for v in last)


def cells(row: Comparison) -> list[str]:
    """metric / baseline / candidate / Δ / Δ% / status."""
    return [
        row.label, fmt_num(row.baseline), fmt_num(row.candidate), fmt_delta(row.delta),
        fmt_pct(row.delta_rel), row.status,
    ]


def variants_text(report: Report) -> str | None:
    if report.baseline_variant is None and report.candidate_variant is None:
        return None
    return f"baseline={fmt_value(report.baseline_variant)} candidate={fmt_value(report.candidate_variant)}"


def memory_rule(report: Report) -> str:
    """One sentence: which rule judged peak memory in this report."""
    t = report.thresholds
    if report.mgr_compat:
        return (
            f"Peak memory (--mgr-compat, as mgr regressions): regression if candidate > baseline + "
            f"{t.loss_abs:g} (loss_abs) or delta_rel > {t.loss_rel:g} (loss_rel) or candidate > "
            f"baseline * (1 + {t.memory_rel:g}) (memory_rel)."
        )
    return (
        f"Peak memory (vrx default): regression if candidate > baseline * (1 + {t.memory_rel:g}) "
        "(memory_rel alone; --mgr-compat also applies the loss thresholds, as mgr regressions does)."
    )


# -- files ------------------------------------------------------------------------------------


def summary_json(report: Report) -> str:
    """``summary.json``: ``json.dumps(indent=2, sort_keys=True)`` and a trailing newline."""
    return json.dumps(report.summary(), indent=2, sort_keys=True) + "\n"


def run_md(report: Report) -> str:
    lines = [
        "# Regression Report",
        "",
        f"- generated_at: {report.generated_at}",
        f"- baseline: `{report.baseline_path}`",
        f"- candidate: `{report.candidate_path}`",
    ]
    variants = variants_text(report)
    if variants is not None:
        lines.append(f"- variants: {variants}")
    lines += [
        "",
        "## Thresholds",
        "",
        "```json",
        json.dumps(report.thresholds.as_dict(), indent=2),
        "```",
        "",
        memory_rule(report),
        "",
        "## Metrics",
        "",
        "| metric | baseline | candidate | delta | delta% | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in report.comparisons]
    if report.baseline_losses or report.candidate_losses:
        lines += [
            "",
            "## Loss sparklines (tail)",
            "",
            f"- baseline: `{sparkline(report.baseline_losses)}`",
            f"- candidate: `{sparkline(report.candidate_losses)}`",
        ]
    lines += ["", "## Command", "", "```bash", shlex.join(report.argv), "```", ""]
    return "\n".join(lines)


HTML_STYLE: Final = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:4px 8px}td.num{text-align:right}"
    "tr.ok td.status{color:#060}tr.regression{background:#fdd}tr.missing{background:#ffd}"
)


def report_html(report: Report) -> str:
    """A minimal page: the paths and one table row per metric, of class ok/regression/missing."""
    esc = html.escape
    head = "".join(f"<th>{h}</th>" for h in ("metric", "baseline", "candidate", "Δ", "Δ%", "status"))
    rows = []
    for row in report.comparisons:
        label, *numbers, status = cells(row)
        tds = "".join(f'<td class="num">{esc(n)}</td>' for n in numbers)
        status_td = f'<td class="status">{esc(status)}</td>'
        rows.append(f'<tr class="{esc(row.status)}"><td>{esc(label)}</td>{tds}{status_td}</tr>')
    variants = variants_text(report)
    info = [
        f"generated_at: {esc(report.generated_at)}",
        f"baseline: <code>{esc(report.baseline_path)}</code>",
        f"candidate: <code>{esc(report.candidate_path)}</code>",
        *([f"variants: {esc(variants)}"] if variants is not None else []),
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>Regression Report {esc(report.run_id)}</title>",
        f"<style>{HTML_STYLE}</style>",
        "</head><body>",
        "<h1>Regression Report</h1>",
        "<p>" + "<br>\n".join(info) + "</p>",
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>",
        *rows,
        "</tbody>\n</table>",
        f"<p>{esc(memory_rule(report))}</p>",
        "</body></html>",
        "",
    ])


def artifacts_path(artifacts_dir: str | Path, run_id: str) -> Path:
    return Path(artifacts_dir) / "regressions" / run_id


def write_artifacts(report: Report, artifacts_dir: str | Path, *, html: bool = True) -> Path:
    """Write summary.json, run.md and (with ``html``) report.html atomically; return the directory."""
    out = artifacts_path(artifacts_dir, report.run_id)
    atomic_write(out / "summary.json", summary_json(report).encode())
    atomic_write(out / "run.md", run_md(report).encode())
    if html:
        atomic_write(out / "report.html", report_html(report).encode())
    return out


def git_meta(cwd: str | Path | None = None) -> dict[str, Any]:
    """``meta.git`` of summary.json: the current checkout, ``"unknown"`` for what git cannot tell."""
    from vrx_core.capture.git import read_git, short_hash

    info = read_git(cwd)
    return {
        "commit": short_hash(info) or "unknown",
        "commit_full": info.commit_full or "unknown",
        "branch": info.branch or "unknown",
        "dirty": info.dirty if info.dirty is not None else "unknown",
    }


# -- console ----------------------------------------------------------------------------------


def print_report(report: Report, console: Console) -> None:
    """Panel "Regression Diff", tables "Run provenance" and "Metrics", then loss sparklines."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    lines = [
        f"[bold]Baseline:[/bold] {escape(report.baseline_path)}",
        f"[bold]Candidate:[/bold] {escape(report.candidate_path)}",
    ]
    variants = variants_text(report)
    if variants is not None:
        lines.append(f"[bold]Variants:[/bold] {escape(variants)}")
    console.print(Panel("\n".join(lines), title="Regression Diff", expand=False))

    prov = Table(title="Run provenance")
    for name in ("field", "baseline", "candidate"):
        prov.add_column(name, style="bold" if name == "field" else None)
    for key in CONSOLE_PROVENANCE:
        prov.add_row(key, *(escape(fmt_value(side.get(key))) for side in _sides(report)))
    console.print(prov)

    table = Table(title="Metrics")
    table.add_column("metric")
    for name in ("baseline", "candidate", "Δ", "Δ%"):
        table.add_column(name, justify="right")
    table.add_column("status")
    for row in report.comparisons:
        *values, status = cells(row)
        table.add_row(*values, f"[{STATUS_STYLE[row.status]}]{status}[/]")
    console.print(table)

    if report.baseline_losses or report.candidate_losses:
        console.print("[bold]Loss sparklines (tail)[/bold]")
        console.print(f"  baseline:  {sparkline(report.baseline_losses)}")
        console.print(f"  candidate: {sparkline(report.candidate_losses)}")


def _sides(report: Report) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    return report.baseline, report.candidate


def print_guardrail(metrics: Sequence[str], console: Console) -> None:
    """The red "Guardrail" panel: ``Regressions detected: <comma-separated metrics>``."""
    from rich.markup import escape
    from rich.panel import Panel

    text = f"Regressions detected: {', '.join(metrics)}"
    console.print(Panel(f"[red]{escape(text)}[/red]", title="Guardrail", border_style="red", expand=False))
