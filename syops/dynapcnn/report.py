"""The DYNAP-CNN report: each layer's memory, the cores it fits and the one it is given, what breaks the
chip's rules, as a table, JSON, a DataFrame or HTML (docs/dynapcnn.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from ..errors import SyopsError
from ..safe_text import visible
from .chip import (
    CORE_BIAS_MEMORY,
    CORE_KERNEL_MEMORY,
    CORE_NEURON_MEMORY,
    N_CORES,
    assign_cores,
    competitors,
    cores_fitting,
    kernel_memory,
    neuron_memory,
    parse,
)


@dataclass
class DynapcnnLayerReport:
    name: str
    type: str
    kernel_memory: int
    neuron_memory: int
    bias_memory: int
    kernel_memory_theoretical: int
    neuron_memory_theoretical: int
    input_shape: list[int]
    output_shape: list[int]
    fits_cores: list[int]
    core: int | None
    violations: list[str]


def layer_cells(layer: DynapcnnLayerReport) -> list[str]:
    """A layer's row as the tables show it (terminal and notebook alike)."""
    return [
        layer.name,
        layer.type,
        f"{layer.kernel_memory} / {layer.kernel_memory_theoretical}",
        f"{layer.neuron_memory} / {layer.neuron_memory_theoretical}",
        str(layer.bias_memory),
        "×".join(map(str, layer.input_shape)),
        "×".join(map(str, layer.output_shape)),
        ",".join(map(str, layer.fits_cores)) or "none",
        "-" if layer.core is None else str(layer.core),
        "; ".join(layer.violations),
    ]


@dataclass
class DynapcnnReport:
    fits: bool
    layers: list[DynapcnnLayerReport]
    violations: list[str]
    notes: list[str]
    model: str = ""

    @property
    def totals(self) -> dict[str, int]:
        keys = ("kernel_memory", "neuron_memory", "bias_memory", "kernel_memory_theoretical")
        totals = {k: sum(getattr(layer, k) for layer in self.layers) for k in keys}
        totals["neuron_memory_theoretical"] = sum(layer.neuron_memory_theoretical for layer in self.layers)
        totals["layers"] = len(self.layers)
        totals["cores"] = N_CORES
        totals["cores_used"] = sum(layer.core is not None for layer in self.layers)
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "fits": self.fits,
            "layers": [asdict(layer) for layer in self.layers],
            "totals": self.totals,
            "violations": list(self.violations),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per layer (the JSON's layer fields); needs pandas."""
        from ..notebook import dynapcnn_dataframe

        return dynapcnn_dataframe(self)

    def _repr_html_(self) -> str:
        """What a notebook shows: the layer table with totals and whether the model fits."""
        from ..notebook import dynapcnn_html

        return dynapcnn_html(self)

    def table(self):
        """The per-layer table, fitted to the console's width (see syops.report_table): on a narrow one
        the theoretical memories, shapes and candidate cores go first; violations are cut, and repeated
        in full under the table."""
        from rich.console import Group
        from rich.text import Text

        from ..report_table import Column, FittedTable

        totals = self.totals
        columns = [
            Column("layer", "Layer", "Total", name=True),
            Column("type", "Type"),
            Column(
                "kernel",
                "Kernel mem (chip / theory)",
                f"{totals['kernel_memory']} / {totals['kernel_memory_theoretical']}",
                "right",
            ),
            Column(
                "neuron",
                "Neuron mem (chip / theory)",
                f"{totals['neuron_memory']} / {totals['neuron_memory_theoretical']}",
                "right",
            ),
            Column("bias", "Bias", str(totals["bias_memory"]), "right"),
            Column("input", "Input", "", "right"),
            Column("output", "Output", "", "right"),
            Column("fits_cores", "Fits cores"),
            Column("core", "Core", f"{totals['cores_used']}/{N_CORES}", "right"),
            Column("violations", "Violations", name=True),
        ]
        drop = ("input", "output", "fits_cores", "bias", "type", "neuron", "kernel")
        table = FittedTable(columns, drop_order=drop)
        for layer in self.layers:
            table.add_row(*layer_cells(layer), style=None if not layer.violations else "red")
        title = Text(f"{visible(self.model or 'model')} on DYNAP-CNN", style="italic", justify="center")
        return Group(title, table)

    def summary_text(self):
        from rich.text import Text

        if self.fits:
            cores = ", ".join(f"{layer.name}→{layer.core}" for layer in self.layers)
            text = Text(visible(f"Fits DYNAP-CNN: {cores}."), style="green")
        else:
            text = Text("Does not fit DYNAP-CNN.", style="red")
        for message in self.violations:
            text.append(f"\n{visible(message)}", style="red")
        for layer in self.layers:  # in full here: the table cuts them to its width
            for message in layer.violations:
                text.append(f"\n{visible(layer.name)}: {visible(message)}", style="red")
        for note in self.notes:
            text.append(f"\nNote: {visible(note)}", style="yellow")
        return text

    def __rich__(self):
        from rich.console import Group

        return Group(self.table(), self.summary_text())


def dynapcnn_report(model: nn.Module, input_shape: Sequence[int], model_name: str | None = None) -> DynapcnnReport:
    """Memory, checks and a core assignment of ``model`` on DYNAP-CNN, for one sample of ``input_shape``."""
    if not isinstance(model, nn.Module):
        raise SyopsError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers, model_violations, notes = parse(model, input_shape)
    memories = []
    for layer in layers:
        f, fy, fx = layer.feature_map
        ky, kx = layer.kernel
        c = layer.in_channels
        memories.append(
            (
                kernel_memory(c, ky, kx, f),
                neuron_memory(f, fy, fx),
                f if layer.bias else 0,
                c * ky * kx * f,
                f * fy * fx,
            )
        )
    candidates = [cores_fitting(k, n, b) for k, n, b, _, _ in memories]
    assignment = assign_cores(candidates)
    reports = []
    for i, (layer, (k, n, b, kt, nt)) in enumerate(zip(layers, memories, strict=True)):
        violations = list(layer.violations)
        if not candidates[i]:
            violations.append(_no_core_reason(k, n, b))
        elif assignment[i] is None:
            rivals = sorted(competitors(candidates, assignment, i))
            cores = sorted({core for j in rivals for core in candidates[j]})
            violations.append(
                f"not placed: its cores {_list(cores)} are all needed by layers {_list(layers[j].name for j in rivals)}"
            )
        reports.append(
            DynapcnnLayerReport(
                name=layer.name,
                type=layer.type,
                kernel_memory=k,
                neuron_memory=n,
                bias_memory=b,
                kernel_memory_theoretical=kt,
                neuron_memory_theoretical=nt,
                input_shape=list(layer.input_shape),
                output_shape=list(layer.output_shape),
                fits_cores=candidates[i],
                core=assignment[i],
                violations=violations,
            )
        )
    fits = bool(reports) and not model_violations and all(not r.violations for r in reports)
    return DynapcnnReport(fits, reports, model_violations, notes, model_name or type(model).__name__)


def _list(items: Any) -> str:
    return ", ".join(str(x) for x in items)


def _no_core_reason(kernel: int, neuron: int, bias: int) -> str:
    """Why a layer fits no core: each memory over its largest core, or the combination that fits none."""
    parts = []
    if kernel > max(CORE_KERNEL_MEMORY):
        parts.append(f"kernel memory {kernel} > {max(CORE_KERNEL_MEMORY)}")
    if neuron > max(CORE_NEURON_MEMORY):
        parts.append(f"neuron memory {neuron} > {max(CORE_NEURON_MEMORY)}")
    if bias > CORE_BIAS_MEMORY:
        parts.append(f"bias memory {bias} > {CORE_BIAS_MEMORY}")
    if not parts:
        parts.append(f"no core holds both kernel memory {kernel} and neuron memory {neuron}")
    return "fits no core: " + ", ".join(parts)
