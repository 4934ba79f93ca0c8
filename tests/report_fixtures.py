"""Small profiled reports for the export tests (HTML, LaTeX, methods, compare): a spiking CNN in
spikingjelly, and the same report with a memory model's energies filled in by hand."""

from __future__ import annotations

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

import syops
from syops.memory import MemoryModel

MEMORY_MODEL = {
    "name": "sram-test",
    "bits": 16,
    "dense_reuse": "none",
    "dram_above": 4194304,
    "queue_words": 777,
    "source": "a memory model written for this test",
}


def spiking_cnn(channels: int = 4, extra_layer: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers = [
        layer.Conv2d(2, channels, 3, padding=1),
        layer.BatchNorm2d(channels),
        neuron.IFNode(),
        layer.MaxPool2d(2),
        layer.Flatten(),
        layer.Linear(channels * 4 * 4, 10),
        neuron.LIFNode(),
    ]
    if extra_layer:
        layers += [layer.Linear(10, 3), neuron.IFNode()]
    net = nn.Sequential(*layers)
    functional.set_step_mode(net, "m")
    return net


def spiking_report(energy: str = "45nm-fp32", **kwargs) -> syops.Report:
    net = spiking_cnn()
    # compute only unless a test asks for a memory model: the energy constants are then all the text states
    options = {"timesteps": 4, "time_layout": "TB", "input_encoding": "poisson", "energy": energy, "memory": "none"}
    options.update(kwargs)
    return syops.profile(net, (2, 8, 8), **options)


def with_memory(report: syops.Report, memory: dict | None = None) -> syops.Report:
    """``report`` as a memory model would have priced it: every layer gains a memory energy (a fixed
    share of its compute energy, so the parts are known exactly)."""
    report.memory_model = MemoryModel(**(memory or MEMORY_MODEL))
    for index, row in enumerate(report.layers):
        row.compute_energy_mj = row.energy_mj
        row.memory_energy_mj = row.energy_mj * (0.25 + 0.1 * index)
        row.energy_mj = row.compute_energy_mj + row.memory_energy_mj
    return report
