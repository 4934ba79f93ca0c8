"""Upsampling: one operation per output element (ptflops), classified by the input."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..terms import Elementwise
from ._util import first_tensor, tensor_arg
from .registry import module_rule, op_rule


def output_elements(target, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    y = first_tensor(out)
    return [Elementwise((x,), y.numel() if y is not None else 0)]


module_rule(nn.Upsample)(output_elements)
op_rule(F.interpolate, name="interpolate")(output_elements)
op_rule(F.upsample, name="interpolate")(output_elements)
