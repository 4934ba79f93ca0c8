"""Sections of the HTML report beyond the totals, the energy chart and the table: where memory energy goes,
compute and memory on a log scale, the ratios worded with their direction, silent layers, NeuroBench's
figures, spike rates per time step and the firing-rate maps of the neuron layers.

Every chart is inline SVG (no image, script or address): the page stays one offline file.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from ..report import LayerStats, Report
from ..traffic import ACCESS_KINDS
from ..units import human, percent
from ._common import compute_energy_mj, energy_text, memory_energy_mj, memory_model

KIND_LABELS = {
    "weight_reads": "weight reads",
    "bias_reads": "bias reads",
    "input_reads": "input reads",
    "state_reads": "state reads",
    "state_writes": "state writes",
    "output_writes": "output writes",
}
KIND_COLOURS = {
    "weight_reads": "#4c72b0",
    "bias_reads": "#64b5cd",
    "input_reads": "#55a868",
    "state_reads": "#c44e52",
    "state_writes": "#dd8452",
    "output_writes": "#8172b3",
}
HEAT = "#8172b3"  # spike rates: one hue, opacity by rate
MAP_CELLS = 32  # a firing-rate map is shown at most MAP_CELLS × MAP_CELLS (averaged down)
STYLE = """
.strip td{padding:0;border:none}.strip td.l{padding-right:8px;text-align:right;white-space:nowrap}
.silent{border-left:4px solid #c44e52;padding:.3em .8em;background:#fbeeee}
.maps{display:flex;flex-wrap:wrap;gap:1em}.maps figure{margin:0}.maps figcaption{font-size:12px}
table.memory{border-collapse:collapse;font-size:12px}table.memory td,table.memory th{padding:2px 6px;
text-align:right;border-bottom:1px solid #eee;white-space:nowrap}table.memory .t{text-align:left}
dl.nb{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}dl.nb dt{font-weight:600}dl.nb dd{margin:0}
"""


def _label(layer: LayerStats) -> str:
    return f"{layer.name or '(model)'} ({layer.type})"


def subject(report: Report) -> str:
    """'the SNN' for a model with neuron layers, else 'the model'."""
    return "the SNN" if any(layer.output_spike_rate is not None for layer in report.layers) else "the model"


def ratio_sentence(what: str, value: float, other: str, baseline: float) -> str:
    """'the SNN costs 5.58× the ANN' (and '(5.6× less)' below 1), or '' without a baseline."""
    if not baseline or not math.isfinite(value / baseline):
        return ""
    ratio = value / baseline
    text = f"{what} costs {ratio:.3g}× {other}"
    if 0 < ratio < 1:
        text += f", {1 / ratio:.3g}× less"
    return text


def ratios(report: Report) -> str:
    """Each ratio against the ANN baseline as a sentence that says what is divided by what."""
    totals = report.totals
    who = subject(report)
    sentences = [
        ratio_sentence(f"{who} (energy per sample)", totals["energy_mj"], "the ANN run once", totals["ann_energy_mj"])
    ]
    if memory_model(report) is not None:
        sentences.append(
            ratio_sentence(
                f"{who}'s compute", totals["compute_energy_mj"], "the ANN's compute", totals["ann_compute_energy_mj"]
            )
        )
    items = "".join(f"<li>{escape(s[0].upper() + s[1:])}.</li>" for s in sentences if s)
    return f'<ul id="ratios">{items}</ul>' if items else '<p id="ratios">No ANN baseline to compare with.</p>'


# -- memory ---------------------------------------------------------------------------------------------------
def memory_section(report: Report) -> str:
    """Where memory energy goes: a model-wide stacked bar by access kind and, per layer, the accesses of
    each kind with their energy (a stacked bar per layer, to the scale of the largest)."""
    if memory_model(report) is None:
        return '<p id="memory-breakdown">No memory model priced this profile (memory="none").</p>'
    layers = [x for x in report.layers if x.memory is not None and memory_energy_mj(x, report) > 0]
    by_kind = [x.memory_energy_by_kind_mj for x in layers]
    if not layers or any(kinds is None for kinds in by_kind):
        return '<p id="memory-breakdown">This report does not carry its memory energy by access kind.</p>'
    total = {kind: math.fsum(kinds[kind] for kinds in by_kind) for kind in ACCESS_KINDS}  # type: ignore[index]
    whole = math.fsum(total.values())
    width, x, bar = 820.0, 0.0, []
    for kind in ACCESS_KINDS:
        if total[kind] > 0:
            w = width * total[kind] / whole
            bar.append(
                f'<rect class="kind" data-kind="{kind}" data-mj="{total[kind]!r}" x="{x:.2f}" y="18" width="{w:.2f}" '
                f'height="22" fill="{KIND_COLOURS[kind]}"><title>{KIND_LABELS[kind]}: {energy_text(total[kind])} '
                f"({100 * total[kind] / whole:.1f} %)</title></rect>"
            )
            x += w
    legend = "".join(
        f'<rect x="{140 * i}" y="46" width="10" height="10" fill="{KIND_COLOURS[k]}"/>'
        f'<text x="{140 * i + 14}" y="55">{KIND_LABELS[k]} {100 * total[k] / whole:.1f} %</text>'
        for i, k in enumerate(ACCESS_KINDS)
    )
    heading = f'<text x="0" y="12">memory energy {energy_text(whole)} per sample, by access kind</text>'
    summary = (
        f'<svg id="memory-kinds" role="img" width="{width:.0f}" height="62" viewBox="0 0 {width:.0f} 62">'
        f"{heading}{''.join(bar)}{legend}</svg>"
    )
    top = max(memory_energy_mj(x, report) for x in layers)
    head = "".join(f"<th>{KIND_LABELS[k]}</th>" for k in ACCESS_KINDS)
    rows = []
    for layer in layers:
        kinds = layer.memory_energy_by_kind_mj or {}
        cells = "".join(
            f'<td title="{escape(energy_text(kinds[k]))}">{human(layer.memory[k])}'  # type: ignore[index]
            f"<br><small>{escape(energy_text(kinds[k]))}</small></td>"
            for k in ACCESS_KINDS
        )
        x, rects = 0.0, []
        for k in ACCESS_KINDS:
            if kinds[k] > 0:
                w = 160 * kinds[k] / top
                rects.append(f'<rect x="{x:.2f}" y="2" width="{w:.2f}" height="10" fill="{KIND_COLOURS[k]}"/>')
                x += w
        spark = f'<svg width="162" height="14" viewBox="0 0 162 14">{"".join(rects)}</svg>'
        rows.append(
            f'<tr class="mem" data-name="{escape(layer.name)}"><td class="t">{escape(_label(layer))}</td>{cells}'
            f"<td>{escape(energy_text(memory_energy_mj(layer, report)))}</td><td class=t>{spark}</td></tr>"
        )
    table = (
        f'<table class="memory" id="memory-table"><thead><tr><th class="t">Layer</th>{head}<th>Memory energy</th>'
        f'<th class="t">by kind</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "<p>Accesses (words) per sample; under each, their energy.</p>"
    )
    return f'<div id="memory-breakdown">{summary}{table}</div>'


# -- compute beside memory on a log scale ----------------------------------------------------------------------
def log_energy_chart(report: Report) -> str:
    """Compute and memory energy of each layer as two bars on one logarithmic axis (decades marked), so a
    layer's compute stays visible beside a memory energy a hundred times larger."""
    pairs = [(x, compute_energy_mj(x, report), memory_energy_mj(x, report)) for x in report.layers]
    pairs = [p for p in pairs if p[1] > 0 or p[2] > 0]
    if not pairs:
        return '<p id="log-chart">No layer has energy.</p>'
    values = [v for _, c, m in pairs for v in (c, m) if v > 0]
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    high = max(high, low + 1)
    label_w, bar_w, row = 260, 520, 24

    def xpos(v: float) -> float:
        return label_w + bar_w * (math.log10(v) - low) / (high - low)

    grid = "".join(
        f'<line x1="{xpos(10.0**d):.1f}" y1="16" x2="{xpos(10.0**d):.1f}" y2="{20 + row * len(pairs)}" '
        f'stroke="#ccc"/><text x="{xpos(10.0**d):.1f}" y="12" text-anchor="middle">{energy_text(10.0**d)}</text>'
        for d in range(low, high + 1)
    )
    rows, y = [], 20
    for layer, compute, memory in pairs:
        bars = []
        for offset, value, colour, kind in ((0, compute, "#4c72b0", "compute"), (11, memory, "#55a868", "memory")):
            if value > 0:
                bars.append(
                    f'<rect class="{kind}" x="{label_w}" y="{y + offset}" width="{xpos(value) - label_w:.2f}" '
                    f'height="10" fill="{colour}"><title>{kind} {energy_text(value)}</title></rect>'
                )
        rows.append(
            f'<g class="bar" data-layer="{escape(layer.name)}" data-compute-mj="{compute!r}" '
            f'data-memory-mj="{memory!r}">'
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(_label(layer)[-40:])}</text>'
            f"{''.join(bars)}</g>"
        )
        y += row
    legend = (
        f'<rect x="{label_w}" y="{y + 4}" width="10" height="10" fill="#4c72b0"/>'
        f'<text x="{label_w + 14}" y="{y + 13}">compute</text>'
        f'<rect x="{label_w + 90}" y="{y + 4}" width="10" height="10" fill="#55a868"/>'
        f'<text x="{label_w + 104}" y="{y + 13}">memory (log scale: each line is 10×)</text>'
    )
    width, height = label_w + bar_w + 40, y + 20
    return (
        f'<svg id="log-chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{grid}{''.join(rows)}{legend}</svg>"
    )


# -- spikes -------------------------------------------------------------------------------------------------------
def silent_layers(report: Report) -> str:
    """Neuron layers that emitted no spike at all (the layers after them see no events)."""
    silent = [x for x in report.layers if x.output_spike_rate == 0]
    if not silent:
        return ""
    names = ", ".join(_label(x) for x in silent)
    return (
        f'<p class="silent" id="silent-layers"><b>Silent layers</b> (no spike in any sample or time step): '
        f"{escape(names)}. Layers fed only by them receive no events.</p>"
    )


def per_step_strip(report: Report) -> str:
    """A heat strip of neuron layers × time steps: each cell's opacity is its spike rate over the largest
    rate in the strip; the number is the rate."""
    layers = [x for x in report.layers if x.spike_rate_per_step]
    if not layers:
        return '<p id="per-step">No per-step spike rates (no neuron layer, or its calls did not tell steps apart).</p>'
    top = max(max(x.spike_rate_per_step or [0.0]) for x in layers) or 1.0
    steps = max(len(x.spike_rate_per_step or []) for x in layers)
    cell_w = max(28, min(60, 640 // steps))
    head = "".join(
        f'<th style="width:{cell_w}px;font-weight:400;font-size:11px">t={t}</th>' for t in range(1, steps + 1)
    )
    rows = []
    for layer in layers:
        rates = layer.spike_rate_per_step or []
        cells = "".join(
            f'<td><svg class="step" data-step="{t}" data-rate="{r!r}" width="{cell_w}" height="20">'
            f'<rect width="{cell_w}" height="20" fill="{HEAT}" fill-opacity="{r / top:.3f}"/>'
            f'<text x="{cell_w / 2}" y="14" text-anchor="middle">{100 * r:.1f}</text>'
            f"<title>{escape(_label(layer))}, step {t + 1}: {percent(r, 2)}</title></svg></td>"
            for t, r in enumerate(rates)
        )
        rows.append(f'<tr data-name="{escape(layer.name)}"><td class="l">{escape(_label(layer))}</td>{cells}</tr>')
    return (
        f'<table class="strip" id="per-step"><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        f"</table><p>Spikes per neuron at each time step, in %, averaged over the samples (darkest: "
        f"{percent(top, 2)}).</p>"
    )


def _grid(rates: Any) -> tuple[list[list[float]], str]:
    """A neuron layer's firing-rate map as a grid of at most MAP_CELLS² cells (a mean over channels for
    [C, H, W]; a near-square layout for a vector), with what a cell is."""
    import torch

    r = rates.detach().to("cpu", torch.float64)
    if r.dim() >= 3:
        what = f"mean over {math.prod(r.shape[:-2])} channel(s) of {r.shape[-2]}×{r.shape[-1]}"
        r = r.reshape(-1, r.shape[-2], r.shape[-1]).mean(0)
    elif r.dim() == 2:
        what = f"{r.shape[0]}×{r.shape[1]}"
    else:
        n = r.numel()
        side = math.ceil(math.sqrt(n))
        what = f"{n} neurons in rows of {side}"
        r = torch.cat([r.reshape(-1), torch.full((side * side - n,), float("nan"), dtype=r.dtype)]).view(side, side)
    h, w = r.shape
    fy, fx = math.ceil(h / MAP_CELLS), math.ceil(w / MAP_CELLS)
    if fy > 1 or fx > 1:  # average blocks (NaN padding ignored)
        ph, pw = -h % fy, -w % fx
        padded = torch.nn.functional.pad(r, (0, pw, 0, ph), value=float("nan"))
        blocks = padded.view(padded.shape[0] // fy, fy, padded.shape[1] // fx, fx)
        r = blocks.nanmean((1, 3))
        what += f", {fy}×{fx} blocks averaged"
    return r.tolist(), what


def rate_maps(report: Report) -> str:
    """Small firing-rate maps of the neuron layers: one cell per neuron (or block), its opacity the rate
    over the layer's largest."""
    figures = []
    for layer in report.layers:
        rates = layer.firing_rate_map if layer.output_spike_rate is not None else None
        if rates is None or rates.numel() == 0:
            continue
        grid, what = _grid(rates)
        top = max((v for row in grid for v in row if not math.isnan(v)), default=0.0)
        size = 5 if len(grid) > 16 else 10
        levels: dict[int, list[str]] = {}
        for y, row in enumerate(grid):
            for x, v in enumerate(row):
                if not math.isnan(v) and v > 0 and top > 0:
                    cell = f"M{x * size} {y * size}h{size}v{size}h-{size}z"
                    levels.setdefault(min(10, math.ceil(10 * v / top)), []).append(cell)
        paths = "".join(
            f'<path fill="{HEAT}" fill-opacity="{level / 10:.1f}" d="{"".join(cells)}"/>'
            for level, cells in sorted(levels.items())
        )
        w, h = size * len(grid[0]), size * len(grid)
        figures.append(
            f'<figure class="map" data-layer="{escape(layer.name)}"><svg role="img" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}"><rect width="{w}" height="{h}" fill="none" stroke="#bbb"/>{paths}</svg>'
            f"<figcaption>{escape(_label(layer))}<br>{escape(what)}; darkest {percent(top, 2)}</figcaption></figure>"
        )
    if not figures:
        return '<p id="rate-maps">No firing-rate maps in this report.</p>'
    return f'<div class="maps" id="rate-maps">{"".join(figures)}</div>'


# -- NeuroBench ------------------------------------------------------------------------------------------------
def neurobench_block(report: Report) -> str:
    """Report.neurobench()'s figures under NeuroBench's own names."""
    try:
        figures = report.neurobench()
    except Exception as exc:  # a hand-built report may lack what a figure needs: say so, do not fail the page
        return f'<p id="neurobench">NeuroBench figures unavailable: {escape(str(exc))}</p>'
    items = []
    for name, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {_number(v)}" for k, v in value.items())
        else:
            value = _number(value)
        items.append(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>")
    return f'<dl class="nb" id="neurobench">{"".join(items)}</dl><p>Per sample, by NeuroBench 2.x definitions.</p>'


def _number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return human(value) if isinstance(value, (int, float)) else str(value)
