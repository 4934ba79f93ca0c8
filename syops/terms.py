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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True, slots=True)
class Synaptic:
    x: Tensor
    dense_macs: int
    fanout: Tensor | float
    bias_adds: int = 0


@dataclass(frozen=True, slots=True)
class Elementwise:
    operands: tuple[Tensor, ...]
    ops: int


@dataclass(frozen=True, slots=True)
class Product:
    a: Tensor | None
    b: Tensor | None
    dense_macs: int
    a_fanout: float | None
    b_fanout: float | None
    pairs: Callable[[Tensor, Tensor], Tensor] | None = None
    bias_adds: int = 0


@dataclass(frozen=True, slots=True)
class Neuron:
    output: Tensor
    neurons: int
    updates: int
    leaky: bool


@dataclass(frozen=True, slots=True)
class Fixed:
    dense_macs: float = 0.0
    acs: float = 0.0
    macs: float = 0.0


Term = Synaptic | Elementwise | Product | Neuron | Fixed
