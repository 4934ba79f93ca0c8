"""RNN, LSTM, GRU and their cells: input-to-hidden and hidden-to-hidden products counted apart.

Each is a synaptic term classified by its own operand: W_ih by the layer's input (a spiking input makes
it event-driven: each input event meets gates·hidden weights), W_hh by the hidden states it multiplies,
h_{t-1} for every step t (h_0 from the call, or zeros). The gate arithmetic is dense. For one
unidirectional layer the hidden states are the layer's output; for stacked or bidirectional layers every
layer is recomputed (one extra forward of the module) to get its input and hidden sequence.

Dense MACs match ptflops' RNN hooks: per step and sample W_ih and W_hh (gates·hidden·in, gates·hidden·h),
both biases, and the gate arithmetic: RNN 1·hidden (the sum of the two products), GRU 7·hidden, LSTM
10·hidden. LSTM with ``proj_size`` adds the projection (hidden·proj MACs), which ptflops leaves out.
Packed sequences are not supported.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from ..errors import SyopsError
from ..terms import Elementwise, Synaptic, Term
from ._util import arg, first_tensor
from .registry import RuleContext, module_rule


def _gate_ops(m: nn.Module) -> int:
    """Elementwise operations per hidden unit and step, as ptflops counts them: the sum of the two
    products per gate, and for GRU / LSTM the gating (r ⊙ ..., z-interpolation; f ⊙ c + i ⊙ g, o ⊙ tanh c)."""
    if isinstance(m, (nn.LSTM, nn.LSTMCell)):
        return 10
    if isinstance(m, (nn.GRU, nn.GRUCell)):
        return 7
    return 1


def weight_term(x: Tensor, weight: Tensor, has_bias: bool, ctx: RuleContext) -> Synaptic:
    """x [..., in] times weightᵀ: every input element meets weight.shape[0] weights (or, with
    ``skip_zero_weights``, the non-zero ones of its column)."""
    rows = x.numel() // max(weight.shape[1], 1)
    outputs = rows * weight.shape[0]
    bias_adds = outputs if has_bias else 0
    if ctx.skip_zero_weights:
        key = ("rnn-nnz", id(weight), tuple(weight.shape), weight.device)

        def make() -> Tensor:
            return (weight.detach() != 0).sum(0).to(torch.float64)

        fanout: Tensor | float = ctx.fanouts.get(key, make) if ctx.fanouts is not None else make()
    else:
        fanout = float(weight.shape[0])
    return Synaptic(
        x,
        outputs * weight.shape[1] + bias_adds,
        fanout,
        bias_adds,
        weights=weight.numel(),
        bias=weight.shape[0] if has_bias else 0,
        outputs=outputs,
        in_per_image=weight.shape[1],
        images=rows,  # every step of every sample: a recurrent layer re-reads its weights per step
    )


def _layer_weights(m: nn.RNNBase, layer: int, direction: int) -> list[Tensor]:
    per = len(m._flat_weights) // (m.num_layers * (2 if m.bidirectional else 1))
    start = (layer * (2 if m.bidirectional else 1) + direction) * per
    return m._flat_weights[start : start + per]


def _run_layer(m: nn.RNNBase, x: Tensor, hx, layer: int) -> Tensor:
    """Output [L, N, D·h_out] of one layer of ``m`` (time-first), from torch's own kernels."""
    directions = 2 if m.bidirectional else 1
    weights = [w for d in range(directions) for w in _layer_weights(m, layer, d)]
    sl = slice(layer * directions, (layer + 1) * directions)
    if m.mode == "LSTM":
        return torch._VF.lstm(x, (hx[0][sl], hx[1][sl]), weights, m.bias, 1, 0.0, False, m.bidirectional, False)[0]
    fn = {"GRU": torch._VF.gru, "RNN_TANH": torch._VF.rnn_tanh, "RNN_RELU": torch._VF.rnn_relu}[m.mode]
    return fn(x, hx[sl], weights, m.bias, 1, 0.0, False, m.bidirectional, False)[0]


def _previous_states(seq: Tensor, h0: Tensor, direction: int) -> Tensor:
    """h_{t-1} for every step t: the initial state, then the sequence shifted by one step (reversed for the
    backward direction)."""
    if direction == 0:
        return torch.cat([h0.unsqueeze(0), seq[:-1]])
    return torch.cat([seq[1:], h0.unsqueeze(0)])


@module_rule(nn.RNN, nn.LSTM, nn.GRU, family="synaptic")
def recurrent_layer(m: nn.RNNBase, args, kwargs, out, ctx) -> list[Term]:
    x = arg(args, kwargs, 0, "input")
    if isinstance(x, PackedSequence):
        raise SyopsError(f"{type(m).__name__}: packed sequences are not supported; pass a padded tensor")
    hx = arg(args, kwargs, 1, "hx")
    batched = x.dim() == 3
    # time-first [L, N, in]
    x = (x.transpose(0, 1) if m.batch_first else x) if batched else x.unsqueeze(1)
    directions = 2 if m.bidirectional else 1
    h_out = m.proj_size if getattr(m, "proj_size", 0) else m.hidden_size
    batch = x.shape[1]
    shape = (m.num_layers * directions, batch, h_out)
    if hx is None:
        zeros = x.new_zeros(shape)
        hx = (zeros, x.new_zeros((*shape[:2], m.hidden_size))) if m.mode == "LSTM" else zeros
    elif not batched:
        hx = tuple(h.unsqueeze(1) for h in hx) if m.mode == "LSTM" else hx.unsqueeze(1)
    h0 = hx[0] if m.mode == "LSTM" else hx

    elementwise = _gate_ops(m)
    steps = x.shape[0]
    terms: list[Term] = []
    layer_input = x
    for layer in range(m.num_layers):
        if m.num_layers == 1 and directions == 1:
            y = first_tensor(out)
            layer_output = (y.transpose(0, 1) if m.batch_first else y) if batched else y.unsqueeze(1)
        else:
            layer_output = _run_layer(m, layer_input, hx, layer)
        for d in range(directions):
            w = _layer_weights(m, layer, d)
            w_ih, w_hh = w[0], w[1]
            seq = layer_output[..., d * h_out : (d + 1) * h_out]
            previous = _previous_states(seq, h0[layer * directions + d], d)
            terms.append(weight_term(layer_input, w_ih, m.bias, ctx))
            terms.append(weight_term(previous, w_hh, m.bias, ctx))
            terms.append(Elementwise((), elementwise * m.hidden_size * steps * batch))
            if h_out != m.hidden_size:  # LSTM projection h = W_hr·(o ⊙ tanh c): dense
                terms.append(Elementwise((), m.hidden_size * h_out * steps * batch))
        layer_input = layer_output
    return terms


@module_rule(nn.RNNCell, nn.LSTMCell, nn.GRUCell, family="synaptic")
def recurrent_cell(m: nn.RNNCellBase, args, kwargs, out, ctx) -> list[Term]:
    x = arg(args, kwargs, 0, "input")
    hx = arg(args, kwargs, 1, "hx")
    h = hx[0] if isinstance(hx, (tuple, list)) else hx
    if h is None:
        h = x.new_zeros((*x.shape[:-1], m.hidden_size))
    elementwise = _gate_ops(m)
    rows = x.numel() // max(m.input_size, 1)
    return [
        weight_term(x, m.weight_ih, m.bias, ctx),
        weight_term(h, m.weight_hh, m.bias, ctx),
        Elementwise((), elementwise * m.hidden_size * rows),
    ]
