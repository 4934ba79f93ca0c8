"""Where the batch and the time steps are in a spiking layer's output, per framework convention.

The neuron rules of syops.frameworks say how many neurons one sample has at one step (``Neuron.neurons``)
and how many updates a call did, so rows = updates / neurons = batch × steps of the call. Splitting the
rows into batch and steps needs the framework's layout:

- sinabs ``*Squeeze`` layers: ``[B·T, ...]``, split by the layer's ``batch_size`` / ``num_timesteps``;
- other sinabs layers: ``[B, T, ...]``;
- spikingjelly in multi-step mode (``step_mode == "m"``), and any call whose output has two leading
  dimensions whose product is the number of rows (snnTorch's parallel layers): time first, ``[T, B, ...]``;
- everything else (spikingjelly single-step, snnTorch): one step per call, ``[B, ...]``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class Layout:
    batch: int
    steps: int
    neuron_shape: tuple[int, ...]
    to_bt: Callable[[Tensor], Tensor]  # a tensor of the call's output shape, viewed as [B, T, *neuron_shape]


def _sinabs_kind(module: nn.Module) -> str | None:
    layers = sys.modules.get("sinabs.layers")
    if layers is None:
        return None
    if isinstance(module, layers.SqueezeMixin):
        return "squeezed"
    if isinstance(module, layers.StatefulLayer):
        return "BT"
    return None


def neuron_layout(module: nn.Module, spikes: Tensor, neurons: int) -> Layout:
    """The layout of one call of a neuron layer whose event output is ``spikes``."""
    shape = tuple(spikes.shape)
    rows = spikes.numel() // max(neurons, 1)
    kind = _sinabs_kind(module)
    if kind is None:
        multi_step = getattr(module, "step_mode", None) == "m"
        time_first = len(shape) >= 2 and (multi_step or (shape[0] != rows and shape[0] * shape[1] == rows))
        kind = "TB" if time_first else "step"
    if kind == "squeezed" and len(shape) >= 1:
        steps = int(getattr(module, "num_timesteps", -1))
        batch = int(getattr(module, "batch_size", -1))
        if steps > 0:
            batch = max(shape[0] // steps, 1)
        elif batch > 0:
            steps = max(shape[0] // batch, 1)
        else:
            batch, steps = shape[0], 1
        tail = shape[1:]
        return Layout(batch, steps, _neuron_shape(tail, neurons), lambda t: t.reshape(batch, steps, *t.shape[1:]))
    if kind in ("BT", "TB") and len(shape) >= 2:
        batch, steps = (shape[0], shape[1]) if kind == "BT" else (shape[1], shape[0])
        view = (lambda t: t) if kind == "BT" else (lambda t: t.transpose(0, 1))
        return Layout(batch, steps, _neuron_shape(shape[2:], neurons), view)
    batch = shape[0] if shape else 1
    steps = max(rows // max(batch, 1), 1)
    neuron_shape = _neuron_shape(shape[1:], neurons)
    return Layout(batch, steps, neuron_shape, lambda t: t.reshape(batch, -1, *neuron_shape))


def _neuron_shape(tail: tuple[int, ...], neurons: int) -> tuple[int, ...]:
    return tail if math.prod(tail) == neurons else (neurons,)
