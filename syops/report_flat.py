"""A report flattened for CSV and Markdown: ``memory`` as ``memory.*`` columns, the per-step spike
rates as one cell, a training step's phases as ``backward.*`` / ``update.*`` columns, a side-by-side
report's energies as ``energy_mj[TARGET]`` columns."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from .safe_text import markdown_text, spreadsheet_text
from .traffic import ACCESS_KINDS

if TYPE_CHECKING:
    from .report import Report


def flat_fields(fields: tuple[str, ...]) -> list[str]:
    """CSV / Markdown columns: ``memory`` flattened into ``memory.weight_reads``, ... columns."""
    out: list[str] = []
    for name in fields:
        out += [f"memory.{kind}" for kind in ACCESS_KINDS] if name == "memory" else [name]
    return out


def flatten(values: dict[str, Any]) -> dict[str, Any]:
    """A row for CSV / Markdown: ``memory`` as ``memory.*`` columns, ``spike_rate_per_step`` as one cell of
    the T rates joined by ``;`` (each written as Python's ``repr`` of the float, so it reads back exactly)."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if name == "memory":
            for kind in ACCESS_KINDS:
                flat[f"memory.{kind}"] = None if value is None else value[kind]
        elif name == "spike_rate_per_step":
            flat[name] = None if value is None else ";".join(repr(float(rate)) for rate in value)
        else:
            flat[name] = value
    return flat


_PHASE_KEYS = ("acs", "macs", "energy_mj", "compute_energy_mj", "memory_energy_mj")


def phase_columns() -> list[str]:
    """CSV columns of a training step's layer: ``backward.acs``, ..., ``update.memory_energy_mj``."""
    return [f"{phase}.{key}" for phase in ("backward", "update") for key in _PHASE_KEYS]


def flatten_phases(phases: dict[str, Any] | None) -> dict[str, Any]:
    return {
        f"{phase}.{key}": None if phases is None else phases[phase][key]
        for phase in ("backward", "update")
        for key in _PHASE_KEYS
    }


def report_csv(report: Report) -> str:
    """``Report.to_csv()``."""
    from .export.targets import targets_csv_columns
    from .report import LAYER_FIELDS

    buffer = io.StringIO()
    training = report.phases is not None  # a training step: each layer's backward.* and update.* columns
    extra = targets_csv_columns(report)  # a side-by-side report: each target's energy per layer
    fields = flat_fields(LAYER_FIELDS) + (phase_columns() if training else []) + extra
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for index, layer in enumerate(report.layers):
        # name and type are text: one a spreadsheet would run as a formula is quoted (numbers stay numbers)
        values = {name: getattr(layer, name) for name in LAYER_FIELDS}
        row = flatten(values) | (flatten_phases(layer.phases) if training else {})
        row.update({name: t.layers[index].energy_mj for name, t in zip(extra, report.targets, strict=True)})
        writer.writerow({k: ("" if v is None else spreadsheet_text(v)) for k, v in row.items()})
    return buffer.getvalue()


def report_markdown(report: Report) -> str:
    """``Report.to_markdown()``."""
    from .report import LAYER_FIELDS, TOTAL_FIELDS

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.6g}"
        return markdown_text(value)

    layer_fields, total_fields = flat_fields(LAYER_FIELDS), flat_fields(TOTAL_FIELDS)
    lines = [
        f"**{markdown_text(report.model)}**: input {list(report.input_shape)}, timesteps {report.timesteps}, "
        f"samples {report.samples}, energy model {markdown_text(report.energy_model.name)} "
        f"(AC {report.energy_model.e_ac_pj} pJ, MAC {report.energy_model.e_mac_pj} pJ), "
        f"memory model {markdown_text(report._memory_text())}, syops {report.syops_version}",
        "",
        "| " + " | ".join(layer_fields) + " |",
        "|" + "|".join("---" for _ in layer_fields) + "|",
    ]
    for layer in report.layers:
        lines.append("| " + " | ".join(cell(v) for v in flatten(layer.to_dict()).values()) + " |")
    totals = flatten(report.totals)
    lines += [
        "",
        "| " + " | ".join(total_fields) + " |",
        "|" + "|".join("---" for _ in total_fields) + "|",
        "| " + " | ".join(cell(totals[k]) for k in total_fields) + " |",
    ]
    from .export.phase_tables import phases_markdown
    from .export.targets import targets_markdown

    return "\n".join(lines + phases_markdown(report)) + "\n" + targets_markdown(report)
