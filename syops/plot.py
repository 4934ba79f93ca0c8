"""Per-layer energy as a stacked bar chart (AC, MAC and memory energy), with matplotlib.

matplotlib is imported only here, and drawn through its Agg canvas, so neither importing syops nor
plotting changes the user's pyplot backend.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from ._version import __version__
from .atomic import write_atomic
from .errors import SyopsError
from .report import LayerStats, Report
from .safe_text import visible


@dataclass(frozen=True)
class EnergySplit:
    """A layer's energy (mJ per sample), split into what its accumulates, its multiply-accumulates and its
    memory accesses cost."""

    name: str
    type: str
    ac_mj: float
    mac_mj: float
    memory_mj: float = 0.0

    @property
    def total_mj(self) -> float:
        return self.ac_mj + self.mac_mj + self.memory_mj


def energy_split(report: Report) -> list[EnergySplit]:
    """Every layer's energy as AC, MAC and memory parts; they add up to the layer's ``energy_mj`` (AC and
    MAC to its ``compute_energy_mj``)."""
    return [_split(layer, report) for layer in report.layers]


def _split(layer: LayerStats, report: Report) -> EnergySplit:
    model = report.energy_model
    if model.one_pass_ann:  # a conventional device prices the one-pass ANN: all MACs (and activations)
        return EnergySplit(layer.name or "(model)", layer.type, 0.0, layer.compute_energy_mj, layer.memory_energy_mj)
    counted = report.count_neuron_updates
    nu_macs = layer.neuron_update_macs if counted else 0.0
    nu_acs = (layer.neuron_updates - layer.neuron_update_macs) if counted else 0.0
    # layer_energy_mj is linear in its counts, so the two calls below sum to the layer's energy.
    ac = model.layer_energy_mj(layer.acs, 0.0, layer.synops, nu_acs, 0.0)
    mac = model.layer_energy_mj(0.0, layer.macs, 0.0, 0.0, nu_macs)
    return EnergySplit(layer.name or "(model)", layer.type, ac, mac, layer.memory_energy_mj)


def plot_energy(report: Report, path: str | Path, *, max_layers: int = 80) -> Path:
    """Write a horizontal stacked bar chart of per-layer energy (AC, MAC and memory parts) to ``path`` (any
    format matplotlib writes: .png, .svg, .pdf); a report with several targets gets a chart of their
    energy per sample above it (one bar each, the 45 nm ANN baseline beside them). Layers without energy
    are left out; beyond ``max_layers`` only the most costly are drawn."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SyopsError("plotting needs matplotlib: pip install 'syops[plot]'") from None
    path = Path(path)
    rows = [s for s in energy_split(report) if s.total_mj > 0]
    if len(rows) > max_layers:
        keep = set(sorted(range(len(rows)), key=lambda i: -rows[i].total_mj)[:max_layers])
        rows = [row for i, row in enumerate(rows) if i in keep]
    labels = [_plain(f"{row.name} ({row.type})") for row in rows]
    height = max(2.5, 0.25 * len(rows) + 1.5)
    bars_height = 0.35 * (len(report.targets) + 1) + 1.5 if report.targets else 0.0
    figure = Figure(figsize=(9, height + bars_height), layout="constrained")
    FigureCanvasAgg(figure)
    if report.targets:  # several targets: their energy per sample above the first target's layers
        from .export.targets import plot_targets

        top, axes = figure.subplots(2, 1, height_ratios=[bars_height, height])
        plot_targets(report, top)
    else:
        axes = figure.add_subplot()
    positions = range(len(rows))
    ac = [row.ac_mj * 1e3 for row in rows]  # µJ reads better than mJ per layer
    mac = [row.mac_mj * 1e3 for row in rows]
    axes.barh(positions, ac, label="AC energy", color="#4C72B0")
    axes.barh(positions, mac, left=ac, label="MAC energy", color="#DD8452")
    if report.memory_model is not None:
        memory = [row.memory_mj * 1e3 for row in rows]
        compute = [a + m for a, m in zip(ac, mac, strict=True)]
        label = _plain(f"memory ({report.memory_model.name})")
        axes.barh(positions, memory, left=compute, label=label, color="#55A868")
    axes.set_yticks(list(positions), labels, fontsize=7)
    axes.invert_yaxis()
    memory_name = report.memory_model.name if report.memory_model is not None else "no memory model"
    axes.set_xlabel(_plain(f"energy per sample (µJ, {report.energy_model.name}, {memory_name})"))
    axes.set_title(_plain(f"{report.model}: per-layer energy (T={report.timesteps})"))
    axes.legend(loc="lower right")
    image = path.suffix[1:].lower() or None  # None: matplotlib's default format
    # "Creator" marks the file as syops' (the command line replaces its own chart without --overwrite).
    metadata = {"Creator": f"syops {__version__}"} if image in (None, "png", "svg", "pdf", "ps", "eps") else None
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format=image, metadata=metadata)
    except (OSError, ValueError) as exc:
        raise SyopsError(f"cannot write the plot to {path}: {exc}") from None
    write_atomic(path, buffer.getvalue())  # a reader never sees half a chart
    return path


def _plain(text: str) -> str:
    """``text`` for a matplotlib label: shown as written (a ``$`` would start mathtext, and a name such
    as ``$\\x$`` would fail the drawing), control characters escaped."""
    return visible(text).replace("$", r"\$")
