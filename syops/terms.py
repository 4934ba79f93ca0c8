"""What a counting rule returns: a description of the work one call did.

Rules are pure functions of (module, inputs, output); they describe the work in terms of operands and
shape-derived constants and leave the data-dependent part (is this operand an event tensor? how many
events does it hold?) to the engine, which evaluates it on device without synchronising.

- ``Synaptic``: weights times one operand. Dense: ``dense_macs`` MACs. Events: Σ|x|·fanout ACs
  (``synops``) plus ``bias_adds``.
- ``Elementwise``: ``ops`` operations on operands; ACs when every operand is an event tensor, MACs
  otherwise (norms, pooling, activations, residual additions...).
- ``Product``: a product of two activations (matmul, attention, bilinear). When both are event
  tensors: ``pairs(|a|, |b|)`` ACs, the exact number of products of two events. When one is: each of
  its events takes part in ``a_fanout`` (or ``b_fanout``) products, as ACs; a fan-out of None means
  one-sided events do not remove the multiplications (bilinear). An operand given as None is a dense
  value the rule cannot see.
- ``Neuron``: state updates of a spiking-neuron layer and the spikes it emits.
- ``Fixed``: counts already known on the host (custom syops-counter hooks).
- ``Part``: terms of a synaptic layer that is not a module of its own (a weight matrix a Norse neuron cell
  holds as a parameter), counted on a row of its own named ``<module>.<part name>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor


@dataclass(frozen=True, slots=True)
class Synaptic:
    x: Tensor
    dense_macs: int
    fanout: Tensor | float
    bias_adds: int = 0
    # Memory geometry (docs/contract.md §4, memory traffic): weight and bias elements, output elements of the call,
    # and the layer's input elements per image (a conv's C×H×W, a Linear's in_features: used where the
    # batch's layout does not tell the images), or the images themselves where the rule knows them (a
    # recurrent layer: every step of every sample). A rule that leaves ``weights`` or ``outputs`` unset
    # gets no memory traffic for the term (the report says so).
    weights: int | None = None
    bias: int = 0
    outputs: int | None = None
    in_per_image: int | None = None
    images: int | None = None


@dataclass(frozen=True, slots=True)
class Elementwise:
    operands: tuple[Tensor, ...]
    ops: int
    outputs: int | None = None  # output elements written; None: one per operation


@dataclass(frozen=True, slots=True)
class Product:
    a: Tensor | None
    b: Tensor | None
    dense_macs: int
    a_fanout: float | None
    b_fanout: float | None
    pairs: Callable[[Tensor, Tensor], Tensor] | None = None
    bias_adds: int = 0
    outputs: int | None = None  # output elements written (None: no memory traffic is counted)
    weights: int = 0  # weight elements (bilinear); a product of two activations has none
    a_hidden: int = 0  # elements of a dense ``a`` the rule cannot see (computed inside the op): read as dense


# Where a neuron layer's output keeps the samples and the time steps of one call: one step of a batch
# ([B, ...]), all steps time-first ([T, B, ...]) or batch-first ([B, T, ...]), or steps folded into the
# batch ([B·T, ...], sinabs' Squeeze layers).
NeuronLayout = Literal["step", "TB", "BT", "squeezed"]
LEADING_DIMS: dict[str, int] = {"step": 1, "squeezed": 1, "TB": 2, "BT": 2}


@dataclass(frozen=True, slots=True)
class Neuron:
    output: Tensor  # the spikes emitted, viewed by the evaluator as [-1, neurons]
    neurons: int
    updates: int
    leaky: bool
    layout: NeuronLayout = "step"
    # Words of state each neuron keeps and read-modify-writes per update (docs/contract.md §4, memory traffic):
    # 1 for IF and LIF types (the membrane), 2 for current-based and adaptive neurons (a synaptic
    # current, an adaptive threshold or a recovery variable beside the membrane).
    state_words: int = 1
    analog: bool = False  # the output is a membrane value (no events): written as an activation
    lead: tuple[int, ...] = ()  # the call's leading (step and sample) dimensions, as ``layout`` reads them


def neuron_term(
    states: Tensor,
    layout: NeuronLayout,
    leaky: bool,
    spikes: Tensor | None = None,
    state_words: int = 1,
    analog: bool = False,
) -> Neuron:
    """One call of a neuron layer whose output ``states`` is laid out as ``layout``: a neuron per element
    of one sample at one step, an update per element; ``spikes`` (default: ``states``) are the events it
    emits (zeros of ``neurons`` elements for a layer without spikes); ``state_words`` per neuron."""
    dims = min(LEADING_DIMS[layout], max(states.dim() - 1, 0))
    neurons = math.prod(states.shape[dims:])
    output = states if spikes is None else spikes
    return Neuron(output, neurons, states.numel(), leaky, layout, state_words, analog, tuple(states.shape[:dims]))


@dataclass(frozen=True, slots=True)
class Fixed:
    dense_macs: float = 0.0
    acs: float = 0.0
    macs: float = 0.0


@dataclass(frozen=True, slots=True)
class Part:
    """``terms`` counted on the row ``<module name>.<name>`` of type ``type_name``, which owns ``params``
    (they leave the module's own row)."""

    name: str
    type_name: str
    terms: tuple[Synaptic | Elementwise | Product | Neuron | Fixed, ...]
    params: tuple[Tensor, ...] = ()


Term = Synaptic | Elementwise | Product | Neuron | Fixed | Part
