"""What the seed-compatible analysis APIs (SNNAnalyzer, register_synops_hooks) share: which layers have
synapses, their exact fan-out, events summed with the graph kept, and sinabs' average-pooling factor.

Everything stays on the tensor's device: no value is read back to the host per call.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..events import abs_column_sums, accumulator_dtype
from ..fanout import fanout

# Layers whose synops are Σ|x|·fan-out with a fan-out syops.fanout knows exactly.
SYNAPTIC_LAYERS: tuple[type, ...] = (nn.modules.conv._ConvNd, nn.Linear)


def is_synaptic(module: nn.Module) -> bool:
    return isinstance(module, SYNAPTIC_LAYERS)


def sample_shape(layer: nn.Module, x: Tensor) -> tuple[int, ...]:
    """The part of ``x`` that one sample at one time step feeds to ``layer``: (C, *spatial) for a
    convolution, (in_features,) for a Linear; every dimension in front of it is a batch or time row."""
    if isinstance(layer, nn.modules.conv._ConvNd):
        dims = layer.weight.dim() - 2
        return tuple(x.shape[-(dims + 1) :])
    return (x.shape[-1],) if x.dim() > 0 else (1,)


def magnitude(x: Tensor) -> Tensor:
    """|x|, with gradient 1 at x = 0 (torch.abs has 0 there): on non-negative spikes and activations
    this is exactly sinabs' ``x · fanout`` term, value and gradient, so a synops loss can still raise a
    silent unit; negative (ternary) spikes count as events too."""
    return torch.where(x < 0, -x, x)


def column_sums(x: Tensor, n: int) -> Tensor:
    """Σ over rows of |x| viewed as [rows, n], in the accumulator dtype (float64; float32 on MPS).

    With autograd recording and ``x`` requiring grad, the graph is kept (one temporary the size of x);
    otherwise syops.events sums in bounded blocks."""
    if x.requires_grad and torch.is_grad_enabled():
        return magnitude(x).reshape(-1, n).sum(0, dtype=accumulator_dtype(x.device))
    return abs_column_sums(x.detach(), n)


class FanoutMaps:
    """Fan-out of each synaptic layer per (sample shape, device, dtype), computed once by syops.fanout."""

    def __init__(self) -> None:
        self._maps: dict[tuple, Tensor | float] = {}

    def get(self, layer: nn.Module, shape: Sequence[int], device: torch.device, dtype: torch.dtype) -> Tensor | float:
        key = (id(layer), tuple(shape), device, dtype)
        found = self._maps.get(key)
        if found is None:
            found = fanout(layer, shape)
            if isinstance(found, Tensor):
                found = found.to(device=device, dtype=dtype)
            self._maps[key] = found
        return found


def weighted_events(layer: nn.Module, x: Tensor, maps: FanoutMaps) -> tuple[Tensor, int]:
    """(Σ|x|·fan-out over the whole call, as a 0-d tensor with the graph kept; number of rows = batch
    and time entries in the call)."""
    shape = sample_shape(layer, x)
    n = math.prod(shape)
    rows = x.numel() // n if n else 0
    col = column_sums(x, n)
    fan = maps.get(layer, shape, col.device, col.dtype)
    if isinstance(fan, Tensor):
        return torch.dot(col, fan.reshape(-1)), rows
    return col.sum() * fan, rows


class PoolScale:
    """sinabs' correction for ``nn.AvgPool2d``: average pooling divides spike counts by the kernel area,
    so the synops of the next synaptic layer are multiplied back by the kernel areas of the average
    poolings that ran since the previous one (in execution order, which for an nn.Sequential is sinabs'
    layer order)."""

    def __init__(self) -> None:
        self.pending = 1
        self._warned: set[int] = set()

    def pool(self, module: nn.AvgPool2d, name: str) -> None:
        ks, stride = module.kernel_size, module.stride
        if ks != stride and id(module) not in self._warned:
            self._warned.add(id(module))
            warnings.warn(
                f"average pooling {name} has kernel_size {ks} but stride {stride}: synops after it are only "
                "exact when the two match",
                stacklevel=3,
            )
        self.pending *= ks * ks if isinstance(ks, int) else ks[0] * ks[1]

    def take(self) -> int:
        scale, self.pending = self.pending, 1
        return scale
