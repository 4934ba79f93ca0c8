"""Reports in notebooks and data analysis: ``_repr_html_`` (what Jupyter shows for a bare ``report``) and
``to_pandas`` (one row per layer), for ``Report`` and ``DynapcnnReport``.

The HTML is a fragment inside a notebook's page: no script, and no colour of its own for text or
background (everything inherits the notebook theme's colours, rules are ``currentColor`` at low
opacity), so it reads in light and dark themes alike. pandas is optional: imported when a DataFrame is
asked for.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from .errors import SyopsError
from .report import LAYER_FIELDS, Report, flat_fields
from .report_table import count_cells
from .traffic import ACCESS_KINDS
from .units import human, percent

if TYPE_CHECKING:
    from .dynapcnn import DynapcnnReport

# Scoped to the fragment's class; colours inherited (the rules' opacity works on any theme).
_STYLE = (
    ".syops-report{font-size:12px;color:inherit;background:transparent}"
    ".syops-report table{border-collapse:collapse;color:inherit;background:transparent}"
    ".syops-report th,.syops-report td{padding:1px 8px;text-align:right;white-space:nowrap;"
    "color:inherit;background:transparent;border:none;border-bottom:1px solid "
    "color-mix(in srgb,currentColor 20%,transparent)}"
    ".syops-report th.t,.syops-report td.t{text-align:left}"
    ".syops-report thead th{font-weight:600;border-bottom:1px solid currentColor}"
    ".syops-report tfoot td{font-weight:600;border-top:1px solid currentColor;border-bottom:none}"
    ".syops-report caption{text-align:left;font-weight:600;padding-bottom:4px;color:inherit}"
    ".syops-report p{margin:4px 0;max-width:60em}.syops-report .note{font-style:italic}"
)


def require_pandas() -> Any:
    """The pandas module, or one clear error naming how to install it."""
    try:
        import pandas
    except ImportError:
        raise SyopsError(
            "to_pandas() needs pandas, which is not installed: pip install 'syops[pandas]' (or pip install pandas)"
        ) from None
    return pandas


def energy_text(mj: float) -> str:
    for factor, unit in ((1.0, "mJ"), (1e-3, "µJ"), (1e-6, "nJ")):
        if abs(mj) >= factor:
            return f"{mj / factor:.3g} {unit}"
    return f"{mj / 1e-9:.3g} pJ" if mj else "0"


def _cells(values: list[str], text_columns: int, tag: str = "td") -> str:
    return "".join(f"<{tag}{' class=t' if i < text_columns else ''}>{escape(v)}</{tag}>" for i, v in enumerate(values))


def _html_table(caption: str, head: list[str], rows: list[list[str]], foot: list[str] | None, text_columns: int) -> str:
    body = "".join(f"<tr>{_cells(row, text_columns)}</tr>" for row in rows)
    tfoot = f"<tfoot><tr>{_cells(foot, text_columns)}</tr></tfoot>" if foot else ""
    return (
        f"<table><caption>{escape(caption)}</caption><thead><tr>{_cells(head, text_columns, 'th')}</tr></thead>"
        f"<tbody>{body}</tbody>{tfoot}</table>"
    )


def _fragment(inner: str) -> str:
    return f'<div class="syops-report"><style>{_STYLE}</style>{inner}</div>'


# -- Report ---------------------------------------------------------------------------------------------------
def report_html(report: Report) -> str:
    """A compact table of the layers with a totals row, and the summary line under it."""
    priced = report.memory_model is not None
    totals = report.totals
    head = ["Layer", "Type", "Params", "Dense MACs", "ACs", "MACs", "SynOps", "In events", "Spike rate"]
    head += ["Compute", "Memory", "Energy"] if priced else ["Energy"]
    rows = []
    for layer in report.layers:
        row = count_cells(layer)
        if priced:
            row += [energy_text(layer.compute_energy_mj), energy_text(layer.memory_energy_mj)]
        rows.append([*row, energy_text(layer.energy_mj)])
    foot = ["Total", ""] + [human(totals[k]) for k in ("params", "dense_macs", "acs", "macs", "synops")]
    foot += ["", percent(report.mean_spike_rate)]
    if priced:
        foot += [energy_text(totals["compute_energy_mj"]), energy_text(totals["memory_energy_mj"])]
    foot.append(energy_text(totals["energy_mj"]))
    view = " per time step" if report.per_timestep_view else ""
    caption = (
        f"{report.model}: per-sample costs{view} (T={report.timesteps}, {report.samples} sample(s), "
        f"{report.energy_model.name}, memory {report.memory_model.name if priced else 'none'})"
    )
    summary = summary_line(report)
    notes = "".join(f'<p class="note">Note: {escape(note)}</p>' for note in report.notes)
    return _fragment(_html_table(caption, head, rows, foot, 2) + f'<p class="summary">{escape(summary)}</p>{notes}')


def summary_line(report: Report) -> str:
    """Energy per sample (compute and memory apart), each ratio to the ANN baseline worded with its
    direction, the mean spike rate and the parameters."""
    from .export.html_sections import ratio_sentence, subject

    totals = report.totals
    who = subject(report)
    energy, compute = totals["energy_mj"], totals["compute_energy_mj"]
    ann, ann_compute = totals["ann_energy_mj"], totals["ann_compute_energy_mj"]
    models = report.energy_model.name + (f", {report.memory_model.name}" if report.memory_model else "")
    if report.memory_model is None:
        parts = [f"Energy {energy_text(energy)} per sample, compute only ({models})"]
        if ann_compute:
            parts.append(f"{ratio_sentence(who, energy, 'the ANN run once', ann_compute)} ({energy_text(ann_compute)})")
    else:
        parts = [
            f"Energy {energy_text(energy)} per sample = {energy_text(compute)} compute + "
            f"{energy_text(totals['memory_energy_mj'])} memory ({models})"
        ]
        if ann:
            parts.append(f"{ratio_sentence(who, energy, 'the ANN run once', ann)} ({energy_text(ann)} with memory)")
        if ann_compute:
            worded = ratio_sentence(f"{who}'s compute", compute, "the ANN's compute", ann_compute)
            parts.append(f"{worded} ({energy_text(ann_compute)})")
    rate = report.mean_spike_rate
    parts.append(f"mean spike rate {percent(rate)}" if rate is not None else "no spiking layers")
    parts.append(f"{human(totals['params'])} parameters")
    return "; ".join(p[0].upper() + p[1:] if i == 0 else p for i, p in enumerate(parts)) + "."


def layer_records(report: Report) -> list[dict[str, Any]]:
    """One flat dict per layer: every field of the JSON schema, ``memory`` as ``memory.*`` keys (None
    without a memory model), ``spike_rate_per_step`` kept as its list."""
    records = []
    for layer in report.layers:
        record: dict[str, Any] = {}
        for name, value in layer.to_dict().items():
            if name == "memory":
                for kind in ACCESS_KINDS:
                    record[f"memory.{kind}"] = None if value is None else value[kind]
            else:
                record[name] = list(value) if name == "spike_rate_per_step" and value is not None else value
        records.append(record)
    return records


def report_dataframe(report: Report) -> Any:
    """A pandas DataFrame: one row per layer, the columns of the CSV export (``flat_fields``), a value that
    ``to_dict()`` gives as None is NaN in a numeric column (pandas' missing value); the report's context
    (model, input shape, T, samples, energy and memory models, totals) in ``DataFrame.attrs``."""
    pandas = require_pandas()
    columns = flat_fields(LAYER_FIELDS)
    frame = pandas.DataFrame.from_records(layer_records(report), columns=columns)
    context = report.to_dict()
    context.pop("layers")
    frame.attrs.update(context)
    return frame


# -- DynapcnnReport -------------------------------------------------------------------------------------------
def dynapcnn_html(report: DynapcnnReport) -> str:
    from .dynapcnn import layer_cells

    totals = report.totals
    head = ["Layer", "Type", "Kernel mem (chip / theory)", "Neuron mem (chip / theory)", "Bias"]
    head += ["Input", "Output", "Fits cores", "Core", "Violations"]
    rows = [layer_cells(layer) for layer in report.layers]
    foot = [
        "Total",
        "",
        f"{totals['kernel_memory']} / {totals['kernel_memory_theoretical']}",
        f"{totals['neuron_memory']} / {totals['neuron_memory_theoretical']}",
        str(totals["bias_memory"]),
        "",
        "",
        "",
        f"{totals['cores_used']}/{totals['cores']}",
        "",
    ]
    verdict = "fits on DYNAP-CNN" if report.fits else "does not fit on DYNAP-CNN"
    lines = [f"{report.model or 'model'} {verdict}."] + [f"Violation: {v}" for v in report.violations]
    text = "".join(f'<p class="summary">{escape(line)}</p>' for line in lines)
    text += "".join(f'<p class="note">Note: {escape(note)}</p>' for note in report.notes)
    return _fragment(_html_table(f"{report.model or 'model'} on DYNAP-CNN", head, rows, foot, 2) + text)


def dynapcnn_dataframe(report: DynapcnnReport) -> Any:
    """One row per layer with every field of the JSON's layers (lists stay lists); ``model``, ``fits``,
    ``totals`` and ``violations`` in ``DataFrame.attrs``."""
    pandas = require_pandas()
    data = report.to_dict()
    layers = data.pop("layers")
    columns = list(layers[0]) if layers else _dynapcnn_columns()
    frame = pandas.DataFrame.from_records(layers, columns=columns)
    frame.attrs.update(data)
    return frame


def _dynapcnn_columns() -> list[str]:
    from dataclasses import fields

    from .dynapcnn import DynapcnnLayerReport

    return [f.name for f in fields(DynapcnnLayerReport)]
