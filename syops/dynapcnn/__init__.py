"""Does a model fit SynSense's DYNAP-CNN chip? ``dynapcnn_report(model, (C, H, W))``: per-layer memory,
the chip's checks and a layer-to-core assignment (docs/dynapcnn.md). The chip's rules and the model's
parsing are in ``chip``, the report in ``report``."""

from .chip import (
    CORE_BIAS_MEMORY,
    CORE_KERNEL_MEMORY,
    CORE_NEURON_MEMORY,
    N_CORES,
    ChipLayer,
    assign_cores,
    competitors,
    cores_fitting,
    kernel_memory,
    neuron_memory,
    parse,
)
from .report import DynapcnnLayerReport, DynapcnnReport, dynapcnn_report, layer_cells

__all__ = [
    "CORE_BIAS_MEMORY",
    "CORE_KERNEL_MEMORY",
    "CORE_NEURON_MEMORY",
    "N_CORES",
    "ChipLayer",
    "DynapcnnLayerReport",
    "DynapcnnReport",
    "assign_cores",
    "competitors",
    "cores_fitting",
    "dynapcnn_report",
    "kernel_memory",
    "layer_cells",
    "neuron_memory",
    "parse",
]
