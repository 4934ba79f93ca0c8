"""Memory traffic: the accesses one slot of calls made, by the rules of docs/contract.md §4, and their price.

Pure functions of a slot's shape-derived geometry and its device counts (event calls, synops, events),
read once at the end of a profile: counting traffic adds nothing to a call. Each returns the accesses of
the calls as they ran and those of the same calls run densely (the ANN baseline's dataflow, before it is
divided by T).

The memories (docs/contract.md §4): a layer's *parameters* (weights and bias) serve weight and bias reads; its
*state* (a neuron layer's neurons × state words, a synaptic layer's accumulators: its output elements per
image) serves state reads and writes; the *event queue* (``queue_words``) serves event reads and emitted
events; an *activation* memory of a dense operand's or output's elements per image serves dense reads and
writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .memory import MemoryModel

ACCESS_KINDS: tuple[str, ...] = (
    "weight_reads",
    "bias_reads",
    "input_reads",
    "state_reads",
    "state_writes",
    "output_writes",
)


@dataclass
class Traffic:
    """Accesses by kind and their energy in pJ."""

    accesses: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ACCESS_KINDS, 0.0))
    pj: float = 0.0
    kind_pj: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ACCESS_KINDS, 0.0))  # pj by kind

    def add(self, kind: str, count: float, words: float, model: MemoryModel) -> None:
        """``count`` accesses of ``kind`` to a memory of ``words`` words."""
        if count:
            self.accesses[kind] += count
            energy = count * model.access_pj(words)
            self.pj += energy
            self.kind_pj[kind] += energy

    def merge(self, other: Traffic) -> None:
        for kind, count in other.accesses.items():
            self.accesses[kind] += count
            self.kind_pj[kind] += other.kind_pj[kind]
        self.pj += other.pj


@dataclass(frozen=True, slots=True)
class SynapticGeometry:
    """Shape-derived constants of one synaptic call: weights times one operand."""

    weights: int  # weight elements
    bias: int  # bias elements (0 without a bias)
    outputs: int  # output elements of the call
    operand: int  # operand elements of the call
    in_per_image: int  # operand elements of one sample at one step (a conv's C×H×W, a Linear's in_features)
    out_per_image: int  # output elements of one image
    macs: int  # dense MACs of the call without the bias adds


@dataclass(frozen=True, slots=True)
class ElementwiseGeometry:
    outputs: int  # output elements written per call
    operand: int  # operand elements read per call (the op count when the operands are not visible)
    in_per_image: int
    out_per_image: int


@dataclass(frozen=True, slots=True)
class ProductGeometry:
    """A product of two activations (matmul, attention): no weights; the other operand is read instead."""

    a: int  # operand elements (0 when the rule cannot see the operand)
    b: int
    outputs: int
    macs: int  # dense MACs without bias adds
    bias_adds: int
    a_per_image: int
    b_per_image: int
    out_per_image: int
    weights: int = 0  # a bilinear layer's weights; none for a product of two activations


@dataclass(frozen=True, slots=True)
class NeuronGeometry:
    neurons: int  # per image
    updates: int  # per call
    state_words: int
    analog: bool  # the output is a membrane value (written as an activation), not events


def _dense_synaptic(g: SynapticGeometry, calls: float, model: MemoryModel, t: Traffic) -> None:
    params = g.weights + g.bias
    images = g.operand / max(g.in_per_image, 1)
    if model.dense_reuse == "none":
        t.add("weight_reads", calls * g.macs, params, model)
        t.add("input_reads", calls * g.macs, g.in_per_image, model)
        t.add("bias_reads", calls * (g.outputs if g.bias else 0), params, model)
    else:
        t.add("weight_reads", calls * g.weights * images, params, model)
        t.add("input_reads", calls * g.operand, g.in_per_image, model)
        t.add("bias_reads", calls * g.bias * images, params, model)
    t.add("output_writes", calls * g.outputs, g.out_per_image, model)


def synaptic_traffic(
    g: SynapticGeometry, calls: float, event_calls: float, synops: float, events: float, model: MemoryModel
) -> tuple[Traffic, Traffic]:
    """Event calls: a weight read and an accumulator read-modify-write per synaptic event, each event's
    address read once from the queue, one bias read per output element; dense calls by ``dense_reuse``."""
    actual, ann = Traffic(), Traffic()
    params = g.weights + g.bias
    actual.add("weight_reads", synops, params, model)
    actual.add("input_reads", events, model.queue_words, model)
    actual.add("state_reads", synops, g.out_per_image, model)
    actual.add("state_writes", synops, g.out_per_image, model)
    actual.add("bias_reads", event_calls * (g.outputs if g.bias else 0), params, model)
    _dense_synaptic(g, calls - event_calls, model, actual)
    _dense_synaptic(g, calls, model, ann)
    return actual, ann


def _dense_elementwise(g: ElementwiseGeometry, calls: float, model: MemoryModel, t: Traffic) -> None:
    t.add("input_reads", calls * g.operand, g.in_per_image, model)
    t.add("output_writes", calls * g.outputs, g.out_per_image, model)


def elementwise_traffic(
    g: ElementwiseGeometry, calls: float, event_reads: float, dense_reads: float, model: MemoryModel
) -> tuple[Traffic, Traffic]:
    """One read per operand element (an event operand: one per event, from the queue), one write per
    output element. ``event_reads`` / ``dense_reads``: the calls' events of event operands and elements of
    dense operands."""
    actual, ann = Traffic(), Traffic()
    actual.add("input_reads", event_reads, model.queue_words, model)
    actual.add("input_reads", dense_reads, g.in_per_image, model)
    actual.add("output_writes", calls * g.outputs, g.out_per_image, model)
    _dense_elementwise(g, calls, model, ann)
    return actual, ann


def _dense_product(g: ProductGeometry, calls: float, model: MemoryModel, t: Traffic) -> None:
    if model.dense_reuse == "none":  # both operands (and a bilinear weight) read per MAC
        t.add("input_reads", calls * g.macs, g.a_per_image, model)
        t.add("input_reads", calls * g.macs, g.b_per_image, model)
        t.add("weight_reads", calls * g.macs if g.weights else 0, g.weights, model)
    else:
        t.add("input_reads", calls * g.a, g.a_per_image, model)
        t.add("input_reads", calls * g.b, g.b_per_image, model)
        images = g.outputs / max(g.out_per_image, 1)
        t.add("weight_reads", calls * g.weights * images, g.weights, model)
    t.add("bias_reads", calls * g.bias_adds, g.out_per_image, model)
    t.add("output_writes", calls * g.outputs, g.out_per_image, model)


def product_traffic(
    g: ProductGeometry,
    calls: float,
    event_calls: float,
    synops: float,
    events: float,
    other_reads: float,
    model: MemoryModel,
) -> tuple[Traffic, Traffic]:
    """Event calls as a synaptic layer whose weights are the other operand: each event read from the
    queue, per product of an event with a dense value one read of that value (``other_reads``; none for
    a product of two events) and an accumulator read-modify-write; dense calls read both operands."""
    actual, ann = Traffic(), Traffic()
    other = max(g.a_per_image, g.b_per_image)
    actual.add("input_reads", events, model.queue_words, model)
    actual.add("input_reads", other_reads, other, model)
    actual.add("weight_reads", synops if g.weights else 0, g.weights, model)  # each pair meets its weights
    actual.add("state_reads", synops, g.out_per_image, model)
    actual.add("state_writes", synops, g.out_per_image, model)
    actual.add("bias_reads", event_calls * g.bias_adds, g.out_per_image, model)
    _dense_product(g, calls - event_calls, model, actual)
    _dense_product(g, calls, model, ann)
    return actual, ann


def neuron_traffic(g: NeuronGeometry, calls: float, spikes: float, model: MemoryModel) -> tuple[Traffic, Traffic]:
    """Per update: the input current read, every state word read and written; the emitted events
    written to the queue (a membrane read-out: one write per update). As an ANN activation: one read and
    one write per neuron."""
    actual, ann = Traffic(), Traffic()
    updates = calls * g.updates
    state = g.neurons * g.state_words
    actual.add("input_reads", updates, g.neurons, model)
    actual.add("state_reads", updates * g.state_words, state, model)
    actual.add("state_writes", updates * g.state_words, state, model)
    if g.analog:
        actual.add("output_writes", updates, g.neurons, model)
    else:
        actual.add("output_writes", spikes, model.queue_words, model)
    ann.add("input_reads", updates, g.neurons, model)
    ann.add("output_writes", updates, g.neurons, model)
    return actual, ann


# A slot's traffic term: what ``traffic_of`` needs to count its accesses under any memory model — the
# kind of slot, its geometry and its counts (kept in the report, so it can be repriced without a rerun).
TrafficTerm = tuple  # (kind, geometry | None, counts): see TERM_KINDS
TERM_KINDS: dict[str, type | None] = {
    "synaptic": SynapticGeometry,  # counts: calls, event calls, synops, events
    "elementwise": ElementwiseGeometry,  # calls, events of event operands, elements of dense operands
    "product": ProductGeometry,  # calls, event calls, synops, events, reads of the dense operand
    "neuron": NeuronGeometry,  # calls, spikes
    "untracked": None,  # calls of a slot whose rule gave no geometry
}
_TRAFFIC_OF = {
    "synaptic": synaptic_traffic,
    "elementwise": elementwise_traffic,
    "product": product_traffic,
    "neuron": neuron_traffic,
}


def traffic_of(term: TrafficTerm, model: MemoryModel) -> tuple[Traffic, Traffic] | None:
    """The accesses of one term as it ran and as the ANN baseline's dataflow; None when untracked."""
    kind, geometry, counts = term
    if kind == "untracked":
        return None
    return _TRAFFIC_OF[kind](geometry, *counts, model)
