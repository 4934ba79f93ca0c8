"""``Report.to_html()``: one self-contained page that opens offline in any browser.

Charts are inline SVG written here (a few hundred bytes per layer, drawn by the browser itself), so the
page needs no script, style or font from the network and no charting library; the only script is a
dozen lines that sort the layer table. Nothing in the document refers to anything outside it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..plot import energy_split
from ..report import LayerStats, Report
from ..units import human, percent
from ._common import (
    ann_energy_mj,
    compute_energy_mj,
    energy_model_text,
    energy_text,
    memory_energy_mj,
    memory_model,
    memory_model_text,
    per_what,
    shape_text,
    word_width_text,
)
from .html_sections import (
    STYLE as SECTION_STYLE,
)
from .html_sections import (
    log_energy_chart,
    memory_section,
    neurobench_block,
    per_step_strip,
    rate_maps,
    ratio_sentence,
    ratios,
    silent_layers,
    subject,
)
from .html_training import training_section
from .methods import methods_paragraph
from .targets import targets_html

COLOURS = {"AC": "#4c72b0", "MAC": "#dd8452", "memory": "#55a868", "rate": "#8172b3"}
LABEL_W, BAR_W, VALUE_W, ROW_H = 260, 520, 90, 18

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.15em 1em}dl.meta dt{font-weight:600}
dl.meta dd{margin:0}.totals{display:flex;flex-wrap:wrap;gap:.6em}
.totals div{border:1px solid #ddd;border-radius:4px;padding:.4em .8em;min-width:8em}
.totals b{display:block;font-size:1.2em}.note{color:#8a5a00}
table.layers{border-collapse:collapse;font-size:12px;width:100%}
table.layers th,table.layers td{padding:2px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
table.layers th{cursor:pointer;position:sticky;top:0;background:#f6f6f6;user-select:none}
table.layers td.t,table.layers th.t{text-align:left}table.layers tfoot td{font-weight:700;border-top:2px solid #999}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
svg text{font:11px system-ui,sans-serif;fill:#222}p.methods{max-width:60em;text-align:justify}
"""

# Click a header to sort (again to reverse); "#sort=KEY" or "#sort=KEY-desc" in the address sorts on load.
# Empty cells stay last either way.
_SCRIPT = """
(function(){var t=document.getElementById("layers"),b=t.tBodies[0],h=[].slice.call(t.tHead.rows[0].cells);
function v(r,i){var s=r.cells[i].getAttribute("data-v");return s===null?r.cells[i].textContent:s}
function sort(i,desc){var rows=[].slice.call(b.rows);rows.sort(function(x,y){var a=v(x,i),c=v(y,i);
if(a===""||c==="")return (a==="")-(c==="");var n=parseFloat(a),m=parseFloat(c);
var d=(isNaN(n)||isNaN(m))?a.localeCompare(c):n-m;return desc?-d:d});
rows.forEach(function(r){b.appendChild(r)});h.forEach(function(e){e.removeAttribute("aria-sort")});
h[i].setAttribute("aria-sort",desc?"descending":"ascending")}
h.forEach(function(e,i){e.addEventListener("click",function(){sort(i,e.getAttribute("aria-sort")==="ascending")})});
var m=/^#sort=([A-Za-z_.]+?)(-desc)?$/.exec(location.hash);
if(m)h.forEach(function(e,i){if(e.getAttribute("data-key")===m[1])sort(i,!!m[2])});
t.setAttribute("data-sortable","ready")})();
"""


def report_html(report: Report, title: str | None = None) -> str:
    title = title or f"syops report: {report.model}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _meta(report),
        "<h2>Totals</h2>",
        _totals(report),
        ratios(report),
        silent_layers(report),
        training_section(report),
        targets_html(report),  # a side-by-side report (several energy targets); empty otherwise
        f"<h2>Energy per layer ({escape(per_what(report))})</h2>",
        _energy_chart(report),
        "<h2>Compute and memory energy per layer, log scale</h2>",
        log_energy_chart(report),
        "<h2>Where memory energy goes</h2>",
        memory_section(report),
        "<h2>Output spike rate per neuron layer</h2>",
        _rate_chart(report),
        "<h2>Spike rate per time step</h2>",
        per_step_strip(report),
        "<h2>Firing-rate maps</h2>",
        rate_maps(report),
        "<h2>NeuroBench figures</h2>",
        neurobench_block(report),
        "<h2>Layers</h2>",
        "<p>Click a column header to sort.</p>",
        _table(report),
        "<h2>Methods</h2>",
        f'<p class="methods" id="methods">{escape(methods_paragraph(report))}</p>',
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}{SECTION_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _meta(report: Report) -> str:
    model = report.energy_model
    memory = memory_model(report)
    rows: list[tuple[str, str]] = [
        ("Model", report.model),
        ("Input (one sample)", shape_text(report.input_shape)),
        ("Time steps T", str(report.timesteps)),
        ("Samples", str(report.samples)),
        ("Inputs", _inputs_text(report)),
        ("Figures", per_what(report) + (", over all T time steps" if not report.per_timestep_view else "")),
        ("Energy model", energy_model_text(report) + (f"; {model.source}" if model.source else "")),
        (
            "Memory model",
            memory_model_text(report) + (f"; {memory['source']}" if memory and memory.get("source") else ""),
        ),
        ("Memory words", word_width_text(report) or "memory not priced"),
        ("Neuron updates", "counted" if report.count_neuron_updates else "not counted"),
        ("syops", report.syops_version),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    notes = "".join(f'<p class="note">Note: {escape(n)}</p>' for n in report.notes)
    if report.unsupported:
        notes += f'<p class="note">No counting rule for: {escape(", ".join(report.unsupported))}.</p>'
    return f'<dl class="meta" id="meta">{items}</dl>{notes}'


def _inputs_text(report: Report) -> str:
    """'random (uniform [0, 1), seed 0), poisson encoding, layout TB' from report.inputs."""
    given = report.inputs
    if not given:
        return "not recorded"
    kind = {"dataloader": "DataLoader", "tensors": "given tensors", "input_constructor": "input constructor"}
    text = kind.get(given.get("kind"), str(given.get("kind", "?")))
    if given.get("kind") == "random":
        text = f"seeded random ({given.get('distribution', 'standard normal')}, seed {given.get('seed', '?')})"
    if given.get("max_batches"):
        text += f", first {given['max_batches']} batches"
    if given.get("encoding"):
        text += f", {given['encoding']} encoding"
    if given.get("time_layout"):
        text += f", time layout {given['time_layout']}"
    return text


def _totals(report: Report) -> str:
    totals = report.totals
    energy = totals["energy_mj"]
    ann = ann_energy_mj(report)
    cards = [("Energy", energy_text(energy))]
    if memory_model(report) is not None:
        cards += [
            ("Compute energy", energy_text(sum(compute_energy_mj(x, report) for x in report.layers))),
            ("Memory energy", energy_text(sum(memory_energy_mj(x, report) for x in report.layers))),
        ]
    ann_compute = float(totals.get("ann_compute_energy_mj") or 0.0)
    compute = sum(compute_energy_mj(x, report) for x in report.layers)
    if memory_model(report) is not None and ann_compute:
        worded = ratio_sentence(f"{subject(report)}'s compute", compute, "this", ann_compute)
        cards.append(("The ANN, run once: compute", f"{energy_text(ann_compute)} ({worded})"))
    if ann:
        label = "The ANN, run once: energy" if memory_model(report) is not None else "The ANN, run once"
        cards.append((label, f"{energy_text(ann)} ({ratio_sentence(subject(report), energy, 'this', ann)})"))
    cards += [
        ("SynOps", human(totals["synops"])),
        ("ACs", human(totals["acs"])),
        ("MACs", human(totals["macs"])),
        ("Dense MACs", human(totals["dense_macs"])),
        ("Neuron updates", human(totals["neuron_updates"])),
        ("Parameters", human(totals["params"])),
        ("Mean spike rate", percent(report.mean_spike_rate)),
    ]
    return (
        '<div class="totals" id="totals">'
        + "".join(f"<div>{escape(k)}<b>{escape(v)}</b></div>" for k, v in cards)
        + "</div>"
    )


def _label(layer: LayerStats) -> str:
    name = layer.name or "(model)"
    return f"{name} ({layer.type})"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _svg(chart_id: str, rows: list[str], height: int, legend: list[tuple[str, str]]) -> str:
    legend_svg = "".join(
        f'<rect x="{LABEL_W + 110 * i}" y="2" width="10" height="10" fill="{colour}"/>'
        f'<text x="{LABEL_W + 110 * i + 14}" y="11">{escape(name)}</text>'
        for i, (name, colour) in enumerate(legend)
    )
    width = LABEL_W + BAR_W + VALUE_W
    return (
        f'<svg id="{chart_id}" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{legend_svg}{''.join(rows)}</svg>"
    )


def _energy_chart(report: Report) -> str:
    with_memory = memory_model(report) is not None
    parts = []
    for layer, split in zip(report.layers, energy_split(report), strict=True):
        segments = [("AC", split.ac_mj), ("MAC", split.mac_mj)]
        if with_memory:
            segments.append(("memory", memory_energy_mj(layer, report)))
        if layer.energy_mj > 0:
            parts.append((layer, segments))
    if not parts:
        return '<p id="energy-chart">No layer has energy.</p>'
    scale = BAR_W / max(sum(v for _, v in segments) for _, segments in parts)
    rows, y = [], 20
    for layer, segments in parts:
        label = _label(layer)
        x = float(LABEL_W)
        bars = []
        for kind, value in segments:
            if value > 0:
                w = value * scale
                bars.append(
                    f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.2f}" height="{ROW_H - 4}" fill="{COLOURS[kind]}"/>'
                )
                x += w
        tip = escape(
            f"{label}: {energy_text(layer.energy_mj)}" + "".join(f", {k} {energy_text(v)}" for k, v in segments)
        )
        rows.append(
            f'<g class="bar" data-layer="{escape(layer.name)}" data-type="{escape(layer.type)}" '
            f'data-energy-mj="{layer.energy_mj!r}"><title>{tip}</title>'
            f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(_short(label))}</text>{"".join(bars)}'
            f'<text x="{x + 4:.1f}" y="{y + 13}">{escape(energy_text(layer.energy_mj))}</text></g>'
        )
        y += ROW_H
    legend = [("AC ops", COLOURS["AC"]), ("MAC ops", COLOURS["MAC"])]
    if with_memory:
        legend.append(("memory", COLOURS["memory"]))
    return _svg("energy-chart", rows, y + 4, legend)


def _rate_chart(report: Report) -> str:
    neurons = [layer for layer in report.layers if layer.output_spike_rate is not None]
    if not neurons:
        return '<p id="rate-chart">No spiking layers.</p>'
    top = max(max(layer.output_spike_rate or 0.0 for layer in neurons), 1e-12)
    rows, y = [], 20
    for layer in neurons:
        rate = layer.output_spike_rate or 0.0
        w = BAR_W * rate / top
        rows.append(
            f'<g class="bar" data-layer="{escape(layer.name)}" data-rate="{rate!r}">'
            f"<title>{escape(_label(layer))}: {percent(rate, 2)} spikes per neuron per time step</title>"
            f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{escape(_short(_label(layer)))}</text>'
            f'<rect x="{LABEL_W}" y="{y + 2}" width="{w:.2f}" height="{ROW_H - 4}" fill="{COLOURS["rate"]}"/>'
            f'<text x="{LABEL_W + w + 4:.1f}" y="{y + 13}">{percent(rate, 2)}</text></g>'
        )
        y += ROW_H
    return _svg("rate-chart", rows, y + 4, [("spikes / (neurons × T)", COLOURS["rate"])])


def _columns(report: Report) -> list[tuple[str, str, Any]]:
    """(key, header, cell) for the layer table; cell(layer, index) -> (sort value, text)."""

    def count(name: str):
        return lambda layer, i: (getattr(layer, name), human(getattr(layer, name)))

    def rate(name: str):
        return lambda layer, i: (getattr(layer, name), percent(getattr(layer, name)))

    columns: list[tuple[str, str, Any]] = [
        ("index", "#", lambda layer, i: (i, str(i))),
        ("name", "Layer", lambda layer, i: (layer.name or "(model)", layer.name or "(model)")),
        ("type", "Type", lambda layer, i: (layer.type, layer.type)),
        ("params", "Params", count("params")),
        ("calls", "Calls", count("calls")),
        ("dense_macs", "Dense MACs", count("dense_macs")),
        ("acs", "ACs", count("acs")),
        ("macs", "MACs", count("macs")),
        ("synops", "SynOps", count("synops")),
        ("input_event_rate", "In events", rate("input_event_rate")),
        ("neurons", "Neurons", count("neurons")),
        ("output_spike_rate", "Spike rate", rate("output_spike_rate")),
    ]
    if memory_model(report) is not None:
        columns += [
            ("compute_energy_mj", "Compute energy", lambda x, i: _energy_cell(compute_energy_mj(x, report))),
            ("memory_energy_mj", "Memory energy", lambda x, i: _energy_cell(memory_energy_mj(x, report))),
        ]
    columns.append(("energy_mj", "Energy", lambda layer, i: _energy_cell(layer.energy_mj)))
    return columns


def _energy_cell(mj: float) -> tuple[float, str]:
    return mj, energy_text(mj)


def _table(report: Report) -> str:
    columns = _columns(report)
    text_keys = {"name", "type"}
    head = "".join(
        f'<th data-key="{key}"{" class=t" if key in text_keys else ""}>{escape(header)}</th>'
        for key, header, _ in columns
    )
    body = []
    for index, layer in enumerate(report.layers):
        cells = []
        for key, _, cell in columns:
            value, text = cell(layer, index)
            sort_value = "" if value is None else (repr(value) if isinstance(value, float) else str(value))
            cls = " class=t" if key in text_keys else ""
            cells.append(f'<td{cls} data-v="{escape(sort_value)}">{escape(text)}</td>')
        body.append(f'<tr data-layer="{escape(layer.name)}" data-type="{escape(layer.type)}">{"".join(cells)}</tr>')
    totals = report.totals
    cell_of = {key: cell for key, _, cell in columns}
    foot = []
    for key, _, _ in columns:
        if key == "name":
            foot.append("<td class=t>Total</td>")
        elif key in ("params", "dense_macs", "acs", "macs", "synops"):
            foot.append(f"<td>{human(totals[key])}</td>")
        elif key == "output_spike_rate":
            foot.append(f"<td>{percent(report.mean_spike_rate)}</td>")
        elif key.endswith("energy_mj"):
            foot.append(f"<td>{energy_text(sum(cell_of[key](x, 0)[0] for x in report.layers))}</td>")
        else:
            foot.append("<td></td>")
    return (
        f'<table class="layers" id="layers"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + f"\n</tbody><tfoot><tr>{''.join(foot)}</tr></tfoot></table>"
    )
