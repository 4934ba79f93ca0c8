"""The HTML report's training section: one stacked bar per phase of a counted training step (forward,
backward, update; compute and memory energy per sample), the phases' figures and the bytes autograd kept
for backward. Inline SVG, like every chart of the page; reports without a training step have no section.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..report import Report
from ..units import human
from ._common import energy_text

PHASES = ("forward", "backward", "update")
PARTS = (("compute", "compute_energy_mj", "#4c72b0"), ("memory", "memory_energy_mj", "#55a868"))
LABEL_W, BAR_W, ROW_H = 90, 600, 24


def training_section(report: Report) -> str:
    """ "" when ``report`` holds no training step, else its heading, phase bars and table."""
    phases: dict[str, dict[str, Any]] | None = getattr(report, "phases", None)
    if not phases:
        return ""
    rows = [(name, phases[name]) for name in PHASES if name in phases]
    top = max((float(row["energy_mj"]) for _, row in rows), default=0.0)
    return (
        "<h2>Training step: forward, backward, update (per sample)</h2>"
        + _bars(rows, top)
        + _table(rows)
        + _summary(report)
    )


def _bars(rows: list[tuple[str, dict[str, Any]]], top: float) -> str:
    if top <= 0:
        return '<p id="phase-chart">No phase of this step has energy.</p>'
    scale = BAR_W / top
    parts, y = [], 22
    for name, row in rows:
        x, rects = float(LABEL_W), []
        for part, key, colour in PARTS:
            value = float(row.get(key) or 0.0)
            if value > 0:
                w = value * scale
                rects.append(
                    f'<rect data-part="{part}" data-mj="{value!r}" x="{x:.2f}" y="{y + 3}" width="{w:.2f}" '
                    f'height="{ROW_H - 6}" fill="{colour}"><title>{name} {part}: {energy_text(value)}</title></rect>'
                )
                x += w
        parts.append(
            f'<g class="phase" data-phase="{name}" data-energy-mj="{float(row["energy_mj"])!r}">'
            f'<text x="{LABEL_W - 6}" y="{y + 16}" text-anchor="end">{name}</text>{"".join(rects)}'
            f'<text x="{x + 4:.1f}" y="{y + 16}">{escape(energy_text(float(row["energy_mj"])))}</text></g>'
        )
        y += ROW_H
    legend = "".join(
        f'<rect x="{LABEL_W + 110 * i}" y="4" width="10" height="10" fill="{colour}"/>'
        f'<text x="{LABEL_W + 110 * i + 14}" y="13">{part} energy</text>'
        for i, (part, _, colour) in enumerate(PARTS)
    )
    width = LABEL_W + BAR_W + 100
    return (
        f'<svg id="phase-chart" role="img" width="{width}" height="{y + 4}" viewBox="0 0 {width} {y + 4}">'
        f"{legend}{''.join(parts)}</svg>"
    )


def _table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("Phase", "ACs", "MACs", "Compute", "Memory", "Energy"))
    body = "".join(
        f'<tr data-phase="{name}"><td>{name}</td><td>{human(float(row["acs"]))}</td>'
        f"<td>{human(float(row['macs']))}</td>"
        f"<td>{escape(energy_text(float(row['compute_energy_mj'])))}</td>"
        f"<td>{escape(energy_text(float(row['memory_energy_mj'])))}</td>"
        f"<td>{escape(energy_text(float(row['energy_mj'])))}</td></tr>"
        for name, row in rows
    )
    return f'<table id="phase-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _summary(report: Report) -> str:
    said = []
    total = getattr(report, "training_energy_mj", None)
    if total is not None:
        said.append(f"The training step costs {energy_text(float(total))} per sample, the three phases summed")
    saved = getattr(report, "saved_for_backward_bytes", None)
    if saved is not None:
        said.append(f"autograd kept {float(saved):,.0f} bytes per sample for backward (each save counted)")
    return f'<p id="phase-summary">{escape("; ".join(said))}.</p>' if said else ""
