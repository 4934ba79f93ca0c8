"""Convolutions, as modules and as functional calls.

Dense MACs follow ptflops: a convolution costs (in-channels/groups × kernel elements) per output
element, padding positions included; a transposed convolution costs (out-channels/groups × kernel
elements) per input element. A bias adds one per output element. Event-driven synops use the exact,
border-aware fan-out map of the layer (see syops.fanout).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..fanout import conv_fanout_map, conv_geometry
from ..terms import Synaptic
from ._util import arg, prod, refuse_unbatched, tensor_arg
from .registry import RuleContext, module_rule, op_rule


def _tuple(value: Any, dims: int) -> tuple:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, int):
        return (value,) * dims
    return tuple(value)


def conv_term(
    x: Tensor,
    out: Tensor,
    weight: Tensor,
    has_bias: bool,
    ctx: RuleContext,
    *,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    reversed_padding: Any = None,
    transposed: bool = False,
) -> Synaptic:
    dims = weight.dim() - 2
    kernel = prod(weight.shape[2:])
    in_shape = tuple(x.shape[-(dims + 1) :])
    if transposed:
        # weight: [C_in, C_out/groups, *k]; every input element meets every tap of its group.
        dense = x.numel() * weight.shape[1] * kernel
        stride_t, pad_t, dil_t = _tuple(stride, dims), _tuple(padding, dims), _tuple(dilation, dims)
        smallest = [
            (i - 1) * s - 2 * p + d * (k - 1) + 1
            for i, s, p, d, k in zip(in_shape[1:], stride_t, pad_t, dil_t, weight.shape[2:], strict=True)
        ]
        output_padding = tuple(o - m for o, m in zip(out.shape[-dims:], smallest, strict=True))
        geometry: dict[str, Any] = {
            "stride": stride_t,
            "padding": pad_t,
            "dilation": dil_t,
            "groups": groups,
            "transposed": True,
            "output_padding": output_padding,
        }
    else:
        # weight: [C_out, C_in/groups, *k]
        dense = out.numel() * weight.shape[1] * kernel
        geometry = {
            "stride": _tuple(stride, dims),
            "padding": _tuple(padding, dims) if not isinstance(padding, str) else padding,
            "dilation": _tuple(dilation, dims),
            "groups": groups,
            "padding_mode": padding_mode,
            "reversed_padding": tuple(reversed_padding) if reversed_padding is not None else None,
        }
    bias_adds = out.numel() if has_bias else 0
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    memory = {
        "weights": weight.numel(),
        "bias": out_channels if has_bias else 0,
        "outputs": out.numel(),
        "in_per_image": prod(in_shape),
    }
    key = (
        "conv",
        tuple(weight.shape),
        tuple(sorted(geometry.items())),
        in_shape,
        ctx.skip_zero_weights,
        weight.device,
        id(weight) if ctx.skip_zero_weights else None,
    )

    def make():
        return conv_fanout_map(weight, in_shape, skip_zero_weights=ctx.skip_zero_weights, **geometry)

    fanout = ctx.fanouts.get(key, make) if ctx.fanouts is not None else make()
    return Synaptic(x, dense + bias_adds, fanout, bias_adds, **memory)


@module_rule(
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, family="synaptic"
)
def conv_module(m: nn.modules.conv._ConvNd, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    dims = m.weight.dim() - 2
    refuse_unbatched(x, dims + 2, {1: "[B, C, L]", 2: "[B, C, H, W]", 3: "[B, C, D, H, W]"}[dims])

    def constants() -> Synaptic:
        geometry = conv_geometry(m)
        # A transposed conv's output padding is read off its actual output (forward may get output_size).
        geometry.pop("output_padding", None)
        term = conv_term(x, out, m.weight, m.bias is not None, ctx, **geometry)
        return replace(term, x=None)

    if ctx.skip_zero_weights:  # the fan-out reads the weights' values: worked out once per session
        key = ("conv-module", id(m), id(m.weight), m.bias is not None, x.shape, out.shape)
        template = ctx.fanouts.get(key, constants) if ctx.fanouts is not None else constants()
    else:
        key = _template_key(m, x, out)
        template = constants() if key is None else _TEMPLATES.get(key, constants)
    return [_with_input(template, x)]


def _template_key(m: nn.modules.conv._ConvNd, x: Tensor, out: Tensor) -> tuple | None:
    """Everything a convolution's term (but its input) is worked out from: the class (transposed or not),
    the weight's shape and device, the bias, the geometry (``conv_geometry`` reads these attributes) and
    the input and output shapes. None when an attribute is not hashable (a list set by hand)."""
    weight = m.weight
    reversed_padding = getattr(m, "_reversed_padding_repeated_twice", None)
    key = (
        type(m),
        weight.shape,
        weight.device,
        m.bias is not None,
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
        m.padding_mode,
        None if reversed_padding is None else tuple(reversed_padding),
        x.shape,
        out.shape,
    )
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _with_input(template: Synaptic, x: Tensor) -> Synaptic:
    t = template
    return Synaptic(x, t.dense_macs, t.fanout, t.bias_adds, t.weights, t.bias, t.outputs, t.in_per_image, t.images)


class _Templates:
    """Terms of convolution modules without their input, kept across profiles (a model profiled again, a
    training loop's synops loss): a term depends only on its key, so a stale one cannot be found. The
    least recently used beyond ``size`` are dropped."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._terms: OrderedDict[tuple, Synaptic] = OrderedDict()

    def get(self, key: tuple, make: Callable[[], Synaptic]) -> Synaptic:
        term = self._terms.get(key)
        if term is None:
            term = self._terms[key] = make()
            if len(self._terms) > self.size:
                self._terms.popitem(last=False)
        else:
            self._terms.move_to_end(key)
        return term


_TEMPLATES = _Templates()


def conv_op(func, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    weight = tensor_arg(args, kwargs, 1, "weight")
    return [
        conv_term(
            x,
            out,
            weight,
            arg(args, kwargs, 2, "bias") is not None,
            ctx,
            stride=arg(args, kwargs, 3, "stride", 1),
            padding=arg(args, kwargs, 4, "padding", 0),
            dilation=arg(args, kwargs, 5, "dilation", 1),
            groups=arg(args, kwargs, 6, "groups", 1),
        )
    ]


def conv_transpose_op(func, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    weight = tensor_arg(args, kwargs, 1, "weight")
    return [
        conv_term(
            x,
            out,
            weight,
            arg(args, kwargs, 2, "bias") is not None,
            ctx,
            stride=arg(args, kwargs, 3, "stride", 1),
            padding=arg(args, kwargs, 4, "padding", 0),
            groups=arg(args, kwargs, 6, "groups", 1),
            dilation=arg(args, kwargs, 7, "dilation", 1),
            transposed=True,
        )
    ]


for _d in (1, 2, 3):
    op_rule(getattr(F, f"conv{_d}d"), name=f"conv{_d}d")(conv_op)
    op_rule(getattr(F, f"conv_transpose{_d}d"), name=f"conv_transpose{_d}d")(conv_transpose_op)
