"""Pooling, ptflops' convention: one operation per input element, adaptive pooling included."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..terms import Elementwise
from ._util import first_tensor, tensor_arg
from .registry import module_rule, op_rule

POOLING_MODULES = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.LPPool1d,
    nn.LPPool2d,
    nn.LPPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
    nn.MaxUnpool1d,
    nn.MaxUnpool2d,
    nn.MaxUnpool3d,
)

POOLING_FUNCTIONS = (
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
)


def input_elements(target, args, kwargs, out, ctx):
    """One operation per input element; the pooled output is what is written."""
    x = tensor_arg(args, kwargs)
    y = first_tensor(out)
    return [Elementwise((x,), x.numel(), outputs=y.numel() if y is not None else None)]


module_rule(*POOLING_MODULES)(input_elements)
for _name in POOLING_FUNCTIONS:
    op_rule(getattr(F, _name), name=_name)(input_elements)
