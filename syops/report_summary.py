"""The lines under a report's table: its energy per sample against the ANN baseline, the spike rate and
parameters, each energy target on its own line, and the notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from .safe_text import visible
from .units import human, percent

if TYPE_CHECKING:
    from .report import Report


def energy_line(report: Report) -> str:
    """The energy per sample, compute and memory apart, against the ANN baseline (docs/contract.md §5)."""
    from .report import _energy_text

    totals = report.totals
    energy, compute, memory = totals["energy_mj"], totals["compute_energy_mj"], totals["memory_energy_mj"]
    ann, ann_compute = totals["ann_energy_mj"], totals["ann_compute_energy_mj"]
    models = f"{report.energy_model.name}, {report._memory_text() if report.memory_model else 'no memory model'}"
    if report.energy_model.one_pass_ann:  # a conventional device: it runs the ANN; no ratio to itself
        return (
            f"Energy {_energy_text(energy)} per sample on {report.energy_model.name}, the architecture run as an "
            f"ANN once per sample (each MAC and activation at {report.energy_model.e_mac_pj:g} pJ)"
        )
    if report.memory_model is None:
        line = f"Energy {_energy_text(energy)} per sample, compute only ({models})"
        if ann_compute:
            line += (
                f"; the same architecture as an ANN, once per sample: {_energy_text(ann_compute)} compute "
                f"({energy / ann_compute:.3g}×)"
            )
        return line
    line = (
        f"Energy {_energy_text(energy)} per sample = {_energy_text(compute)} compute + "
        f"{_energy_text(memory)} memory ({models})"
    )
    if ann_compute and ann:
        line += (
            f"; the same architecture as an ANN, once per sample: {_energy_text(ann_compute)} compute, "
            f"{_energy_text(ann)} with memory ({compute / ann_compute:.3g}×, {energy / ann:.3g}×)"
        )
    return line


def summary_text(report: Report) -> Text:
    """``Report.summary_text()``."""
    totals = report.totals
    rate = report.mean_spike_rate
    parts = [
        report.energy_line(),
        f"mean spike rate {percent(rate)}" if rate is not None else "no spiking layers",
        f"{human(totals['params'])} parameters",
    ]
    if report.targets:  # each target on its line, against one baseline
        parts[0] = f"Energy per sample on {len(report.targets)} targets"
    text = Text(visible("; ".join(parts) + "."))  # Text, not markup: names are shown as written
    if report.targets:
        from .export.targets import target_lines

        for line in target_lines(report):
            text.append(f"\n{visible(line)}")
    for note in report.notes:
        text.append(f"\nNote: {visible(note)}", style="yellow")
    return text
