"""Counting rules of syops' NIR modules (docs/contract.md §3). The synaptic, pooling and reshape modules subclass
torch layers and count through the existing rules; these are the rest.

- Neurons: one update per neuron and time step; an AC for the non-leaky IF and I, a MAC (the decay
  multiply) for LI, LIF, CubaLI and CubaLIF; two state words for the current-based ones (I and v).
  The events are the spikes emitted; LI, CubaLI and I output their membrane (no events).
- Scale and Threshold: one operation per element (AC on an event input, MAC otherwise).
- Delay: a buffer, no arithmetic.
"""

from __future__ import annotations

from torch import nn

from ..rules._util import first_tensor, tensor_arg
from ..rules.registry import module_rule, zero_cost
from ..terms import Elementwise, Term, neuron_term
from .modules import Delay, Scale, Threshold
from .neurons import NEURONS


@module_rule(*NEURONS, family="neuron", layout="step")
def nir_neuron(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    y = first_tensor(out)
    if y is None:
        return []
    term = neuron_term(y, "step", m.leaky, state_words=m.state_words)
    if m.spiking:
        return [term]
    silent = y.new_zeros(term.neurons)
    return [neuron_term(y, "step", m.leaky, spikes=silent, state_words=m.state_words, analog=True)]


@module_rule(Scale, Threshold, phase="pre")
def per_element(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    x = tensor_arg(args, kwargs)
    return [Elementwise((x,), x.numel())]


zero_cost(Delay)
