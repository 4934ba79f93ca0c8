"""snnTorch: neuron rules and the framework's reset.

snnTorch neurons are single-step modules: a network loops over time inside its own ``forward`` and calls
each neuron T times per sample with ``[B, ...]`` input, so a call updates B·neurons states. Spikes are the
first output (``spk``, divided by ``graded_spikes_factor`` when spikes are graded).

- ``Leaky``, ``Synaptic``, ``Lapicque``, ``Alpha``, ``DeltaLeaky``, ``RLeaky``, ``RSynaptic``: a decay
  multiply (β, α) in every update: a MAC. The recurrent connection of ``RLeaky`` / ``RSynaptic``
  (``recurrent``: a Linear, a Conv2d or a one-to-one scaling) is a child module counted as one, its
  input the previous step's spikes.
- ``SLSTM``: the ``LSTMCell`` child is counted as an LSTM cell (input-to-hidden and hidden-to-hidden
  apart); ``SConv2dLSTM``: its ``Conv2d`` child over the concatenation [input, h] and the gate arithmetic
  (6 operations per hidden element: i·g, f·c, their sum, tanh(c), o·tanh(c) and the output gate, as
  ptflops counts LSTM gates without the input/hidden sum). The neuron update of both is the threshold
  and reset (an AC); their leak lives in the LSTM gates.
- ``LeakyParallel``: its ``nn.RNN`` child computes the membrane over the whole sequence ([T, B, ...]); the
  neuron update is the threshold (an AC). ``StateLeaky`` / ``LinearLeaky`` take [T, B, ...] and decay
  the membrane (MACs); ``LinearLeaky``'s Linear child counts itself.
"""

from __future__ import annotations

import snntorch as snn
from snntorch._neurons import rleaky, rsynaptic
from torch import Tensor, nn

from ..rules._util import first_tensor, tensor_arg
from ..rules.registry import module_rule
from ..terms import Elementwise, NeuronLayout, Term, neuron_term


def _spikes(m: nn.Module, out) -> Tensor | None:
    spk = first_tensor(out)
    if spk is None:
        return None
    factor = getattr(m, "graded_spikes_factor", None)
    return spk / factor if isinstance(factor, Tensor) else spk


def _spiking(leaky: bool, layout: NeuronLayout = "step", state_words: int = 1):
    def rule(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
        spikes = _spikes(m, out)
        return [neuron_term(spikes, layout, leaky, state_words=state_words)] if spikes is not None else []

    return rule


# Only concrete neurons: a module deriving from SpikingNeuron directly (AssociativeLeaky, a user's own)
# is not assumed to be one; its child layers and functional ops are counted instead. State words per
# neuron: the membrane; Synaptic / RSynaptic add a synaptic current, Alpha an excitatory and an
# inhibitory current, SLSTM / SConv2dLSTM keep the cell state beside the membrane.
module_rule(snn.Leaky, snn.Lapicque, snn.DeltaLeaky, family="neuron", layout="step")(_spiking(True))
module_rule(snn.Synaptic, family="neuron", layout="step")(_spiking(True, state_words=2))
module_rule(snn.Alpha, family="neuron", layout="step")(_spiking(True, state_words=3))
module_rule(snn.RLeaky, family="neuron", children=True, layout="step")(_spiking(True))
module_rule(snn.RSynaptic, family="neuron", children=True, layout="step")(_spiking(True, state_words=2))
module_rule(snn.SLSTM, family="neuron", children=True, layout="step")(_spiking(False, state_words=2))
module_rule(snn.LeakyParallel, family="neuron", children=True, layout="TB")(_spiking(False, layout="TB"))


@module_rule(snn.SConv2dLSTM, family="neuron", children=True, layout="step")
def sconv2dlstm(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    spikes = _spikes(m, out)
    if spikes is None:
        return []
    mem = m.mem  # [B, hidden channels, H, W]: one gate computation per element
    return [neuron_term(spikes, "step", False, state_words=2), Elementwise((), 6 * mem.numel())]


@module_rule(snn.StateLeaky, snn.LinearLeaky, family="neuron", children=True, layout="TB")
def state_leaky(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """[T, B, ...] in, the membrane (and with ``output=True`` the spikes) out."""
    mem = out[-1] if isinstance(out, tuple) else out
    if not isinstance(mem, Tensor):
        return []
    spikes = _spikes(m, out) if isinstance(out, tuple) else None
    analog = spikes is None
    if analog:
        spikes = mem.new_zeros(neuron_term(mem, "TB", True).neurons)  # the membrane only: no events
    return [neuron_term(mem, "TB", True, spikes=spikes, analog=analog)]


@module_rule(rleaky.RecurrentOneToOne, rsynaptic.RecurrentOneToOne, phase="pre")
def one_to_one(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """Spikes scaled by V, one operation per element."""
    x = tensor_arg(args, kwargs)
    return [Elementwise((x,), x.numel())]


def reset(model: nn.Module) -> None:
    """snnTorch's own per-neuron reset (``reset_mem``) of every neuron in ``model``. (``snntorch.utils.reset``
    resets every instance of a class process-wide and only looks at direct children.)"""
    for module in model.modules():
        if isinstance(module, snn.SpikingNeuron) and callable(getattr(module, "reset_mem", None)):
            module.reset_mem()
