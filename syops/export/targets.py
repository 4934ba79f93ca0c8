"""Several energy targets side by side (``Report.targets``): labels, per-target summary lines, the
Markdown / HTML / LaTeX pieces and the bar chart of energy per sample (one bar per target, and the ANN
baseline on the 45 nm model beside them)."""

from __future__ import annotations

import math
from html import escape

from ..errors import SyopsError
from ..report import Report
from ._common import energy_text

BAR_COLOUR, ANN_COLOUR = "#4c72b0", "#999999"
LOG_RANGE = 30.0  # bars spanning more than this factor are drawn on a log scale


def target_label(target: Report) -> str:
    """``loihi``, or ``45nm-fp32 + sram-45nm`` for a target that prices memory."""
    energy = target.energy_model.name
    return energy if target.memory_model is None else f"{energy} + {target.memory_model.name}"


def target_lines(report: Report) -> list[str]:
    """One line per target (its energy per sample, compute and memory apart where it prices memory, its
    ratio to the 45 nm ANN baseline, its source), then the baseline's own line."""
    label, ann = ann_baseline_45nm(report)
    lines = []
    for target in report.targets:
        totals = target.totals
        energy = totals["energy_mj"]
        if target.memory_model is None:
            split = "compute only: the device's costs include its memory" if _is_device(target) else "compute only"
        else:
            split = (
                f"{energy_text(totals['compute_energy_mj'])} compute + {energy_text(totals['memory_energy_mj'])} memory"
            )
        ratio = f"; {energy / ann:.3g}× the ANN baseline" if ann > 0 else ""
        source = f" [{target.energy_model.source}]" if target.energy_model.source else ""
        lines.append(f"{target_label(target)}: {energy_text(energy)} per sample ({split}){ratio}{source}")
    lines.append(f"ANN baseline: the same architecture as an ANN {label.removeprefix('ANN ')}: {energy_text(ann)}")
    return lines


def _is_device(target: Report) -> bool:
    model = target.energy_model
    return model.one_pass_ann or model.e_synop_pj is not None or model.e_neuron_update_pj is not None


def ann_baseline_45nm(report: Report) -> tuple[str, float]:
    """The ANN baseline (one dense pass) on the 45nm-fp32 model: with its default memory model where the
    report's counts allow, else compute only. A label and the energy in mJ per sample."""
    try:
        priced = report.reprice("45nm-fp32")
    except SyopsError:  # the report does not keep its traffic terms: compute only
        priced = report.reprice("45nm-fp32", "none")
    memory = f" + {priced.memory_model.name}" if priced.memory_model is not None else ", compute only"
    return f"ANN once per sample (45nm-fp32{memory})", priced.totals["ann_energy_mj"]


def bars(report: Report) -> list[tuple[str, float]]:
    """(label, mJ per sample) of every target, then the 45 nm ANN baseline."""
    return [(target_label(t), t.totals["energy_mj"]) for t in report.targets] + [ann_baseline_45nm(report)]


def needs_log_scale(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) > 1 and max(positive) / min(positive) > LOG_RANGE


def targets_markdown(report: Report) -> str:
    """A table of the targets (energy per sample, compute, memory, the ANN baseline) and their sources."""
    if not report.targets:
        return ""
    lines = [
        "",
        "| target | energy_mj | compute_energy_mj | memory_energy_mj | ann_energy_mj | source |",
        "|---|---|---|---|---|---|",
    ]
    for t in report.targets:
        totals = t.totals
        lines.append(
            f"| {target_label(t)} | {totals['energy_mj']:.6g} | {totals['compute_energy_mj']:.6g} | "
            f"{totals['memory_energy_mj']:.6g} | {totals['ann_energy_mj']:.6g} | "
            f"{t.energy_model.source.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def targets_csv_columns(report: Report) -> list[str]:
    """Per-layer CSV columns of every target: ``energy_mj[LABEL]``."""
    return [f"energy_mj[{target_label(t)}]" for t in report.targets]


def targets_html(report: Report) -> str:
    """The HTML section of a side-by-side report: a table of the targets and the bar chart."""
    if not report.targets:
        return ""
    rows = []
    for t in report.targets:
        totals = t.totals
        memory = energy_text(totals["memory_energy_mj"]) if t.memory_model is not None else "–"
        rows.append(
            f"<tr><td class=t>{escape(target_label(t))}</td><td>{escape(energy_text(totals['energy_mj']))}</td>"
            f"<td>{escape(energy_text(totals['compute_energy_mj']))}</td><td>{escape(memory)}</td>"
            f'<td class=t style="white-space:normal">{escape(t.energy_model.source)}</td></tr>'
        )
    table = (
        '<table class="layers" id="targets"><thead><tr><th class=t>Target</th><th>Energy</th><th>Compute</th>'
        f"<th>Memory</th><th class=t>Source</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return f'<h2 id="targets-section">Energy on each target, per sample</h2>{targets_chart_svg(report)}{table}'


def targets_chart_svg(report: Report) -> str:
    """Horizontal bars of energy per sample: one per target, the 45 nm ANN baseline last (grey); a log
    scale when the values span more than LOG_RANGE."""
    values = bars(report)
    label_w, bar_w, value_w, row_h = 300, 460, 90, 22
    top = max(v for _, v in values)
    if top <= 0:
        return '<p id="targets-chart">No target has energy.</p>'
    log = needs_log_scale([v for _, v in values])
    low = min(v for _, v in values if v > 0) / 2 if log else 0.0

    def width(v: float) -> float:
        if v <= 0:
            return 0.0
        if log:
            return bar_w * math.log10(v / low) / math.log10(top / low)
        return bar_w * v / top

    out, y = [], 24
    for index, (label, value) in enumerate(values):
        colour = ANN_COLOUR if index == len(values) - 1 else BAR_COLOUR
        w = width(value)
        out.append(
            f'<g class="target-bar" data-target="{escape(label)}" data-energy-mj="{value!r}">'
            f"<title>{escape(label)}: {escape(energy_text(value))}</title>"
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.2f}" height="{row_h - 6}" fill="{colour}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{escape(energy_text(value))}</text></g>'
        )
        y += row_h
    scale = "log scale" if log else "linear scale"
    caption = f'<text x="{label_w}" y="14">energy per sample ({scale})</text>'
    total_w = label_w + bar_w + value_w
    return (
        f'<svg id="targets-chart" data-scale="{"log" if log else "linear"}" role="img" width="{total_w}" '
        f'height="{y + 4}" viewBox="0 0 {total_w} {y + 4}">{caption}{"".join(out)}</svg>'
    )


def plot_targets(report: Report, axes) -> None:
    """The same bars on matplotlib ``axes`` (for ``--plot`` with several targets)."""
    values = bars(report)
    labels = [label for label, _ in values]
    energies = [v * 1e3 for _, v in values]  # µJ
    colours = [BAR_COLOUR] * (len(values) - 1) + [ANN_COLOUR]
    axes.barh(range(len(values)), energies, color=colours)
    axes.set_yticks(list(range(len(values))), labels, fontsize=8)
    axes.invert_yaxis()
    if needs_log_scale(energies):
        axes.set_xscale("log")
    axes.set_xlabel("energy per sample (µJ)" + (", log scale" if needs_log_scale(energies) else ""))
    axes.set_title(f"{report.model}: energy per sample on each target (T={report.timesteps})")
