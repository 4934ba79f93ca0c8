"""Per-layer energy as a stacked bar chart (AC energy and MAC energy), with matplotlib.

matplotlib is imported only here, and drawn through its Agg canvas, so neither importing syops nor
plotting changes the user's pyplot backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import SyopsError
from .report import LayerStats, Report


@dataclass(frozen=True)
class EnergySplit:
    """A layer's energy (mJ per sample), split into what its accumulates and its multiply-accumulates cost."""

    name: str
    type: str
    ac_mj: float
    mac_mj: float


def energy_split(report: Report) -> list[EnergySplit]:
    """Every layer's energy as AC and MAC parts; the parts add up to the layer's ``energy_mj``."""
    return [_split(layer, report) for layer in report.layers]


def _split(layer: LayerStats, report: Report) -> EnergySplit:
    model = report.energy_model
    counted = report.count_neuron_updates
    nu_macs = layer.neuron_update_macs if counted else 0.0
    nu_acs = (layer.neuron_updates - layer.neuron_update_macs) if counted else 0.0
    # layer_energy_mj is linear in its counts, so the two calls below sum to the layer's energy.
    ac = model.layer_energy_mj(layer.acs, 0.0, layer.synops, nu_acs, 0.0)
    mac = model.layer_energy_mj(0.0, layer.macs, 0.0, 0.0, nu_macs)
    return EnergySplit(layer.name or "(model)", layer.type, ac, mac)


def plot_energy(report: Report, path: str | Path, *, max_layers: int = 80) -> Path:
    """Write a horizontal stacked bar chart of per-layer energy (AC and MAC parts) to ``path`` (any
    format matplotlib writes: .png, .svg, .pdf). Layers without energy are left out; beyond
    ``max_layers`` only the most costly are drawn."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SyopsError("plotting needs matplotlib: pip install 'syops[plot]'") from None
    path = Path(path)
    rows = [s for s in energy_split(report) if s.ac_mj + s.mac_mj > 0]
    if len(rows) > max_layers:
        keep = set(sorted(range(len(rows)), key=lambda i: -(rows[i].ac_mj + rows[i].mac_mj))[:max_layers])
        rows = [row for i, row in enumerate(rows) if i in keep]
    labels = [f"{row.name} ({row.type})" for row in rows]
    height = max(2.5, 0.25 * len(rows) + 1.5)
    figure = Figure(figsize=(9, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(rows))
    ac = [row.ac_mj * 1e3 for row in rows]  # µJ reads better than mJ per layer
    mac = [row.mac_mj * 1e3 for row in rows]
    axes.barh(positions, ac, label="AC energy", color="#4C72B0")
    axes.barh(positions, mac, left=ac, label="MAC energy", color="#DD8452")
    axes.set_yticks(list(positions), labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel(f"energy per sample (µJ, {report.energy_model.name})")
    axes.set_title(f"{report.model}: per-layer energy (T={report.timesteps})")
    axes.legend(loc="lower right")
    try:
        figure.savefig(path)
    except (OSError, ValueError) as exc:
        raise SyopsError(f"cannot write the plot to {path}: {exc}") from None
    return path
