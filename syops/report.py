"""Profiling results: per-layer statistics, totals and their exports. This module only reads results;
it never touches a model.

Every count is per sample (one inference over all time steps), as docs/contract.md §1 and §7 define.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Group
from rich.text import Text

from ._version import __version__
from .energy import EnergyModel
from .events import accumulator_dtype
from .memory import MemoryModel
from .report_flat import flat_fields, flatten  # noqa: F401  (re-exported: syops.report.flat_fields)
from .traffic import ACCESS_KINDS

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
    "spike_rate_per_step",
    "energy_mj",
    "compute_energy_mj",
    "memory_energy_mj",
    "memory",
)
TOTAL_FIELDS: tuple[str, ...] = (
    "params",
    "dense_macs",
    "acs",
    "macs",
    "synops",
    "neuron_updates",
    "energy_mj",
    "compute_energy_mj",
    "memory_energy_mj",
    "ann_energy_mj",
    "ann_compute_energy_mj",
    "memory",
)
_ENERGY_FIELDS = ("energy_mj", "compute_energy_mj", "memory_energy_mj", "ann_compute_energy_mj", "ann_memory_energy_mj")
_COUNT_FIELDS = ("dense_macs", "acs", "macs", "synops", "neuron_updates", "neuron_update_macs", *_ENERGY_FIELDS)


def _per_step(values: Any, t: int) -> Any:
    """A training phase's counts divided by T (its ``params`` kept)."""
    if isinstance(values, dict):
        return {k: (v if k == "params" else _per_step(v, t)) for k, v in values.items()}
    return values / t if isinstance(values, (int, float)) and not isinstance(values, bool) else values


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
    # energy_mj = compute_energy_mj + memory_energy_mj; memory: the six access counts of docs/contract.md §4
    # (weight_reads, bias_reads, input_reads, state_reads, state_writes, output_writes), per sample, or
    # None when no memory model priced the profile.
    compute_energy_mj: float = 0.0
    memory_energy_mj: float = 0.0
    memory: dict[str, float] | None = None
    # A neuron layer's spikes per neuron at each time step, averaged over the samples (their mean is
    # output_spike_rate); None for other layers and where the calls did not tell the steps apart.
    spike_rate_per_step: list[float] | None = None
    # Not in the JSON schema: memory_energy_mj by access kind (the keys of ``memory``), None without a
    # memory model or for a report that does not carry it (one read back from JSON).
    memory_energy_by_kind_mj: dict[str, float] | None = None
    # Not in the JSON schema (the totals carry the sum): the layer in the ANN baseline, run once per
    # sample (docs/contract.md §5): its dense MACs ÷ T at the MAC cost, and its dense dataflow for one time step.
    ann_compute_energy_mj: float = 0.0
    ann_memory_energy_mj: float = 0.0
    # Not in the JSON schema (the totals carry the sum): per-sample neuron updates of this layer, and
    # the part of them that are MACs (leaky neurons). Included in acs / macs when they are counted.
    neuron_updates: float = 0.0
    neuron_update_macs: float = 0.0
    # A neuron layer's spikes per neuron over the whole profile (a device tensor shaped like one sample's
    # neurons at one step; None for other layers) and the updates each neuron made (samples × T).
    spike_map: Any = field(default=None, repr=False, compare=False)
    updates_per_neuron: float = field(default=0.0, repr=False, compare=False)
    # What the layer's memory traffic was counted from (syops.reprice.LayerCounts), for Report.reprice;
    # None where it was not kept.
    counts: Any = field(default=None, repr=False, compare=False)
    # A training step's backward and update of this row ({"backward": {...}, "update": {...}}, each with the
    # totals' keys, per sample; syops.training), or None for an inference profile.
    phases: dict[str, Any] | None = None

    @property
    def firing_rate_map(self) -> Any:
        """Per-neuron firing rate: spikes per neuron per time step, averaged over the samples (worked out
        when read, so a profile whose maps nobody reads pays nothing for them)."""
        if self.spike_map is None:
            return None
        return self.spike_map.to(accumulator_dtype(self.spike_map.device)) / self.updates_per_neuron

    def to_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in LAYER_FIELDS}
        if self.phases is not None:
            values["phases"] = self.phases
        return values


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
    memory_model: MemoryModel | None = None  # None: compute energy only (memory="none")
    count_neuron_updates: bool = True
    notes: list[str] = field(default_factory=list)
    # Module types without a counting rule that called a torch function with no op rule (and not a known
    # reshape / view / metadata call): syops may have missed arithmetic there.
    unsupported: list[str] = field(default_factory=list)
    syops_version: str = __version__
    per_timestep_view: bool = False
    # How the samples were given (syops.inputs.describe_inputs: kind, encoding, time_layout, seed...) and
    # the counting options (spike_mode, skip_zero_weights), for methods(); empty for a hand-built report.
    inputs: dict[str, Any] = field(default_factory=dict)
    counting: dict[str, Any] = field(default_factory=dict)
    # The energy targets after the first (this report's own): the same counts priced by other models
    # (Report.with_targets; `syops profile --energy A --energy B`).
    other_targets: list[Report] = field(default_factory=list, repr=False, compare=False)
    # A training step (syops.Profiler(backward=True)): {"forward", "backward", "update"} each with the
    # totals' keys, their energy summed per sample, and the bytes autograd saved per sample; None otherwise.
    phases: dict[str, dict[str, Any]] | None = None
    training_energy_mj: float | None = None
    saved_for_backward_bytes: float | None = None

    # -- reading ----------------------------------------------------------------------------------
    @property
    def totals(self) -> dict[str, Any]:
        """The sums of the layers (``memory``: the access counts by kind, None without a memory model)."""
        layers = self.layers
        totals: dict[str, Any] = {"params": sum(layer.params for layer in layers)}
        for name in ("dense_macs", "acs", "macs", "synops", "neuron_updates", "energy_mj"):
            totals[name] = math.fsum(getattr(layer, name) for layer in layers)
        totals["compute_energy_mj"] = math.fsum(layer.compute_energy_mj for layer in layers)
        totals["memory_energy_mj"] = math.fsum(layer.memory_energy_mj for layer in layers)
        ann_compute = math.fsum(layer.ann_compute_energy_mj for layer in layers)
        totals["ann_energy_mj"] = ann_compute + math.fsum(layer.ann_memory_energy_mj for layer in layers)
        totals["ann_compute_energy_mj"] = ann_compute
        totals["memory"] = (
            None
            if self.memory_model is None
            else {kind: math.fsum(layer.memory[kind] for layer in layers if layer.memory) for kind in ACCESS_KINDS}
        )
        return totals

    def layer(self, name: str, type: str | None = None) -> LayerStats:
        """The row of module ``name`` (and op ``type``, where a module has several rows)."""
        for row in self.layers:
            if row.name == name and (type is None or row.type == type):
                return row
        raise KeyError(f"no layer named {name!r}" + (f" of type {type!r}" if type else ""))

    # What syops.profile measured for neurobench() (syops.neurobench.StaticFigures); None otherwise.
    neurobench_figures: Any = field(default=None, repr=False, compare=False)

    def neurobench(self) -> dict[str, Any]:
        """NeuroBench 2.x's metrics (footprint, connection_sparsity, activation_sparsity,
        synaptic_operations with Effective_MACs / Effective_ACs / Dense, membrane_updates), per sample,
        each by NeuroBench's definition from this report's counts (see docs/neurobench.md)."""
        from .neurobench import neurobench_metrics

        return neurobench_metrics(self)

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
        """Energy of the ANN baseline (docs/contract.md §5): the same architecture as a conventional network, run
        once per sample: its dense MACs ÷ T at the MAC cost plus the memory traffic of its dense dataflow
        for one time step under the same memory model."""
        return self.totals["ann_energy_mj"]

    @property
    def ann_compute_energy_mj(self) -> float:
        """The ANN baseline's compute energy alone: dense MACs ÷ T at the MAC cost."""
        return self.totals["ann_compute_energy_mj"]

    def per_timestep(self) -> Report:
        """The same report with every count divided by the number of time steps."""
        t = max(self.timesteps, 1)

        def divided(layer: LayerStats) -> LayerStats:
            values: dict[str, Any] = {k: getattr(layer, k) / t for k in _COUNT_FIELDS}
            if layer.memory is not None:
                values["memory"] = {kind: count / t for kind, count in layer.memory.items()}
            if layer.memory_energy_by_kind_mj is not None:
                values["memory_energy_by_kind_mj"] = {k: mj / t for k, mj in layer.memory_energy_by_kind_mj.items()}
            if layer.phases is not None:
                values["phases"] = _per_step(layer.phases, t)
            return replace(layer, **values)

        training = {}
        if self.phases is not None:
            training = {
                "phases": _per_step(self.phases, t),
                "training_energy_mj": self.training_energy_mj / t,
                "saved_for_backward_bytes": self.saved_for_backward_bytes,  # a footprint: not per step
            }
        return replace(
            self,
            layers=[divided(layer) for layer in self.layers],
            per_timestep_view=True,
            other_targets=[target.per_timestep() for target in self.other_targets],  # every target per step
            **training,
        )

    # -- other energy targets -----------------------------------------------------------------------
    def reprice(self, energy: Any = None, memory: Any = None) -> Report:
        """A new report of the same counts priced by ``energy`` and ``memory`` (what they mean to
        ``syops.profile``: ``memory=None`` is the energy model's default), without running the model:
        equal to a fresh profile of the same run with those arguments (see syops.reprice)."""
        from .reprice import reprice

        return reprice(self, energy, memory)

    def with_targets(self, energies: Any, memory: Any = None) -> Report:
        """This report priced under each energy model of ``energies`` (with ``memory``, or each its own
        default memory model): the first target's report, with every target in ``targets``."""
        from .reprice import with_targets

        return with_targets(self, energies, memory)

    @property
    def targets(self) -> list[Report]:
        """Every energy target of a side-by-side report, in the order given (the first is this report);
        empty for a report of one target."""
        return [self, *self.other_targets] if self.other_targets else []

    # -- exports ----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        from .reprice import kept_counts_dict, target_summary

        data: dict[str, Any] = {
            "syops_version": self.syops_version,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "timesteps": self.timesteps,
            "samples": self.samples,
            "energy_model": self.energy_model.to_dict(),
            "memory_model": None if self.memory_model is None else self.memory_model.to_dict(),
            # the counting options that change what a figure means (compared by syops compare)
            "counting": {
                "spike_mode": self.counting.get("spike_mode"),
                "skip_zero_weights": self.counting.get("skip_zero_weights"),
                "count_neuron_updates": self.count_neuron_updates,
            },
            "totals": self.totals,
            "layers": [layer.to_dict() for layer in self.layers],
            "phases": self.phases,
            "training_energy_mj": self.training_energy_mj,
            "saved_for_backward_bytes": self.saved_for_backward_bytes,
        }
        if self.targets:
            data["targets"] = [target_summary(target) for target in self.targets]
        data["counts"] = kept_counts_dict(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report read back from ``to_dict()`` / ``to_json()``; it can be repriced under any model when
        its ``counts`` were written (syops.reprice), otherwise only under memory 'none' or its own."""
        from .reprice import report_from_dict

        return report_from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls.from_dict(json.loads(text))

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
        """One row per layer, every field of ``to_dict()``'s layers (``memory.*`` flattened; a training
        step's ``backward.*`` / ``update.*``; a side-by-side report's ``energy_mj[TARGET]``)."""
        from .report_flat import report_csv

        return report_csv(self)

    def to_markdown(self) -> str:
        """The layers and totals as Markdown tables (and a training step's phases, a report's targets)."""
        from .report_flat import report_markdown

        return report_markdown(self)

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per layer with every field of ``to_dict()``'s layers (``memory.*``
        flattened); needs pandas (``pip install 'syops[pandas]'``)."""
        from .notebook import report_dataframe

        return report_dataframe(self)

    def _repr_html_(self) -> str:
        """What a notebook shows for a bare ``report``: the layer table with totals and the summary line."""
        from .notebook import report_html

        return report_html(self)

    def to_html(self, title: str | None = None) -> str:
        """One self-contained HTML page (inline SVG charts, a sortable table, the methods paragraph)."""
        from .export.html import report_html

        return report_html(self, title=title)

    def to_latex(self, granularity: str = "layer", block_depth: int = 1, label: str | None = None) -> str:
        """A booktabs ``table`` of the layers (or of blocks: layers sharing their first ``block_depth``
        name parts), with a totals row and a caption stating model, input, T and energy model."""
        from .export.latex import report_latex

        return report_latex(self, granularity=granularity, block_depth=block_depth, label=label)

    def methods(self) -> str:
        """A methods-section paragraph: what was counted and how, the constants and their sources."""
        from .export.methods import methods_paragraph

        return methods_paragraph(self)

    # -- rendering --------------------------------------------------------------------------------
    def table(self, columns: Sequence[str] | None = None) -> Any:
        """The per-layer table (a rich renderable that fits the console it is printed in, one line per
        row; see syops.report_table), with the ``columns`` chosen or all of them."""
        from .report_table import report_table

        return report_table(self, columns)

    def _memory_text(self) -> str:
        return "none" if self.memory_model is None else self.memory_model.name

    def energy_line(self) -> str:
        """The energy per sample, compute and memory apart, against the ANN baseline (docs/contract.md §5)."""
        from .report_summary import energy_line

        return energy_line(self)

    def summary_text(self) -> Text:
        """The summary under the table: the energy line, spike rate, parameters, each target, the notes."""
        from .report_summary import summary_text

        return summary_text(self)

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
