"""Profiling results: per-layer statistics, totals and their exports. This module only reads results;
it never touches a model.

Every count is per sample (one inference over all time steps), as in design §2.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ._version import __version__
from .energy import EnergyModel
from .events import accumulator_dtype
from .units import human, percent

LAYER_FIELDS: tuple[str, ...] = (
    "name",
    "type",
    "params",
    "calls",
    "dense_macs",
    "acs",
    "macs",
    "synops",
    "input_event_rate",
    "neurons",
    "output_spike_rate",
    "energy_mj",
)
TOTAL_FIELDS: tuple[str, ...] = ("params", "dense_macs", "acs", "macs", "synops", "neuron_updates", "energy_mj")
_COUNT_FIELDS = ("dense_macs", "acs", "macs", "synops", "energy_mj", "neuron_updates", "neuron_update_macs")


@dataclass
class LayerStats:
    """One row: a module, or an op (``type`` = 'add', 'matmul'...) attributed to its innermost module."""

    name: str
    type: str
    params: int
    calls: int
    dense_macs: float
    acs: float
    macs: float
    synops: float
    input_event_rate: float | None
    neurons: int | None
    output_spike_rate: float | None
    energy_mj: float
    # energy_mj = compute_energy_mj + memory_energy_mj; memory: the six access counts of design §2
    # (weight_reads, bias_reads, input_reads, state_reads, state_writes, output_writes), per sample, or
    # None when no memory model priced the profile.
    compute_energy_mj: float = 0.0
    memory_energy_mj: float = 0.0
    memory: dict[str, float] | None = None
    # Not in the JSON schema (the totals carry the sum): per-sample neuron updates of this layer, and
    # the part of them that are MACs (leaky neurons). Included in acs / macs when they are counted.
    neuron_updates: float = 0.0
    neuron_update_macs: float = 0.0
    # A neuron layer's spikes per neuron over the whole profile (a device tensor shaped like one sample's
    # neurons at one step; None for other layers) and the updates each neuron made (samples × T).
    spike_map: Any = field(default=None, repr=False, compare=False)
    updates_per_neuron: float = field(default=0.0, repr=False, compare=False)

    @property
    def firing_rate_map(self) -> Any:
        """Per-neuron firing rate: spikes per neuron per time step, averaged over the samples (worked out
        when read, so a profile whose maps nobody reads pays nothing for them)."""
        if self.spike_map is None:
            return None
        return self.spike_map.to(accumulator_dtype(self.spike_map.device)) / self.updates_per_neuron

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LAYER_FIELDS}


def _energy_text(mj: float) -> str:
    for factor, unit in ((1.0, "mJ"), (1e-3, "µJ"), (1e-6, "nJ")):
        if abs(mj) >= factor:
            return f"{mj / factor:.3g} {unit}"
    return f"{mj / 1e-9:.3g} pJ" if mj else "0"


@dataclass
class Report:
    model: str
    input_shape: list[int]
    timesteps: int
    samples: int
    energy_model: EnergyModel
    layers: list[LayerStats]
    count_neuron_updates: bool = True
    notes: list[str] = field(default_factory=list)
    # Module types without a counting rule that called a torch function with no op rule (and not a known
    # reshape / view / metadata call): syops may have missed arithmetic there.
    unsupported: list[str] = field(default_factory=list)
    syops_version: str = __version__
    per_timestep_view: bool = False

    # -- reading ----------------------------------------------------------------------------------
    @property
    def totals(self) -> dict[str, float | int]:
        totals: dict[str, float | int] = {"params": sum(layer.params for layer in self.layers)}
        for name in TOTAL_FIELDS[1:]:
            totals[name] = math.fsum(getattr(layer, name) for layer in self.layers)
        return totals

    def layer(self, name: str, type: str | None = None) -> LayerStats:
        """The row of module ``name`` (and op ``type``, where a module has several rows)."""
        for row in self.layers:
            if row.name == name and (type is None or row.type == type):
                return row
        raise KeyError(f"no layer named {name!r}" + (f" of type {type!r}" if type else ""))

    @property
    def mean_spike_rate(self) -> float | None:
        """Spikes per neuron per time step over all neuron layers, or None without neuron layers."""
        updates = sum(layer.neuron_updates for layer in self.layers if layer.output_spike_rate is not None)
        if not updates:
            return None
        spikes = sum(
            layer.output_spike_rate * layer.neuron_updates
            for layer in self.layers
            if layer.output_spike_rate is not None
        )
        return spikes / updates

    @property
    def ann_energy_mj(self) -> float:
        """Energy of the same network run densely: every dense MAC at the MAC cost."""
        return self.totals["dense_macs"] * self.energy_model.e_mac_pj * 1e-9

    def per_timestep(self) -> Report:
        """The same report with every count divided by the number of time steps."""
        t = max(self.timesteps, 1)
        layers = [replace(layer, **{k: getattr(layer, k) / t for k in _COUNT_FIELDS}) for layer in self.layers]
        return replace(self, layers=layers, per_timestep_view=True)

    # -- exports ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "syops_version": self.syops_version,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "timesteps": self.timesteps,
            "samples": self.samples,
            "energy_model": self.energy_model.to_dict(),
            "totals": self.totals,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON: a non-finite number (NaN, ±inf) is written as null, and a note names its fields."""
        data, non_finite = _finite(self.to_dict(), "")
        if non_finite:
            shown = ", ".join(non_finite[:5]) + (f" and {len(non_finite) - 5} more" if len(non_finite) > 5 else "")
            message = f"non-finite values written as null in the JSON report: {shown}"
            if message not in self.notes:
                self.notes.append(message)
        return json.dumps(data, indent=indent, allow_nan=False)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=LAYER_FIELDS, lineterminator="\n")
        writer.writeheader()
        for layer in self.layers:
            writer.writerow({k: ("" if v is None else v) for k, v in layer.to_dict().items()})
        return buffer.getvalue()

    def to_markdown(self) -> str:
        def cell(value: Any) -> str:
            if value is None:
                return ""
            if isinstance(value, float):
                return f"{value:.6g}"
            return str(value).replace("|", "\\|")

        lines = [
            f"**{self.model}**: input {list(self.input_shape)}, timesteps {self.timesteps}, samples {self.samples}, "
            f"energy model {self.energy_model.name} (AC {self.energy_model.e_ac_pj} pJ, MAC "
            f"{self.energy_model.e_mac_pj} pJ), syops {self.syops_version}",
            "",
            "| " + " | ".join(LAYER_FIELDS) + " |",
            "|" + "|".join("---" for _ in LAYER_FIELDS) + "|",
        ]
        for layer in self.layers:
            lines.append("| " + " | ".join(cell(v) for v in layer.to_dict().values()) + " |")
        totals = self.totals
        lines += [
            "",
            "| " + " | ".join(TOTAL_FIELDS) + " |",
            "|" + "|".join("---" for _ in TOTAL_FIELDS) + "|",
            "| " + " | ".join(cell(totals[k]) for k in TOTAL_FIELDS) + " |",
        ]
        return "\n".join(lines) + "\n"

    # -- rendering --------------------------------------------------------------------------------
    def table(self) -> Table:
        view = " per time step" if self.per_timestep_view else ""
        table = Table(
            title=f"{self.model}: per-sample costs{view} (T={self.timesteps}, {self.samples} sample(s), "
            f"{self.energy_model.name})",
            show_footer=True,
            header_style="bold",
            footer_style="bold",
        )
        totals = self.totals
        columns = [
            ("Layer", "Total", "left"),
            ("Type", "", "left"),
            ("Params", human(totals["params"]), "right"),
            ("Dense MACs", human(totals["dense_macs"]), "right"),
            ("ACs", human(totals["acs"]), "right"),
            ("MACs", human(totals["macs"]), "right"),
            ("SynOps", human(totals["synops"]), "right"),
            ("In events", "", "right"),
            ("Spike rate", percent(self.mean_spike_rate), "right"),
            ("Energy", _energy_text(totals["energy_mj"]), "right"),
        ]
        for header, footer, justify in columns:
            table.add_column(header, footer=footer, justify=justify)  # type: ignore[arg-type]
        for layer in self.layers:
            table.add_row(
                layer.name or "(model)",
                layer.type,
                human(layer.params),
                human(layer.dense_macs),
                human(layer.acs),
                human(layer.macs),
                human(layer.synops),
                percent(layer.input_event_rate),
                percent(layer.output_spike_rate),
                _energy_text(layer.energy_mj),
            )
        return table

    def summary_text(self) -> Text:
        totals = self.totals
        ann = self.ann_energy_mj
        ratio = f" ({totals['energy_mj'] / ann:.3f}× the ANN-equivalent {_energy_text(ann)})" if ann else ""
        rate = self.mean_spike_rate
        parts = [
            f"Energy {_energy_text(totals['energy_mj'])} per sample{ratio}",
            f"mean spike rate {percent(rate)}" if rate is not None else "no spiking layers",
            f"{human(totals['params'])} parameters",
        ]
        text = Text("; ".join(parts) + ".")
        for note in self.notes:
            text.append(f"\nNote: {note}", style="yellow")
        return text

    def __rich__(self) -> Group:
        return Group(self.table(), self.summary_text())


def _finite(value: Any, path: str) -> tuple[Any, list[str]]:
    """``value`` with every non-finite float replaced by None, and the paths of those replaced."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, [path or "(value)"]
    if isinstance(value, dict):
        out, bad = {}, []
        for key, item in value.items():
            out[key], found = _finite(item, f"{path}.{key}" if path else str(key))
            bad += found
        return out, bad
    if isinstance(value, (list, tuple)):
        items = [_finite(item, f"{path}[{i}]") for i, item in enumerate(value)]
        return [item for item, _ in items], [p for _, found in items for p in found]
    return value, []
