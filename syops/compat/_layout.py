"""Where the batch and the time steps are in a spiking layer's output, per framework convention.

The neuron rules of syops.frameworks say, in their ``Neuron`` term, how many neurons one sample has at
one step, how many updates a call did, and how the output is laid out (``Neuron.layout``): one step of
a batch ``[B, ...]``, time first ``[T, B, ...]``, batch first ``[B, T, ...]``, or squeezed ``[B·T, ...]``
(sinabs' Squeeze layers, split by the layer's ``batch_size`` / ``num_timesteps``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from ..terms import Neuron


@dataclass(frozen=True)
class Layout:
    batch: int
    steps: int
    neuron_shape: tuple[int, ...]
    to_bt: Callable[[Tensor], Tensor]  # a tensor of the call's output shape, viewed as [B, T, *neuron_shape]


def neuron_layout(module: nn.Module, term: Neuron) -> Layout:
    """Batch, steps and neuron shape of one call of a neuron layer, from its rule's ``Neuron`` term."""
    spikes = term.output
    shape = tuple(spikes.shape)
    neurons = term.neurons
    rows = spikes.numel() // max(neurons, 1)
    if term.layout == "squeezed" and len(shape) >= 1:
        steps = int(getattr(module, "num_timesteps", None) or -1)
        batch = int(getattr(module, "batch_size", None) or -1)
        if steps > 0:
            batch = max(shape[0] // steps, 1)
        elif batch > 0:
            steps = max(shape[0] // batch, 1)
        else:
            batch, steps = shape[0], 1
        tail = shape[1:]
        return Layout(batch, steps, _neuron_shape(tail, neurons), lambda t: t.reshape(batch, steps, *t.shape[1:]))
    if term.layout in ("BT", "TB") and len(shape) >= 2:
        batch, steps = (shape[0], shape[1]) if term.layout == "BT" else (shape[1], shape[0])
        view = (lambda t: t) if term.layout == "BT" else (lambda t: t.transpose(0, 1))
        return Layout(batch, steps, _neuron_shape(shape[2:], neurons), view)
    batch = shape[0] if shape else 1
    steps = max(rows // max(batch, 1), 1)
    neuron_shape = _neuron_shape(shape[1:], neurons)
    return Layout(batch, steps, neuron_shape, lambda t: t.reshape(batch, -1, *neuron_shape))


def _neuron_shape(tail: tuple[int, ...], neurons: int) -> tuple[int, ...]:
    return tail if math.prod(tail) == neurons else (neurons,)
