"""A training step's phases (forward, backward, update) as a Markdown table and a LaTeX table, below the
report's own tables. Per sample, like every figure of the report; nothing for an inference report."""

from __future__ import annotations

from typing import Any

from ..report import Report

PHASES = ("forward", "backward", "update")
FIELDS = ("acs", "macs", "compute_energy_mj", "memory_energy_mj", "energy_mj")


def _rows(report: Report) -> list[tuple[str, dict[str, Any]]]:
    phases = getattr(report, "phases", None) or {}
    return [(name, phases[name]) for name in PHASES if name in phases]


def _footer(report: Report) -> str:
    said = []
    if report.training_energy_mj is not None:
        said.append(f"training step {report.training_energy_mj:.6g} mJ per sample (the phases summed)")
    if report.saved_for_backward_bytes is not None:
        said.append(f"{report.saved_for_backward_bytes:.0f} bytes saved for backward per sample")
    return "; ".join(said)


def phases_markdown(report: Report) -> list[str]:
    """Lines of a Markdown phase table (with a blank line before it), or [] without a training step."""
    rows = _rows(report)
    if not rows:
        return []
    lines = [
        "",
        "| phase | " + " | ".join(FIELDS) + " |",
        "|" + "|".join("---" for _ in range(len(FIELDS) + 1)) + "|",
    ]
    lines += [f"| {name} | " + " | ".join(f"{float(row[k]):.6g}" for k in FIELDS) + " |" for name, row in rows]
    footer = _footer(report)
    return [*lines, "", footer] if footer else lines


def phases_latex(report: Report, label: str) -> list[str]:
    """Lines of a booktabs table of the phases (label ``label``), or [] without a training step."""
    rows = _rows(report)
    if not rows:
        return []
    footer = _footer(report)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{One training step per sample, by phase. {footer[:1].upper() + footer[1:]}.}}",
        f"\\label{{{label}}}",
        r"\begin{tabular}{@{}lrrrrr@{}}",
        r"\toprule",
        r"Phase & ACs & MACs & Compute (mJ) & Memory (mJ) & Energy (mJ) \\",
        r"\midrule",
    ]
    lines += [f"{name} & " + " & ".join(f"{float(row[k]):.4g}" for k in FIELDS) + r" \\" for name, row in rows]
    return [*lines, r"\bottomrule", r"\end{tabular}", r"\end{table}"]
