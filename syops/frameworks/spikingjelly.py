"""spikingjelly 2.x (``spikingjelly.activation_based``): neuron rules and the framework's reset.

Every neuron class in ``activation_based.neuron`` is registered here, whether or not it derives from
``BaseNode``; a user subclass takes the rule of its nearest registered ancestor, and an unknown subclass of
``BaseNode`` / ``SimpleBaseNode`` counts as leaky (its update assumed to need a multiply).

Per call a neuron layer reports its output spikes (the engine sums them per neuron, on device) and its
state updates: one per output element, i.e. T·B·neurons in multi-step mode ([T, B, ...]) and B·neurons
in single-step mode ([B, ...]). An update is a MAC when the membrane decays (a multiply by the leak) or the
dynamics are otherwise nonlinear (QIF, EIF, Izhikevich, resonate-and-fire...), an AC for pure integrators
(IF and its variants). Each classification below follows the class's charge equation in spikingjelly's
source (``activation_based/functional``).

Layer wrappers (``layer.Conv2d`` ...) subclass the torch layers and are counted through them; the
containers (``SeqToANNContainer``, ``MultiStepContainer``...) are ``nn.Sequential`` subclasses and hold
no arithmetic of their own.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from spikingjelly.activation_based import functional
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based import neuron as sj
from torch import Tensor, nn

from ..rules._util import first_tensor
from ..rules.registry import module_rule, zero_cost
from ..terms import Elementwise, NeuronLayout, Synaptic, Term, neuron_term

# -- classification ----------------------------------------------------------------------------------

# Pure integrators: v ← v + x (plus a threshold comparison and a reset), one AC per update.
NON_LEAKY: tuple[type, ...] = (
    sj.IFNode,
    sj.HalfThresholdIFNode,
    sj.SimpleIFNode,
    sj.TernaryIFNode,
    sj.ActivationAwareIFNode,  # v ← v + x, with a per-channel offset added at the threshold
)

# A multiply in every update: a leak (LIF and its variants), a learnt decay (PLIF, KLIF, gated),
# synaptic current (CUBA), an adaptation current (Izhikevich, adaptive), or nonlinear dynamics.
LEAKY: tuple[type, ...] = (
    sj.BaseNode,  # unknown subclasses: assume a multiply (upper bound)
    sj.SimpleBaseNode,
    sj.LIFNode,  # and ILIF, OTTT / SLTT online-learning LIF (subclasses)
    sj.SimpleLIFNode,
    sj.ParametricLIFNode,
    sj.QIFNode,
    sj.EIFNode,
    sj.AdaptBaseNode,
    sj.IzhikevichNode,
    sj.KLIFNode,
    sj.ComplementaryLIFNode,
    sj.CUBALIFNode,
    sj.RAFNode,
    sj.TernaryLIFNode,
    sj.GatedLIFNode,
    sj.FlexSN,  # a user-supplied core: assume a multiply
    sj.NoisyBaseNode,
    sj.NoisyCUBALIFNode,
)

# Inter-layer-connection neurons own a learnt Conv1d from their spikes to their next-step input; it is
# a child module and is counted as one (its own row, its input the layer's spikes).
ILC_LEAKY: tuple[type, ...] = (
    sj.ILCBaseNode,
    sj.ILCLIFNode,
    sj.ILCCUBALIFNode,
    sj.NoisyILCBaseNode,
    sj.NoisyILCCUBALIFNode,
)
ILC_NON_LEAKY: tuple[type, ...] = (sj.ILCIFNode,)

# The output is analog (a membrane read-out, or act(v) for LIAF): updates, but no events emitted.
ANALOG_LEAKY: tuple[type, ...] = (sj.LIAFNode, sj.NonSpikingBaseNode, sj.NonSpikingLIFNode, sj.NoisyNonSpikingBaseNode)
ANALOG_NON_LEAKY: tuple[type, ...] = (sj.NonSpikingIFNode, sj.NoisyNonSpikingIFNode)


def _sample_dims(module: nn.Module) -> int:
    """Leading non-neuron dimensions of a call: [T, B] in multi-step mode, [B] in single-step mode."""
    if getattr(module, "_step_mode", None) is None:  # multi-step-only modules have no step_mode attribute
        return 2 if "s" not in _supported(module) else 1
    return 2 if module.step_mode == "m" else 1


def _supported(module: nn.Module) -> tuple[str, ...]:
    supported = getattr(module, "supported_step_mode", None)
    return tuple(supported()) if callable(supported) else ("s", "m")


def _layout(module: nn.Module) -> NeuronLayout:
    return "TB" if _sample_dims(module) == 2 else "step"


def state_words(module: nn.Module) -> int:
    """Words of state per neuron: the memories the neuron registers (v; v and a current, an adaptation
    variable, a trace...), at least one."""
    return max(1, len(getattr(module, "_memories", ())))


def _spiking_rule(leaky: bool, scale: Callable[[nn.Module], Tensor | float] | None = None):
    def rule(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
        spikes = first_tensor(out)
        if spikes is None:
            return []
        if scale is not None:
            spikes = spikes / scale(m)  # graded spikes: output = spike × scale
        return [neuron_term(spikes, _layout(m), leaky, state_words=state_words(m))]

    return rule


def _analog_rule(leaky: bool):
    """Updates of a neuron whose output is not spikes: one per input element, no events."""

    def rule(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
        x = first_tensor((args, kwargs))
        if x is None:
            return []
        term = neuron_term(x, _layout(m), leaky)
        zeros = x.new_zeros(term.neurons)
        return [neuron_term(x, _layout(m), leaky, spikes=zeros, state_words=state_words(m), analog=True)]

    return rule


# -- registrations (a later registration of a subclass overrides its parent's) -----------------------

module_rule(*LEAKY, family="neuron", layout=_layout)(_spiking_rule(True))
module_rule(*NON_LEAKY, family="neuron", layout=_layout)(_spiking_rule(False))
module_rule(*ILC_LEAKY, family="neuron", layout=_layout, children=True)(_spiking_rule(True))
module_rule(*ILC_NON_LEAKY, family="neuron", layout=_layout, children=True)(_spiking_rule(False))
module_rule(*ANALOG_LEAKY, family="neuron", layout=_layout)(_analog_rule(True))
module_rule(*ANALOG_NON_LEAKY, family="neuron", layout=_layout)(_analog_rule(False))

# Graded spikes, output = spike × scale: count the spikes. DSR-IF integrates (v ← v + x[t]), DSR-LIF
# leaks (v ← βv + (1-β)x[t]) and divides its spikes by Δt; STBIF is a signed integrate-and-fire on
# quantised input whose output is a multiple of its quantisation step.
module_rule(sj.DSRIFNode, family="neuron", layout=_layout)(
    _spiking_rule(False, lambda m: m.v_threshold.detach().clamp(min=m.v_threshold_lower_bound))
)
module_rule(sj.DSRLIFNode, family="neuron", layout=_layout)(
    _spiking_rule(True, lambda m: m.v_threshold.detach().clamp(min=m.v_threshold_lower_bound) / m.delta_t)
)
module_rule(sj.STBIFNode, family="neuron", layout=_layout)(_spiking_rule(False, lambda m: m.q_threshold.detach()))


@module_rule(sj.MPBNBaseNode, family="neuron", layout=_layout)
def mpbn(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """LIF with a batch norm on the membrane potential: leaky updates plus the norm (2 ops per element
    with an affine part, as for BatchNorm)."""
    spikes = first_tensor(out)
    if spikes is None:
        return []
    terms: list[Term] = [neuron_term(spikes, _layout(m), True, state_words=state_words(m))]
    vbn = getattr(m, "vbn", None)
    if vbn is not None and not isinstance(vbn, nn.Identity):
        terms.append(Elementwise((), spikes.numel() * (2 if getattr(vbn, "affine", False) else 1)))
    return terms


@module_rule(sj.FewSpikeNode, family="neuron", layout=_layout)
def few_spike(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """Few-spike neurons (FS, outlier-aware, HG): K phases per step, each a subtract-and-compare (AC).

    In multi-step mode the output is the K weighted spikes d_k·z_k; in single-step mode it is their sum,
    so the phases are recomputed (the module's own table) to count the spikes."""
    y = first_tensor(out)
    if y is None:
        return []
    if _sample_dims(m) == 2:
        seq = y
    else:
        seq = m._forward_from_gate(first_tensor((args, kwargs)), return_sequence=True)
    return [neuron_term(seq != 0, "TB", False)]


# -- parametric spiking neurons: a learnt weighted sum over time steps -----------------------------


def _temporal_mask(m: nn.Module, steps: int) -> Tensor:
    """[T_out, T_in] structure of the time-mixing matrix (1 where a weight takes part)."""
    if isinstance(m, sj.MaskedPSN):
        return (m.mask0 if float(m.lambda_) >= 1.0 else m.mask1).detach().to(torch.float64)
    if isinstance(m, sj.SlidingPSN):
        ones = torch.ones(steps, steps, dtype=torch.float64, device=m.weight.device)
        return torch.tril(ones) - torch.tril(ones, -m.k)
    return torch.ones(steps, steps, dtype=torch.float64, device=m.weight.device)


@module_rule(sj.PSN, sj.MaskedPSN, sj.SlidingPSN, family="neuron", layout=_layout)
def psn(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """PSN family: h = W·x_seq + b over time, then a threshold.

    Multi-step: the T×T time-mixing matmul is a synaptic term over the input sequence (dense: T·T MACs
    per neuron and sample; events: each input event meets the weights of its column of W, T for PSN,
    fewer for the masked and sliding variants) plus one bias add per output; the threshold is the
    neuron update (an AC). Single-step (masked / sliding): this step's window of up to k inputs, each
    times one weight."""
    x = first_tensor((args, kwargs))
    spikes = first_tensor(out)
    if x is None or spikes is None:
        return []
    terms: list[Term] = []
    if _sample_dims(m) == 2:
        steps = x.shape[0]
        fanout = _temporal_mask(m, steps).sum(0)  # outputs each input time step reaches
        # [neurons·batch, T] view: the fan-out varies along the last dimension.
        terms.append(Synaptic(x.reshape(steps, -1).t(), steps * x.numel() + x.numel(), fanout, x.numel()))
    else:
        window = torch.stack(list(m.queue)) if len(m.queue) else x.reshape(1, -1)
        terms.append(Synaptic(window, window.numel() + x.numel(), 1.0, x.numel()))
    terms.append(neuron_term(spikes, _layout(m), False, state_words=state_words(m)))
    return terms


# Dropout with a mask kept over time: the identity at inference.
zero_cost(sj_layer.Dropout, sj_layer.Dropout2d)


# -- reset -------------------------------------------------------------------------------------------


def reset(model: nn.Module) -> None:
    """spikingjelly's own reset of every stateful module (``functional.reset_net``)."""
    functional.reset_net(model)
