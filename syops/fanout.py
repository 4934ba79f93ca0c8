"""Exact fan-out maps: how many (output, weight) pairs each input element of a synaptic layer reaches.

For a convolution the map is the vector-Jacobian product of the layer, with its weights replaced by
ones (or by the non-zero mask of the weights), against an all-ones output: a transposed convolution
of ones for zero padding, and the right answer for every other padding mode, stride, dilation, group
count and output padding too, because autograd routes each padded copy back to its source element.
Border pixels of a padded, strided convolution therefore get fewer connections than central ones.
Maps are computed once per (layer geometry, input shape) and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import SyopsError

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _vjp_of_ones(fn: Callable[[Tensor], Tensor], in_shape: Sequence[int], device: torch.device) -> Tensor:
    """d(sum(fn(x)))/dx for one sample: the number of products each element of x takes part in."""
    with torch.enable_grad(), torch._C.DisableTorchFunction():
        x = torch.zeros((1, *in_shape), dtype=torch.float64, device=device, requires_grad=True)
        (grad,) = torch.autograd.grad(fn(x).sum(), x)
    return grad[0].detach()


def _weight_mask(weight: Tensor, skip_zero_weights: bool) -> Tensor:
    if skip_zero_weights:
        return (weight.detach() != 0).to(torch.float64)
    return torch.ones(weight.shape, dtype=torch.float64, device=weight.device)


def conv_fanout_map(
    weight: Tensor,
    in_shape: Sequence[int],
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    reversed_padding: Sequence[int] | None = None,
    transposed: bool = False,
    output_padding: Any = 0,
    skip_zero_weights: bool = False,
) -> Tensor:
    """Fan-out map of one sample ``in_shape = (C, *spatial)`` of an N-d (transposed) convolution."""
    dims = weight.dim() - 2
    mask = _weight_mask(weight, skip_zero_weights)
    if transposed:
        conv_t = _CONV_T[dims]

        def fn(x: Tensor) -> Tensor:
            return conv_t(x, mask, None, stride, padding, output_padding, groups, dilation)

    else:
        conv = _CONV[dims]
        if padding_mode != "zeros":
            # nn.ConvNd pads explicitly, then convolves without padding (see ConvNd._conv_forward).
            pads = list(reversed_padding) if reversed_padding is not None else _reversed_padding(padding, dims)

            def fn(x: Tensor) -> Tensor:
                return conv(F.pad(x, pads, mode=padding_mode), mask, None, stride, 0, dilation, groups)

        else:

            def fn(x: Tensor) -> Tensor:
                return conv(x, mask, None, stride, padding, dilation, groups)

    return _vjp_of_ones(fn, in_shape, weight.device)


def _reversed_padding(padding: Any, dims: int) -> list[int]:
    if isinstance(padding, int):
        padding = (padding,) * dims
    out: list[int] = []
    for p in reversed(tuple(padding)):
        out += [p, p]
    return out


class FanoutCache:
    """Fan-out maps of one profiling session, keyed by what determines them."""

    def __init__(self) -> None:
        self._maps: dict[tuple, Tensor] = {}

    def get(self, key: tuple, make: Callable[[], Tensor]) -> Tensor:
        found = self._maps.get(key)
        if found is None:
            found = make()
            self._maps[key] = found
        return found


def _conv_geometry(layer: nn.Module) -> dict[str, Any]:
    transposed = isinstance(layer, nn.modules.conv._ConvTransposeNd)
    geometry = {
        "stride": layer.stride,
        "padding": layer.padding,
        "dilation": layer.dilation,
        "groups": layer.groups,
        "transposed": transposed,
    }
    if transposed:
        geometry["output_padding"] = layer.output_padding
    else:
        geometry["padding_mode"] = layer.padding_mode
        geometry["reversed_padding"] = layer._reversed_padding_repeated_twice
    return geometry


def fanout(layer: nn.Module, input_shape: Sequence[int], skip_zero_weights: bool = False) -> Tensor | float:
    """The exact fan-out of every input element of ``layer`` for one sample of ``input_shape``.

    Convolutions (``nn.Conv*d``, ``nn.ConvTranspose*d`` and subclasses) return a tensor of shape
    ``input_shape`` = ``(C, *spatial)``; a leading batch dimension is accepted and dropped. ``nn.Linear``
    returns ``out_features`` (every input reaches every output), or with ``skip_zero_weights`` a tensor
    ``[in_features]`` counting the non-zero weights leaving each input. For transposed convolutions the
    output size is taken as the smallest one (``output_padding`` of the layer).
    """
    shape = tuple(int(s) for s in input_shape)
    if isinstance(layer, nn.Linear):
        if skip_zero_weights:
            return (layer.weight.detach() != 0).sum(0).to(torch.float64)
        return float(layer.out_features)
    if isinstance(layer, nn.modules.conv._ConvNd):
        dims = layer.weight.dim() - 2
        if len(shape) == dims + 2:
            shape = shape[1:]
        if len(shape) != dims + 1:
            raise SyopsError(
                f"fanout: {type(layer).__name__} expects an input shape (C, {', '.join('L' * dims)}), got {shape}"
            )
        return conv_fanout_map(layer.weight, shape, skip_zero_weights=skip_zero_weights, **_conv_geometry(layer))
    raise SyopsError(f"fanout: {type(layer).__name__} is not a Conv/ConvTranspose/Linear layer")
