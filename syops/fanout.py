"""Exact fan-out maps: how many (output, weight) pairs each input element of a synaptic layer reaches.

For a convolution the map is the vector-Jacobian product of the layer, with its weights replaced by
ones (or by the non-zero mask of the weights), against an all-ones output: a transposed convolution
of ones for zero padding, and the right answer for every other padding mode, stride, dilation, group
count and output padding too, because autograd routes each padded copy back to its source element.
Border pixels of a padded, strided convolution therefore get fewer connections than central ones.

With zero padding and every weight counted, the map factorises: (output channels per group) × the
product over spatial dimensions of how many (output, tap) pairs reach each position. That closed form
is what syops uses there (it costs nothing next to a convolution), cached across profiling runs; the
vector-Jacobian product covers the rest (reflect / replicate / circular padding, non-zero weight masks).
"""

from __future__ import annotations

import functools
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


def _axis_counts(
    length: int, out_length: int, kernel: int, stride: int, dilation: int, pad_left: int, transposed: bool
) -> Tensor:
    """For each input position along one axis, the number of (output position, tap) pairs it meets."""
    i = torch.arange(length, dtype=torch.int64)[:, None]
    k = torch.arange(kernel, dtype=torch.int64)[None, :]
    if transposed:  # input i, tap k -> output i·s - p + k·d
        o = i * stride - pad_left + k * dilation
        valid = (o >= 0) & (o < out_length)
    else:  # output o, tap k reads input o·s - p + k·d
        num = i + pad_left - k * dilation
        valid = (num >= 0) & (num % stride == 0) & (num // stride < out_length)
    return valid.sum(1).to(torch.float64)


def _per_dim(value: Any, dims: int) -> tuple[int, ...]:
    return (value,) * dims if isinstance(value, int) else tuple(int(v) for v in value)


@functools.lru_cache(maxsize=512)
def _separable_map(
    in_shape: tuple[int, ...],
    kernel: tuple[int, ...],
    channels_reached: int,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: Any,
    transposed: bool,
    output_padding: tuple[int, ...],
    device: torch.device,
) -> Tensor:
    dims = len(kernel)
    spatial = in_shape[1:]
    axis_maps = []
    for axis in range(dims):
        length, k, s, d = spatial[axis], kernel[axis], stride[axis], dilation[axis]
        if padding == "valid":
            pad_left = 0
        elif padding == "same":  # torch pads d·(k-1) in total, the smaller half first
            pad_left = d * (k - 1) // 2
        else:
            pad_left = padding[axis]
        if transposed:
            out_length = (length - 1) * s - 2 * pad_left + d * (k - 1) + 1 + output_padding[axis]
        elif padding == "same":
            out_length = length
        else:
            out_length = (length + 2 * pad_left - d * (k - 1) - 1) // s + 1
        axis_maps.append(_axis_counts(length, out_length, k, s, d, pad_left, transposed))
    spatial_map = axis_maps[0]
    for axis_map in axis_maps[1:]:
        spatial_map = spatial_map[..., None] * axis_map
    return (channels_reached * spatial_map).to(device)  # the same for every input channel


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
    """Fan-out map of one sample ``in_shape = (C, *spatial)`` of an N-d (transposed) convolution, over the
    trailing dimensions it depends on: ``[*spatial]`` (the same for every channel) with zero padding and
    every weight counted, ``[C, *spatial]`` otherwise."""
    dims = weight.dim() - 2
    if not skip_zero_weights and padding_mode == "zeros":
        # conv weight [C_out, C_in/g, *k]: an input channel reaches C_out/g channels;
        # transposed weight [C_in, C_out/g, *k]: it reaches C_out/g = weight.shape[1].
        reached = weight.shape[1] if transposed else weight.shape[0] // groups
        return _separable_map(
            tuple(int(v) for v in in_shape),
            tuple(int(v) for v in weight.shape[2:]),
            int(reached),
            _per_dim(stride, dims),
            _per_dim(dilation, dims),
            padding if isinstance(padding, str) else _per_dim(padding, dims),
            transposed,
            _per_dim(output_padding, dims),
            weight.device,
        )
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


def _shape_argument(input_shape: Any) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints, or a one-line error."""
    if isinstance(input_shape, (int, str)) or not isinstance(input_shape, Sequence):
        raise SyopsError(f"fanout: input_shape must be a tuple of positive ints, got {input_shape!r}")
    if not input_shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in input_shape):
        raise SyopsError(f"fanout: input_shape must be a tuple of positive ints, got {tuple(input_shape)!r}")
    return tuple(int(s) for s in input_shape)


class FanoutCache:
    """Fan-out maps (and other shape-derived constants of a rule) of one profiling session, keyed by what
    determines them."""

    def __init__(self) -> None:
        self._maps: dict[tuple, Any] = {}

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        found = self._maps.get(key)
        if found is None:
            found = make()
            self._maps[key] = found
        return found


def conv_geometry(layer: nn.Module) -> dict[str, Any]:
    """A (transposed) convolution module's geometry, as keyword arguments of ``conv_fanout_map``."""
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
    shape = _shape_argument(input_shape)
    if isinstance(layer, nn.Linear):
        if shape[-1:] != (layer.in_features,) or len(shape) > 2:
            raise SyopsError(
                f"fanout: Linear(in_features={layer.in_features}) expects an input shape ({layer.in_features},), "
                f"got {shape}"
            )
        if skip_zero_weights:
            return (layer.weight.detach() != 0).sum(0).to(torch.float64)
        return float(layer.out_features)
    if isinstance(layer, nn.modules.conv._ConvNd):
        dims = layer.weight.dim() - 2
        if len(shape) == dims + 2:
            shape = shape[1:]
        if len(shape) != dims + 1 or shape[0] != layer.in_channels:
            raise SyopsError(
                f"fanout: {type(layer).__name__}(in_channels={layer.in_channels}) expects an input shape "
                f"({layer.in_channels}, {', '.join('L' * dims)}), got {shape}"
            )
        fan = conv_fanout_map(layer.weight, shape, skip_zero_weights=skip_zero_weights, **conv_geometry(layer))
        return fan.expand(shape)
    raise SyopsError(f"fanout: {type(layer).__name__} is not a Conv/ConvTranspose/Linear layer")
