"""nn.MultiheadAttention: the three input projections, Q·Kᵀ, the softmax, A·V and the output projection,
each classified by its own operands.

The module runs as one fused call, so its intermediate tensors are recomputed here (eval mode, no
dropout) from the module's weights: q, k, v after projection, the attention weights and the attention
output before the output projection. A projection of a spiking input is event-driven (ACs); Q·Kᵀ of two
spike tensors counts the exact number of products of two events, and A·V with spiking V the events of V
times the query length.

Dense MACs follow ptflops' multihead-attention hook where the two agree: L·E·E (Q), S·kdim·E (K),
S·vdim·E (V), one add per projected element for the in-projection bias, L·E for the scaling of Q, per
head L·S·d for Q·Kᵀ, L·S for the softmax and L·S·d for A·V, then L·E·E plus L·E bias adds for the output
projection, all times the batch size. ptflops writes the K and V projections as S·kdim·kdim and S·vdim·vdim
and the output projection as L·vdim·(vdim + 1) (the same when kdim = vdim = E), always counts the output
bias, and ignores ``add_bias_kv`` / ``add_zero_attn`` (here they lengthen S).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import SyopsError
from ..terms import Elementwise, Synaptic, Term
from ._util import arg
from .matmul import matmul_term
from .registry import module_rule


def projection_term(x: Tensor, weight: Tensor, bias: Tensor | None, images: int | None = None) -> Synaptic:
    """x [..., in] times weightᵀ [in, out]: a Linear without the module; ``images``: the samples (a
    sample's tokens share one read of the weights under ideal reuse)."""
    rows = x.numel() // max(weight.shape[1], 1)
    outputs = rows * weight.shape[0]
    bias_adds = outputs if bias is not None else 0
    return Synaptic(
        x,
        outputs * weight.shape[1] + bias_adds,
        float(weight.shape[0]),
        bias_adds,
        weights=weight.numel(),
        bias=weight.shape[0] if bias is not None else 0,
        outputs=outputs,
        in_per_image=weight.shape[1],
        images=images,
    )


def _time_first(x: Tensor, batch_first: bool, batched: bool) -> Tensor:
    if not batched:
        return x.unsqueeze(1)
    return x.transpose(0, 1) if batch_first else x


def in_projections(m: nn.MultiheadAttention) -> tuple[tuple[Tensor, Tensor | None], ...]:
    """(weight, bias) of the query, key and value projections."""
    e = m.embed_dim
    bias = m.in_proj_bias
    biases = (None, None, None) if bias is None else (bias[:e], bias[e : 2 * e], bias[2 * e :])
    if m._qkv_same_embed_dim:
        w = m.in_proj_weight
        weights = (w[:e], w[e : 2 * e], w[2 * e :])
    else:
        weights = (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
    return tuple(zip(weights, biases, strict=True))


def recompute(m: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor) -> tuple[list[Term], Tensor]:
    """Terms of one call, and the output recomputed without masks (time-first [L, N, E]). Masks change no
    count: a masked position is still computed densely."""
    batched = query.dim() == 3
    q_in = _time_first(query, m.batch_first, batched)
    k_in = _time_first(key, m.batch_first, batched)
    v_in = _time_first(value, m.batch_first, batched)
    (wq, bq), (wk, bk), (wv, bv) = in_projections(m)
    batch = q_in.shape[1]
    terms: list[Term] = [
        projection_term(q_in, wq, bq, batch),
        projection_term(k_in, wk, bk, batch),
        projection_term(v_in, wv, bv, batch),
    ]
    q, k, v = F.linear(q_in, wq, bq), F.linear(k_in, wk, bk), F.linear(v_in, wv, bv)

    length, batch, embed = q.shape
    heads = m.num_heads
    head_dim = embed // heads
    if m.bias_k is not None and m.bias_v is not None:
        k = torch.cat([k, m.bias_k.repeat(1, batch, 1)])
        v = torch.cat([v, m.bias_v.repeat(1, batch, 1)])
    q = q.reshape(length, batch * heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], batch * heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], batch * heads, head_dim).transpose(0, 1)
    if m.add_zero_attn:
        k = torch.cat([k, k.new_zeros(batch * heads, 1, head_dim)], dim=1)
        v = torch.cat([v, v.new_zeros(batch * heads, 1, head_dim)], dim=1)

    terms.append(Elementwise((q,), q.numel()))  # q / sqrt(d)
    scores = torch.bmm(q * (1.0 / math.sqrt(head_dim)), k.transpose(-2, -1))
    terms.append(matmul_term(q, k.transpose(-2, -1), scores))
    weights = torch.softmax(scores, dim=-1)
    terms.append(Elementwise((), weights.numel()))
    attended = torch.bmm(weights, v)
    terms.append(matmul_term(weights, v, attended))
    attended = attended.transpose(0, 1).reshape(length, batch, embed)
    terms.append(projection_term(attended, m.out_proj.weight, m.out_proj.bias, batch))
    return terms, F.linear(attended, m.out_proj.weight, m.out_proj.bias)


@module_rule(nn.MultiheadAttention, family="synaptic")
def multihead_attention(m: nn.MultiheadAttention, args, kwargs, out, ctx) -> list[Term]:
    query = arg(args, kwargs, 0, "query")
    key = arg(args, kwargs, 1, "key")
    value = arg(args, kwargs, 2, "value")
    if not all(isinstance(t, Tensor) for t in (query, key, value)):
        raise SyopsError("MultiheadAttention: query, key and value must be tensors")
    if query.is_nested:
        raise SyopsError("MultiheadAttention: nested-tensor inputs are not supported; pass padded tensors")
    return recompute(m, query, key, value)[0]
