"""Activations: one operation per input element (ptflops counts output elements; for elementwise
activations the two are equal). Counted before the call, so ``inplace=True`` cannot hide the input."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..terms import Elementwise
from ._util import tensor_arg
from .registry import module_rule, op_rule

ACTIVATION_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.LogSigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Hardshrink,
    nn.Softshrink,
    nn.Tanhshrink,
    nn.Threshold,
    nn.Softplus,
    nn.Softsign,
    nn.Softmax,
    nn.Softmax2d,
    nn.LogSoftmax,
    nn.Softmin,
    nn.GLU,
)

# (where the function lives, its name): every spelling a model may use.
ACTIVATION_FUNCTIONS = (
    [(F, n) for n in ("relu", "relu_", "relu6", "elu", "selu", "celu", "leaky_relu", "prelu", "rrelu", "gelu")]
    + [(F, n) for n in ("silu", "mish", "hardswish", "hardsigmoid", "hardtanh", "softplus", "softsign")]
    + [(F, n) for n in ("softmax", "log_softmax", "softmin", "glu", "logsigmoid", "threshold", "tanhshrink")]
    + [(torch, n) for n in ("relu", "relu_", "sigmoid", "tanh", "softmax", "log_softmax", "selu", "celu")]
    + [(torch.Tensor, n) for n in ("relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "softmax")]
    + [(torch.Tensor, "log_softmax")]
    # clamping is a comparison per element, as hardtanh
    + [(torch, n) for n in ("clamp", "clamp_", "clip", "clip_")]
    + [(torch.Tensor, n) for n in ("clamp", "clamp_", "clip", "clip_")]
)


def input_elements(target, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    return [Elementwise((x,), x.numel())]


module_rule(*ACTIVATION_MODULES, phase="pre")(input_elements)
for _owner, _name in ACTIVATION_FUNCTIONS:
    op_rule(getattr(_owner, _name, None), name=_name.rstrip("_"), phase="pre")(input_elements)
