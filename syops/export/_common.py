"""What the exports share: a report's memory model and energy split (read defensively, so a report from
before the memory model, or built by hand, still renders), and number formatting."""

from __future__ import annotations

import math
from typing import Any

from ..report import LayerStats, Report


def memory_model(report: Report) -> dict[str, Any] | None:
    """The report's memory model (as a dict), or None when memory was not priced."""
    model = getattr(report, "memory_model", None)
    if model is None or isinstance(model, dict):
        return model
    return model.to_dict()


def compute_energy_mj(layer: LayerStats, report: Report) -> float:
    """A layer's compute energy: all of its energy when no memory model priced the profile."""
    if memory_model(report) is None:
        return layer.energy_mj
    return float(getattr(layer, "compute_energy_mj", layer.energy_mj))


def memory_energy_mj(layer: LayerStats, report: Report) -> float:
    if memory_model(report) is None:
        return 0.0
    return float(getattr(layer, "memory_energy_mj", 0.0))


def energy_totals(report: Report) -> dict[str, float]:
    """Total energy and its compute / memory parts (mJ), summed over the layers."""
    return {
        "energy_mj": math.fsum(layer.energy_mj for layer in report.layers),
        "compute_energy_mj": math.fsum(compute_energy_mj(layer, report) for layer in report.layers),
        "memory_energy_mj": math.fsum(memory_energy_mj(layer, report) for layer in report.layers),
    }


def ann_energy_mj(report: Report) -> float:
    """The report's ANN baseline (its totals' figure once the memory model provides one)."""
    value = report.totals.get("ann_energy_mj")
    return float(value) if value is not None else float(report.ann_energy_mj)


def energy_text(mj: float) -> str:
    """0.00123 -> '1.23 µJ' (energies are kept in mJ)."""
    for factor, unit in ((1.0, "mJ"), (1e-3, "µJ"), (1e-6, "nJ")):
        if abs(mj) >= factor:
            return f"{mj / factor:.3g} {unit}"
    return f"{mj / 1e-9:.3g} pJ" if mj else "0"


def pj(value: float) -> str:
    """An energy constant as stated: 0.9 -> '0.9', 81.0 -> '81'."""
    return f"{value:g}"


def shape_text(shape: list[int], times: str = "×") -> str:
    return times.join(str(s) for s in shape) if shape else "(none)"


def per_what(report: Report) -> str:
    return "per sample and time step" if report.per_timestep_view else "per sample"


def energy_costs(report: Report, space: str = " ") -> list[str]:
    """['AC 0.9 pJ', 'MAC 4.6 pJ'], with a device preset's synaptic-event and neuron-update costs;
    ``space`` between a number and its unit (LaTeX: '~')."""
    model = report.energy_model
    parts = [f"AC {pj(model.e_ac_pj)}{space}pJ", f"MAC {pj(model.e_mac_pj)}{space}pJ"]
    if model.e_synop_pj is not None:
        parts.append(f"synaptic event {pj(model.e_synop_pj)}{space}pJ")
    if model.e_neuron_update_pj is not None:
        parts.append(f"neuron update {pj(model.e_neuron_update_pj)}{space}pJ")
    return parts


def energy_model_text(report: Report) -> str:
    """'45nm-fp32 (AC 0.9 pJ, MAC 4.6 pJ)', with a device preset's synaptic-event and neuron-update costs."""
    return f"{report.energy_model.name} ({', '.join(energy_costs(report))})"


def memory_model_text(report: Report) -> str:
    memory = memory_model(report)
    if memory is None:
        return "none (compute energy only)"
    details = [f"{memory.get('bits', '?')}-bit words"]
    if memory.get("dense_reuse") is not None:
        details.append(f"dense reuse {memory['dense_reuse']}")
    return f"{memory.get('name', 'custom')} ({', '.join(details)})"


def word_width_text(report: Report) -> str | None:
    """How wide a memory word is and why: 'memory words of 8 bits, as wide as the 45nm-int8 operands', or
    the width the memory model states; None when memory was not priced."""
    memory = memory_model(report)
    if memory is None:
        return None
    bits = memory.get("bits") or 32
    model = report.energy_model
    operand_bits = getattr(model, "operand_bits", 32)
    if bits == operand_bits:
        return f"memory words of {bits} bits, as wide as the {model.name} operands"
    return f"memory words of {bits} bits, as the memory model states (the {model.name} operands are {operand_bits}-bit)"
