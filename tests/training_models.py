"""Small models and data for the training-step tests and the CLI (``tests.training_models:snn``)."""

from __future__ import annotations

import torch
from torch import nn


def snn() -> nn.Module:
    """Conv → IF → Linear, multi-step spikingjelly ([T, B, 2, 6, 6] → [T, B, 5])."""
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode(), layer.Flatten(), layer.Linear(144, 5))
    functional.set_step_mode(net, "m")
    return net


def binary_batches() -> list:
    """One batch of binary events [T=4, B=3, 2, 6, 6] and its class targets."""
    g = torch.Generator().manual_seed(1)
    return [((torch.rand(4, 3, 2, 6, 6, generator=g) < 0.3).float(), torch.tensor([0, 3, 1]))]
