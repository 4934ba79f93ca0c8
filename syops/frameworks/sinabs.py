"""sinabs: neuron rules and the framework's reset. Never imports ``sinabs.backend.dynapcnn`` (it imports
``samna``, which tries to reinstall itself).

sinabs layers take ``[B, T, ...]`` input; the ``*Squeeze`` variants take ``[B·T, ...]`` (give
``batch_size`` to ``syops.profile`` so the samples are counted right). Spikes are integer counts (the
default ``MultiSpike`` can emit several per step), each one event.

- ``IAF``: v ← v + x, an AC per update; with a synaptic time constant the current decays (a MAC).
- ``LIF``, ``ALIF`` (adaptive threshold), ``ExpLeak`` (a leaky integrator without spikes, its output the
  membrane potential: no events): v ← αv + ..., a MAC per update.
- The ``*Recurrent`` variants feed their spikes back through ``rec_connect``, a child module counted as
  one (its own row; its input is the layer's spikes).
- ``NeuromorphicReLU`` (the rate-coded proxy of an IAF layer used to train ANNs): a non-leaky neuron whose
  output is the spike count.
- ``SumPool2d`` is an ``LPPool2d`` and counted as pooling; ``SpikingMaxPooling2dLayer`` one operation per
  input element; ``Merge`` one addition per output element; cropping, channel shifts and time
  reshapes are free.
"""

from __future__ import annotations

import sinabs.layers as sl
from torch import nn

from ..layers import neuromorphic_relu_rule
from ..rules._util import first_tensor, tensor_arg
from ..rules.registry import module_rule, zero_cost
from ..terms import Elementwise, Neuron, NeuronLayout, Term, neuron_term


def _layout(module: nn.Module) -> NeuronLayout:
    """[B·T, ...] for the squeezed layers, [B, T, ...] otherwise."""
    return "squeezed" if isinstance(module, sl.SqueezeMixin) else "BT"


def _leaky(module: nn.Module) -> bool:
    if isinstance(module, (sl.IAF, sl.IAFRecurrent)):
        return getattr(module, "tau_syn", None) is not None  # only a synaptic current would decay
    return True


def state_words(module: nn.Module) -> int:
    """Words of state per neuron: the membrane, plus a synaptic current (``tau_syn``) and an adaptive
    threshold (ALIF's ``b``) where the layer keeps them."""
    return max(1, sum(name in module._buffers for name in ("v_mem", "i_syn", "b")))


def _neuron(module: nn.Module, spikes_or_none, x) -> Neuron:
    term = neuron_term(x, _layout(module), _leaky(module))
    analog = spikes_or_none is None
    spikes = x.new_zeros(term.neurons) if analog else spikes_or_none
    words = state_words(module)
    return neuron_term(x, _layout(module), _leaky(module), spikes=spikes, state_words=words, analog=analog)


@module_rule(sl.StatefulLayer, family="neuron", layout=_layout)
def stateful_neuron(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """One update per neuron and time step; the output is the spike count (or, for a layer that does
    not spike, the membrane potential: no events)."""
    y = first_tensor(out)
    if y is None:
        return []
    return [_neuron(m, y if m.does_spike else None, y)]


# Recurrent layers: the same, and rec_connect (a child module) counts itself.
module_rule(sl.IAFRecurrent, sl.LIFRecurrent, sl.ALIFRecurrent, family="neuron", children=True, layout=_layout)(
    stateful_neuron
)


# sinabs' NeuromorphicReLU counts like syops' own (syops.layers): a non-leaky neuron's spike count.
module_rule(sl.NeuromorphicReLU, family="neuron")(neuromorphic_relu_rule)


@module_rule(sl.SpikingMaxPooling2dLayer, phase="pre")
def spiking_max_pool(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    x = tensor_arg(args, kwargs)
    return [Elementwise((x,), x.numel())]


@module_rule(sl.Merge)
def merge(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    a = tensor_arg(args, kwargs, 0, "data1")
    b = tensor_arg(args, kwargs, 1, "data2")
    y = first_tensor(out)
    return [Elementwise((a, b), y.numel() if y is not None else max(a.numel(), b.numel()))]


zero_cost(sl.Cropping2dLayer, sl.ChannelShift, sl.UnflattenTime, sl.FlattenTime)


def reset(model: nn.Module) -> None:
    """sinabs' own reset (``StatefulLayer.reset_states``) of every stateful layer, nested ones included
    (``sinabs.reset_states`` skips layers that have children, such as the recurrent ones)."""
    for module in model.modules():
        if isinstance(module, sl.StatefulLayer):
            module.reset_states()
