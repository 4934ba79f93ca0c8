"""Elementwise arithmetic called outside any counted module: residual additions, SEW connections
(ADD, AND, IAND), scaling. One operation per output element (ptflops), ACs when every tensor operand is
an event tensor. Sums and means cost one operation per input element (ptflops does not count them)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..terms import Elementwise
from ._util import arg, prod
from .registry import op_rule

# op name -> method / function names that perform it (in-place and reflected spellings included)
_BINARY = {
    "add": ("add", "add_", "__add__", "__radd__", "__iadd__"),
    "sub": ("sub", "sub_", "subtract", "rsub", "__sub__", "__rsub__", "__isub__"),
    "mul": ("mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__"),
    "div": ("div", "div_", "divide", "true_divide", "__truediv__", "__rtruediv__", "__itruediv__"),
    "and": ("logical_and", "logical_and_", "bitwise_and", "bitwise_and_", "__and__", "__rand__", "__iand__"),
    "or": ("logical_or", "logical_or_", "bitwise_or", "bitwise_or_", "__or__", "__ror__", "__ior__"),
    "xor": ("logical_xor", "logical_xor_", "bitwise_xor", "bitwise_xor_", "__xor__", "__rxor__", "__ixor__"),
}
_REDUCTIONS = {"sum": ("sum",), "mean": ("mean",)}


def binary_elementwise(func, args, kwargs, out, ctx):
    a = arg(args, kwargs, 0, "input")
    b = arg(args, kwargs, 1, "other")
    tensors = tuple(t for t in (a, b) if isinstance(t, Tensor))
    if not tensors:
        return []
    if len(tensors) == 1 or tensors[0].shape == tensors[1].shape:  # the common case, without broadcasting
        return [Elementwise(tensors, tensors[0].numel())]
    shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    return [Elementwise(tensors, prod(shape))]


def reduction(func, args, kwargs, out, ctx):
    x = arg(args, kwargs, 0, "input")
    if not isinstance(x, Tensor):
        return []
    return [Elementwise((x,), x.numel(), outputs=out.numel() if isinstance(out, Tensor) else 1)]


def _functions(names: tuple[str, ...]):
    for owner in (torch, torch.Tensor):
        for name in names:
            found = getattr(owner, name, None)
            if found is not None:
                yield found


for _op, _names in _BINARY.items():
    op_rule(*_functions(_names), name=_op, phase="pre")(binary_elementwise)
for _op, _names in _REDUCTIONS.items():
    op_rule(*_functions(_names), name=_op)(reduction)
