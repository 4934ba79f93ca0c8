"""Products of activations called as functions: matmul / mm / bmm / addmm / baddbmm, einsum, and
scaled_dot_product_attention.

Dense MACs: output elements × contracted length (ptflops' matmul convention, with broadcast batch
dimensions counted). Event-driven: an event of one operand takes part in (dense MACs / its numel)
products, each an AC; when both operands are event tensors, the exact number of products of two
events is counted instead.
"""

from __future__ import annotations

import math
import string

import torch
import torch.nn.functional as F
from torch import Tensor

from ..terms import Elementwise, Product
from ._util import arg, prod, tensor_arg
from .registry import op_rule


def _matrix_pairs(a: Tensor, b: Tensor) -> Tensor:
    """Σ over batch and contracted index k of (Σ_n |a_nk|)(Σ_m |b_km|): products of two events."""
    if a.dim() == 1:
        a = a.unsqueeze(0)
    if b.dim() == 1:
        b = b.unsqueeze(-1)
    return (a.sum(-2) * b.sum(-1)).sum(dtype=torch.float64)


def matmul_term(a: Tensor, b: Tensor, out: Tensor, bias_adds: int = 0) -> Product:
    k = a.shape[-1]
    dense = out.numel() * k
    return Product(
        a,
        b,
        dense + bias_adds,
        dense / max(a.numel(), 1),
        dense / max(b.numel(), 1),
        _matrix_pairs,
        bias_adds,
        out.numel(),
    )


@op_rule(torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm, name="matmul")
def matmul_op(func, args, kwargs, out, ctx):
    return [matmul_term(tensor_arg(args, kwargs), tensor_arg(args, kwargs, 1, "other"), out)]


@op_rule(torch.Tensor.__rmatmul__, name="matmul")
def rmatmul_op(func, args, kwargs, out, ctx):
    return [matmul_term(tensor_arg(args, kwargs, 1, "other"), tensor_arg(args, kwargs), out)]


@op_rule(torch.bmm, torch.Tensor.bmm, name="bmm")
def bmm_op(func, args, kwargs, out, ctx):
    return [matmul_term(tensor_arg(args, kwargs), tensor_arg(args, kwargs, 1, "mat2"), out)]


@op_rule(torch.addmm, torch.Tensor.addmm, torch.baddbmm, torch.Tensor.baddbmm, name="addmm")
def addmm_op(func, args, kwargs, out, ctx):
    a = tensor_arg(args, kwargs, 1, "mat1" if func in (torch.addmm, torch.Tensor.addmm) else "batch1")
    b = tensor_arg(args, kwargs, 2, "mat2" if func in (torch.addmm, torch.Tensor.addmm) else "batch2")
    beta = kwargs.get("beta", 1)
    return [matmul_term(a, b, out, bias_adds=out.numel() if beta != 0 else 0)]


def _expand_ellipsis(specs: list[str], operands: list[Tensor]) -> list[str]:
    """Name the dimensions an ellipsis stands for with unused letters (aligned from the right)."""
    used = set("".join(specs))
    free = [c for c in string.ascii_letters if c not in used]
    widths = [t.dim() - len(spec.replace("...", "")) for spec, t in zip(specs, operands, strict=True) if "..." in spec]
    names = free[: max(widths, default=0)]
    expanded = []
    for spec, t in zip(specs, operands, strict=True):
        if "..." in spec:
            width = t.dim() - len(spec.replace("...", ""))
            spec = spec.replace("...", "".join(names[len(names) - width :]))
        expanded.append(spec)
    return expanded


@op_rule(torch.einsum, name="einsum")
def einsum_op(func, args, kwargs, out, ctx):
    equation = arg(args, kwargs, 0, "equation")
    operands = list(args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if not isinstance(equation, str) or not all(isinstance(t, Tensor) for t in operands):
        return []
    specs = _expand_ellipsis(equation.replace(" ", "").split("->")[0].split(","), operands)
    sizes: dict[str, int] = {}
    for spec, t in zip(specs, operands, strict=True):
        for letter, size in zip(spec, t.shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), int(size))
    # Every combination of index values is one product (ptflops' matmul convention, generalised).
    dense = math.prod(sizes.values())
    if len(operands) != 2:
        return [Elementwise(tuple(operands), dense)]
    a, b = operands
    spec_a, spec_b = specs
    a_fan = math.prod(sizes[c] for c in set(spec_b) - set(spec_a))
    b_fan = math.prod(sizes[c] for c in set(spec_a) - set(spec_b))
    shared = "".join(sorted(set(spec_a) & set(spec_b)))

    def pairs(abs_a: Tensor, abs_b: Tensor) -> Tensor:
        # Sum each operand over its own indices first: the contraction left is small.
        reduced_a = torch.einsum(f"{spec_a}->{shared}", abs_a.double())
        reduced_b = torch.einsum(f"{spec_b}->{shared}", abs_b.double())
        return torch.einsum(f"{shared},{shared}->", reduced_a, reduced_b)

    return [Product(a, b, dense, float(a_fan), float(b_fan), pairs, outputs=out.numel())]


@op_rule(F.scaled_dot_product_attention, name="sdpa")
def sdpa_op(func, args, kwargs, out, ctx):
    q = tensor_arg(args, kwargs, 0, "query")
    k = tensor_arg(args, kwargs, 1, "key")
    v = tensor_arg(args, kwargs, 2, "value")
    # q: [..., L, E], k: [..., S, E], v: [..., S, Ev]; scores [..., L, S]
    length, source = q.shape[-2], k.shape[-2]
    batch = prod(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
    scores = batch * length * source
    qk = scores * q.shape[-1]
    av = scores * v.shape[-1]
    return [
        Product(
            q, k.transpose(-1, -2), qk, qk / max(q.numel(), 1), qk / max(k.numel(), 1), _matrix_pairs, outputs=scores
        ),
        Elementwise((), scores),  # softmax over the (dense) scores
        # the attention weights (the softmax's output) stay inside the op: a dense operand of `scores` elements
        Product(None, v, av, None, av / max(v.numel(), 1), outputs=out.numel(), a_hidden=scores),
    ]
