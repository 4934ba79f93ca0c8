"""Fully connected layers: Linear (module and F.linear) and Bilinear.

Linear: in_features MACs per output element, plus one per output element for a bias (as ptflops
0.7.5 counts it). An input event reaches out_features
synapses, or with ``skip_zero_weights`` the number of non-zero weights in its column.

Bilinear: y_o = x1ᵀ A_o x2 + b_o costs in1·in2 MACs per output element. An event in x1 alone does not
remove the multiplication by the dense x2, so the layer runs on ACs only when both inputs are event
tensors: each pair of events meets out_features weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..terms import Product, Synaptic
from ._util import arg, refuse_unbatched, tensor_arg
from .registry import RuleContext, module_rule, op_rule


def linear_term(x: Tensor, out: Tensor, weight: Tensor, has_bias: bool, ctx: RuleContext) -> Synaptic:
    bias_adds = out.numel() if has_bias else 0
    dense = out.numel() * weight.shape[-1]
    if ctx.skip_zero_weights:
        key = ("linear-nnz", id(weight), tuple(weight.shape), weight.device)

        def make():
            return (weight.detach() != 0).sum(0).to(torch.float64)

        fanout = ctx.fanouts.get(key, make) if ctx.fanouts is not None else make()
    else:
        fanout = float(weight.shape[0]) if weight.dim() == 2 else 1.0
    out_features = weight.shape[0] if weight.dim() == 2 else 1
    return Synaptic(
        x,
        dense + bias_adds,
        fanout,
        bias_adds,
        weights=weight.numel(),
        bias=out_features if has_bias else 0,
        outputs=out.numel(),
        in_per_image=weight.shape[-1],
    )


@module_rule(nn.Linear, family="synaptic")
def linear_module(m: nn.Linear, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    refuse_unbatched(x, 2, "[B, ..., in_features]")
    return [linear_term(x, out, m.weight, m.bias is not None, ctx)]


@op_rule(F.linear, name="linear")
def linear_op(func, args, kwargs, out, ctx):
    weight = tensor_arg(args, kwargs, 1, "weight")
    return [linear_term(tensor_arg(args, kwargs), out, weight, arg(args, kwargs, 2, "bias") is not None, ctx)]


def _bilinear_pairs(out_features: int):
    def pairs(a: Tensor, b: Tensor) -> Tensor:
        # Σ_n (Σ_i |x1_ni|)(Σ_j |x2_nj|) · out_features
        return (a.sum(-1) * b.sum(-1)).sum(dtype=torch.float64) * out_features

    return pairs


def bilinear_term(x1: Tensor, x2: Tensor, out: Tensor, weight: Tensor, has_bias: bool) -> Product:
    bias_adds = out.numel() if has_bias else 0
    dense = out.numel() * weight.shape[1] * weight.shape[2] + bias_adds
    return Product(
        x1, x2, dense, None, None, _bilinear_pairs(weight.shape[0]), bias_adds, out.numel(), weights=weight.numel()
    )


@module_rule(nn.Bilinear, family="synaptic")
def bilinear_module(m: nn.Bilinear, args, kwargs, out, ctx):
    x1 = tensor_arg(args, kwargs, 0, "input1")
    x2 = tensor_arg(args, kwargs, 1, "input2")
    return [bilinear_term(x1, x2, out, m.weight, m.bias is not None)]


@op_rule(F.bilinear, name="bilinear")
def bilinear_op(func, args, kwargs, out, ctx):
    x1 = tensor_arg(args, kwargs, 0, "input1")
    x2 = tensor_arg(args, kwargs, 1, "input2")
    weight = tensor_arg(args, kwargs, 2, "weight")
    return [bilinear_term(x1, x2, out, weight, arg(args, kwargs, 3, "bias") is not None)]
