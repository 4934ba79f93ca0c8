"""Norse: neuron rules and the reset of the state a model keeps.

Norse modules keep no state of their own: each call takes a state (``None``: the module's fresh initial
state) and returns ``(output, new state)``. A *cell* is one step on ``[B, ...]`` (a network loops over
time, in its own forward or under ``time_layout="loop"``); a *sequence module* runs a whole ``[T, B, ...]``
input (the cell's step T times) and returns ``[T, B, ...]``. The output is the spikes ``z`` (binary
events), or for a leaky integrator the membrane potential ``v`` (no events).

Classification, read from the step functions of norse 1.1.0 (``norse.torch.functional``): *leaky* when
the update multiplies a state by a decay (``dt·τ⁻¹·(...)``: a MAC per update), else an AC; *state words*
the per-neuron state the update reads and writes besides the emitted spikes.

=========================================================== ===== ===== ==========================
classes (cell, sequence module, recurrent variants)          leaky words state
=========================================================== ===== ===== ==========================
``IAFCell``, ``IAF``                                          no    1     v (v ← v + x)
``LIFBoxCell``                                                yes   1     v
``LIBoxCell`` (no spikes)                                     yes   1     v
``LIFCell``, ``LIF``, ``LIFRecurrentCell``, ``LIFRecurrent``  yes   2     v, synaptic current i
``LICell``, ``LI``, ``LILinearCell`` (no spikes)              yes   2     v, i
``LIFExCell``, ``LIFEx``, ``LIFExRecurrent(Cell)``            yes   2     v, i
``IzhikevichCell``, ``Izhikevich``, ``...Recurrent(Cell)``    yes   2     v, recovery variable u
``LSNNCell``, ``LSNN``, ``LSNNRecurrent(Cell)``               yes   3     v, i, adaptive threshold b
``LIFAdExCell``, ``LIFAdEx``, ``LIFAdExRecurrent(Cell)``      yes   3     v, i, adaptation current a
``LIFRefracCell``, ``LIFRefracRecurrent(Cell)``               yes   3     v, i, refractory counter ρ
``LIFAdExRefracCell``, ``LIFAdExRefracRecurrent(Cell)``       yes   4     v, i, a, ρ
=========================================================== ===== ===== ==========================

LSNN and AdEx neurons are both current-based and adaptive, so they keep three words, not two.

The recurrent cells and sequence modules hold their weights as parameters, not as modules:
``input_weights`` (W_in · x, on the call's input) and ``recurrent_weights`` (W_rec · z_{t-1}, on the
previous step's spikes: the state's ``z``, zeros for a fresh state) are counted as synaptic layers of their
own, rows ``<layer>.input_weights`` and ``<layer>.recurrent_weights`` of type ``Linear`` (no bias), each
owning its parameter. With ``autapses=False`` (Norse's default) the diagonal of ``recurrent_weights`` is
zero; like every zero weight it is counted unless ``skip_zero_weights`` is set.

Not supported (no rule: they show in ``Report.unsupported`` and their matrix products are counted as
``linear`` ops): ``CobaLIFCell`` (conductance-based, W split into relu(W) and relu(-W)),
``LIFMCRecurrentCell`` / ``LIFMCRefracRecurrentCell`` (a dense coupling matrix over v), sparse inputs.
``Lift``, ``SequentialState`` and ``RecurrentSequential`` are containers, counted through their children.
``norse.torch.from_nir``'s ``CubaLIF`` (a LIBoxCell for the current, a LIFBoxCell, two scalings) is one
leaky neuron with two words of state, as NIR's CubaLIF node.
``LConv2d`` (a Conv2d on every step of ``[T, B, C, H, W]``, run as a Conv3d of kernel depth 1 on the input
permuted to ``[B, C, H, W, T]``) is counted as that Conv3d on the permuted view: the same as T Conv2d calls.

Reset: a module attribute holding Norse state (an instance of a ``...State`` tuple from ``norse``, or a
non-empty list / tuple of such states and ``None`` as ``SequentialState`` returns) is replaced by
``None`` (a list / tuple: a new one of as many ``None``) before every batch, so each batch starts from
Norse's initial state; the profile puts the original objects back afterwards. The state of the nirtorch
executor that ``norse.torch.from_nir`` returns is reset the same way; state kept in a dict is not.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

with warnings.catch_warnings():  # norse scripts functions with torch.jit at import
    warnings.filterwarnings("ignore", category=FutureWarning)
    from norse.torch.module import (
        conv,
        iaf,
        izhikevich,
        lif,
        lif_adex,
        lif_adex_refrac,
        lif_box,
        lif_ex,
        lif_refrac,
        lsnn,
    )
    from norse.torch.module import leaky_integrator as li
    from norse.torch.module import leaky_integrator_box as li_box
    from norse.torch.utils import import_nir

from ..errors import SyopsError
from ..fanout import conv_geometry
from ..rules._util import arg, first_tensor, tensor_arg
from ..rules.conv import conv_term
from ..rules.registry import module_rule
from ..rules.rnn import weight_term
from ..terms import Neuron, NeuronLayout, Part, Synaptic, Term, neuron_term


def _dense(m: nn.Module, *tensors: Tensor | None) -> None:
    if any(t is not None and t.is_sparse for t in tensors):
        raise SyopsError(f"{type(m).__name__}: sparse tensors are not supported; pass a dense input")


def _neuron(y: Tensor, layout: NeuronLayout, leaky: bool, words: int, spiking: bool) -> Neuron:
    """A neuron call whose output ``y`` is the spikes, or (``spiking`` False) the membrane: no events."""
    if spiking:
        return neuron_term(y, layout, leaky, state_words=words)
    silent = y.new_zeros(neuron_term(y, layout, leaky).neurons)
    return neuron_term(y, layout, leaky, spikes=silent, state_words=words, analog=True)


def _feed_forward(leaky: bool, words: int, layout: NeuronLayout, spiking: bool = True):
    def rule(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
        y = first_tensor(out)
        _dense(m, y)
        return [_neuron(y, layout, leaky, words, spiking)] if y is not None else []

    return rule


def _state_spikes(state: Any) -> Tensor | None:
    """The spikes ``z`` a (possibly nested, as in the refractory states) Norse state holds."""
    if state is None:
        return None
    z = getattr(state, "z", None)
    if isinstance(z, Tensor):
        return z
    for item in state if isinstance(state, tuple) else ():
        if isinstance(item, tuple):
            found = _state_spikes(item)
            if found is not None:
                return found
    return None


def _weights(name: str, weight: Tensor, x: Tensor, ctx) -> Part:
    own = (weight,) if isinstance(weight, nn.Parameter) else ()
    return Part(name, "Linear", (weight_term(x, weight, False, ctx),), own)


def _recurrent(leaky: bool, words: int, layout: NeuronLayout):
    """A recurrent cell (``step``) or sequence module (``TB``): W_in on the input, the neuron, W_rec on
    the spikes of the step before."""

    def rule(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
        x = arg(args, kwargs, 0, "input_tensor")
        z = first_tensor(out)
        if not isinstance(x, Tensor) or z is None:
            return []
        z0 = _state_spikes(arg(args, kwargs, 1, "state"))
        _dense(m, x, z, z0)
        if layout == "step":
            previous = z0 if z0 is not None else torch.zeros_like(z)
        else:  # step t sees z_{t-1}; step 0 the initial state's spikes
            first = z0.reshape(1, *z.shape[1:]).to(z.dtype) if z0 is not None else z.new_zeros((1, *z.shape[1:]))
            previous = torch.cat([first, z[:-1]])
        return [
            _weights("input_weights", m.input_weights, x, ctx),
            _neuron(z, layout, leaky, words, True),
            _weights("recurrent_weights", m.recurrent_weights, previous, ctx),
        ]

    return rule


# class -> (leaky, state words) of the spiking neurons, by kind
_CELLS = {
    iaf.IAFCell: (False, 1),
    lif_box.LIFBoxCell: (True, 1),
    lif.LIFCell: (True, 2),
    lif_ex.LIFExCell: (True, 2),
    izhikevich.IzhikevichCell: (True, 2),
    lsnn.LSNNCell: (True, 3),
    lif_adex.LIFAdExCell: (True, 3),
    lif_refrac.LIFRefracCell: (True, 3),
    lif_adex_refrac.LIFAdExRefracCell: (True, 4),
}
_SEQUENCES = {
    iaf.IAF: (False, 1),
    lif.LIF: (True, 2),
    lif_ex.LIFEx: (True, 2),
    izhikevich.Izhikevich: (True, 2),
    lsnn.LSNN: (True, 3),
    lif_adex.LIFAdEx: (True, 3),
}
_RECURRENT_CELLS = {
    lif.LIFRecurrentCell: (True, 2),
    lif_ex.LIFExRecurrentCell: (True, 2),
    izhikevich.IzhikevichRecurrentCell: (True, 2),
    lsnn.LSNNRecurrentCell: (True, 3),
    lif_adex.LIFAdExRecurrentCell: (True, 3),
    lif_refrac.LIFRefracRecurrentCell: (True, 3),
    lif_adex_refrac.LIFAdExRefracRecurrentCell: (True, 4),
}
_RECURRENT_SEQUENCES = {
    lif.LIFRecurrent: (True, 2),
    lif_ex.LIFExRecurrent: (True, 2),
    izhikevich.IzhikevichRecurrent: (True, 2),
    lsnn.LSNNRecurrent: (True, 3),
    lif_adex.LIFAdExRecurrent: (True, 3),
    lif_refrac.LIFRefracRecurrent: (True, 3),
    lif_adex_refrac.LIFAdExRefracRecurrent: (True, 4),
}

for _cls, (_leaky, _words) in _CELLS.items():
    module_rule(_cls, family="neuron", layout="step")(_feed_forward(_leaky, _words, "step"))
for _cls, (_leaky, _words) in _SEQUENCES.items():
    module_rule(_cls, family="neuron", layout="TB")(_feed_forward(_leaky, _words, "TB"))
for _cls, (_leaky, _words) in _RECURRENT_CELLS.items():
    module_rule(_cls, family="neuron", layout="step")(_recurrent(_leaky, _words, "step"))
for _cls, (_leaky, _words) in _RECURRENT_SEQUENCES.items():
    module_rule(_cls, family="neuron", layout="TB")(_recurrent(_leaky, _words, "TB"))

# Leaky integrators: the membrane is the output, no spikes.
module_rule(li_box.LIBoxCell, family="neuron", layout="step")(_feed_forward(True, 1, "step", spiking=False))
module_rule(li.LICell, family="neuron", layout="step")(_feed_forward(True, 2, "step", spiking=False))
module_rule(li.LI, family="neuron", layout="TB")(_feed_forward(True, 2, "TB", spiking=False))


@module_rule(li.LILinearCell, family="neuron", layout="step")
def li_linear_cell(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """W_in · x into a leaky integrator (v, i) that emits its membrane."""
    x = arg(args, kwargs, 0, "input_tensor")
    v = first_tensor(out)
    if not isinstance(x, Tensor) or v is None:
        return []
    _dense(m, x, v)
    return [_weights("input_weights", m.input_weights, x, ctx), _neuron(v, "step", True, 2, False)]


@module_rule(conv.LConv2d, family="synaptic")
def lconv2d(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """A Conv2d on every step of [T, B, C, H, W], run as a Conv3d of kernel depth 1 over [B, C, H, W, T]:
    counted on that permuted view, which is what the Conv3d sees."""
    x = tensor_arg(args, kwargs, 0, "input_tensor").permute(1, 2, 3, 4, 0)
    y = out.permute(1, 2, 3, 4, 0)

    def constants() -> tuple:
        geometry = conv_geometry(m)
        geometry.pop("output_padding", None)
        term = conv_term(x, y, m.weight, False, ctx, **geometry)
        return term.dense_macs, term.fanout

    key = ("norse-lconv2d", id(m), id(m.weight), x.shape, y.shape)
    dense, fanout = ctx.fanouts.get(key, constants) if ctx.fanouts is not None else constants()
    return [Synaptic(x, dense, fanout)]


@module_rule(import_nir.CubaLIF, family="neuron", layout="step")
def nir_cuba_lif(m: nn.Module, args, kwargs, out, ctx) -> list[Term]:
    """``norse.torch.from_nir``'s CubaLIF: w_in·x into a LIBoxCell (the synaptic current), r·I into a
    LIFBoxCell. One neuron (leaky, two words: I and v), as NIR's CubaLIF node is; its parts and its two
    scalings are the neuron's update."""
    z = first_tensor(out)
    _dense(m, z)
    return [_neuron(z, "step", True, 2, True)] if z is not None else []


# -- reset ---------------------------------------------------------------------------------------------


def _is_state(value: Any) -> bool:
    """A Norse state tuple, or the state of the nirtorch executor that ``norse.torch.from_nir`` returns."""
    cls = type(value)
    if cls.__name__ == "GraphExecutorState" and cls.__module__.startswith("nirtorch."):
        return True
    return isinstance(value, tuple) and cls.__module__.startswith("norse.") and cls.__name__.endswith("State")


def _holds_state(value: Any) -> bool:
    """A Norse state, or a non-empty list / tuple of them and ``None`` (``SequentialState``'s list)."""
    if _is_state(value):
        return True
    if type(value) in (list, tuple) and value:
        return all(item is None or _holds_state(item) for item in value)
    return False


def reset(model: nn.Module) -> None:
    """Norse's fresh state for every attribute of ``model``'s modules that holds Norse state: ``None`` for
    a state, a new list / tuple of as many ``None`` for a list / tuple of states (``SequentialState``'s
    list, the ``(synapse, neuron)`` pair of ``from_nir``'s CubaLIF). New objects: the originals, which
    the profile puts back afterwards, are never changed."""
    for module in model.modules():
        for name, value in list(module.__dict__.items()):
            if _holds_state(value):
                module.__dict__[name] = None if _is_state(value) else type(value)([None] * len(value))
