"""Layers for training conventional networks toward spiking deployment, without sinabs.

``NeuromorphicReLU`` is sinabs' layer of the same name (``sinabs.layers.NeuromorphicReLU``): a ReLU whose
output is rounded to an integer spike count in the forward pass while the backward pass is the ReLU's
(a straight-through estimator), and which records the synops it would cause downstream in
``activity``. ``syops.SynOpCounter`` sums those activities.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rules._util import first_tensor
from .rules.registry import module_rule
from .terms import Neuron, neuron_term

__all__ = ["NeuromorphicReLU", "floor_ste", "stochastic_round_ste"]


class _FloorSTE(torch.autograd.Function):
    """floor(x) forward, identity backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.floor()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


class _StochasticRoundSTE(torch.autograd.Function):
    """ceil(x) with probability x − floor(x), else floor(x); identity backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        low = x.floor()
        return low + (torch.rand_like(x) < x - low).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def floor_ste(x: Tensor) -> Tensor:
    """floor(x) with a straight-through gradient (sinabs.activation.Quantize)."""
    return _FloorSTE.apply(x)


def stochastic_round_ste(x: Tensor) -> Tensor:
    """Stochastic rounding with a straight-through gradient (sinabs.activation.StochasticRounding)."""
    return _StochasticRoundSTE.apply(x)


class NeuromorphicReLU(nn.Module):
    """ReLU whose output is a spike count, for training an ANN that will run as an SNN.

    Args:
        quantize: floor the output to an integer (the number of spikes an integrate-and-fire neuron
            with threshold 1 would emit); the gradient is the ReLU's.
        fanout: synapses each output unit drives; ``activity`` is multiplied by it.
        stochastic_rounding: when quantizing in training mode, round up with probability equal to the
            fractional part instead of flooring; in eval mode the output is rounded to nearest.

    After each forward pass ``activity`` = output.sum() / len(output) · fanout: the synops per sample
    (per first-dimension entry) this layer's output causes, a differentiable tensor.
    """

    def __init__(self, quantize: bool = True, fanout: float = 1, stochastic_rounding: bool = False) -> None:
        super().__init__()
        self.quantize = quantize
        self.fanout = fanout
        self.stochastic_rounding = stochastic_rounding

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(x)
        if self.quantize:
            if not self.stochastic_rounding:
                out = floor_ste(out)
            elif self.training:
                out = stochastic_round_ste(out)
            else:
                out = out.round()
        self.activity = out.sum() / len(out) * self.fanout
        return out

    def extra_repr(self) -> str:
        return f"quantize={self.quantize}, fanout={self.fanout}, stochastic_rounding={self.stochastic_rounding}"


@module_rule(NeuromorphicReLU, family="neuron")
def neuromorphic_relu_rule(m: nn.Module, args, kwargs, out, ctx) -> list[Neuron]:
    """For syops.profile: the rate-coded stand-in of a non-leaky integrate-and-fire layer, its output the
    spike count of one step (syops.frameworks.sinabs gives sinabs' NeuromorphicReLU the same rule)."""
    y = first_tensor(out)
    if y is None:
        return []
    return [neuron_term(y, "step", leaky=False)]
