"""What the evaluator accumulates into, and the host counts a row's accumulators come to.

A row of the report owns slots (``Slot``: one per distinct set of shape-derived constants) and neuron slots;
``row_counts`` turns their accumulated columns into a row's ``Counts`` at the end of a profile, with the
memory traffic of ``syops.traffic``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from .memory import MemoryModel
from .traffic import (
    ACCESS_KINDS,
    ElementwiseGeometry,
    NeuronGeometry,
    ProductGeometry,
    SynapticGeometry,
    Traffic,
    TrafficTerm,
    traffic_of,
)


@dataclass
class Counts:
    """Host-side counts of one row, summed over every call of the profile (not yet per sample)."""

    calls: int = 0
    dense_macs: float = 0.0
    acs: float = 0.0  # without neuron updates
    macs: float = 0.0  # without neuron updates
    synops: float = 0.0
    in_events: float = 0.0
    in_event_elems: float = 0.0
    neuron_updates: float = 0.0
    neuron_update_macs: float = 0.0
    spikes: float = 0.0
    neurons: int | None = None
    # Memory traffic (see syops.traffic), summed over calls: accesses by kind, their energy in pJ, the
    # energy of the same calls run densely (the ANN baseline's dataflow, before it is divided by T), and
    # the calls whose rule gave no memory geometry (their traffic is not counted).
    weight_reads: float = 0.0
    bias_reads: float = 0.0
    input_reads: float = 0.0
    state_reads: float = 0.0
    state_writes: float = 0.0
    output_writes: float = 0.0
    memory_pj: float = 0.0
    ann_memory_pj: float = 0.0
    # memory_pj by access kind (where the memory energy goes)
    weight_reads_pj: float = 0.0
    bias_reads_pj: float = 0.0
    input_reads_pj: float = 0.0
    state_reads_pj: float = 0.0
    state_writes_pj: float = 0.0
    output_writes_pj: float = 0.0
    untracked_calls: float = 0.0
    spike_map: Tensor | None = None  # device tensor [neurons]: spikes per neuron over the profile
    # What the traffic above was counted from, slot by slot (syops.traffic.TrafficTerm), kept so that a
    # report can be priced under another memory model; None where it was not kept (a distributed merge).
    traffic_terms: list[TrafficTerm] | None = field(default_factory=list)
    # spikes of all neurons at each time step t, summed over samples and calls; None when the calls did
    # not tell the steps apart (see NeuronSlot.step_spikes)
    step_spikes: list[float] | None = None

    def add_traffic(self, actual: Traffic, ann: Traffic) -> None:
        for kind in ACCESS_KINDS:
            setattr(self, kind, getattr(self, kind) + actual.accesses[kind])
            setattr(self, f"{kind}_pj", getattr(self, f"{kind}_pj") + actual.kind_pj[kind])
        self.memory_pj += actual.pj
        self.ann_memory_pj += ann.pj

    def add_terms_traffic(self, terms: Iterable[TrafficTerm], memory: MemoryModel) -> None:
        """The memory traffic of ``terms`` under ``memory`` (an untracked term: its calls in
        ``untracked_calls``)."""
        for term in terms:
            traffic = traffic_of(term, memory)
            if traffic is None:
                self.untracked_calls += term[2][0]
            else:
                self.add_traffic(*traffic)


@dataclass
class Slot:
    dense_macs: float
    event_acs: float  # ACs per event call on top of synops (bias adds, elementwise ops)
    event_elems: int  # operand elements of one call
    scale: float | None  # uniform fan-out: synops = events × scale (added on the host)
    index: int  # row of the evaluator's accumulator
    geometry: SynapticGeometry | ElementwiseGeometry | ProductGeometry | None = None  # for memory traffic
    calls: int = 0
    dense_reads: float = 0.0  # elements of dense operands of calls decided on the host (a CPU's early exit)
    events_seen: tuple[bool, ...] = ()  # was each operand of the last call events (the next read's order)
    # A product of two activations classifies each operand on its own: [event calls, synops, events,
    # event elements, reads of the dense operand by events], accumulated at once (products are few).
    product: Tensor | None = None
    # On a CPU each call's flag and sums are read at once (free there) and added here, not queued: the same
    # five columns as the device accumulator's row, exact integers in float64 (see syops.hostcounts).
    host: list[float] | None = None
    # A synaptic slot's (fan-out map, hostcounts.synaptic_weights of it), built once for the CPU's path.
    weights: tuple[Any, Tensor] | None = None


@dataclass
class Pending:
    """Calls not yet folded into the accumulator. A call has parts (its operands); a part is its event
    check (a 0-d device tensor, zero iff the operand is an event tensor) and its column sums of |x|,
    with the fan-out map that weights them for a synaptic operand."""

    call_slots: list[int] = field(default_factory=list)  # slot of each call
    part_calls: list[int] = field(default_factory=list)  # call of each part
    offs: list[Tensor] = field(default_factory=list)
    cols: list[Tensor] = field(default_factory=list)
    numels: list[int] = field(default_factory=list)  # operand elements of each part
    fanout_parts: list[int] = field(default_factory=list)  # parts with a fan-out map...
    fanouts: list[Tensor] = field(default_factory=list)  # ...and their maps (flat, accumulator dtype)
    elements: int = 0  # numbers held in cols

    def __len__(self) -> int:
        return len(self.call_slots)


@dataclass
class NeuronSlot:
    neurons: int
    updates: int
    leaky: bool
    shape: tuple[int, ...]  # the neurons' shape in one sample at one step
    geometry: NeuronGeometry
    spike_map: Tensor | None = None  # spikes per neuron, summed over calls, batch and time
    calls: int = 0
    counts: bool = True  # every call's output was event counts, read on a CPU (the map holds integers)
    # Spikes at each time step (a device vector [T], summed over calls and samples), and the calls of the
    # running batch not yet placed in it: (the step the engine named or None, the call's spikes: one
    # number for a single-step call). ``steps_unknown``: some batch's calls could not be told apart by
    # step (their number no multiple of T, or multi-step calls of different T).
    step_spikes: Tensor | None = None
    batch_steps: list[tuple[int | None, Tensor]] = field(default_factory=list)
    steps_unknown: bool = False


class RowAccumulator:
    """One row's calls, its host-given counts (``Fixed`` terms: dense MACs, ACs, MACs) and its slots."""

    __slots__ = ("calls", "fixed", "neuron_slots", "slots")

    def __init__(self) -> None:
        self.calls = 0
        self.fixed: list[float] | None = None  # [dense MACs, ACs, MACs], once a Fixed term came
        self.slots: dict[tuple, Slot] = {}
        self.neuron_slots: dict[tuple, NeuronSlot] = {}


def row_counts(
    row: RowAccumulator,
    slot_values: list[list[float]],
    product_values: dict[int, list[float]],
    spikes_of: dict[int, float],
    memory: MemoryModel | None,
    steps_of: dict[int, list[float]] | None = None,
) -> Counts:
    """A row's host counts from its slots' accumulated columns (``slot_values`` by slot index, a product
    slot's five values by id, a neuron slot's spikes and its spikes per step by id), with the memory
    traffic ``memory`` counts and prices, when given. The terms it counts the traffic from are kept in
    ``traffic_terms``."""
    c = Counts(calls=row.calls)
    if row.fixed is not None:
        c.dense_macs, c.acs, c.macs = row.fixed
    if row.fixed is not None and any(row.fixed):
        c.untracked_calls += 1  # counts given on the host (custom hooks) carry no memory geometry
    terms: list[TrafficTerm] = []
    for slot in row.slots.values():
        values = slot_values[slot.index]
        if slot.host is not None:
            values = [a + b for a, b in zip(values, slot.host, strict=True)]
        ev_calls, synops, events, event_reads, dense_reads = values
        dense_reads += slot.dense_reads
        event_elems = ev_calls * slot.event_elems
        if slot.scale is not None:
            synops += events * slot.scale  # a uniform fan-out: every event meets `scale` synapses
        other_reads = 0.0
        if slot.product is not None:
            ev_calls, synops, events, event_elems, other_reads = product_values[id(slot)]
        g = slot.geometry
        if isinstance(g, SynapticGeometry):
            terms.append(("synaptic", g, (slot.calls, ev_calls, synops, events)))
        elif isinstance(g, ElementwiseGeometry):
            terms.append(("elementwise", g, (slot.calls, event_reads, dense_reads)))
        elif isinstance(g, ProductGeometry):
            terms.append(("product", g, (slot.calls, ev_calls, synops, events, other_reads)))
        else:
            terms.append(("untracked", None, (slot.calls,)))
        c.dense_macs += slot.calls * slot.dense_macs
        c.macs += (slot.calls - ev_calls) * slot.dense_macs
        c.acs += synops + ev_calls * slot.event_acs
        c.synops += synops
        c.in_events += events
        c.in_event_elems += event_elems
    first_slot = True
    for nslot in row.neuron_slots.values():
        updates = nslot.calls * nslot.updates
        c.neuron_updates += updates
        c.neuron_update_macs += updates if nslot.leaky else 0
        spikes = spikes_of.get(id(nslot), 0.0)
        c.spikes += spikes
        c.neurons = max(c.neurons or 0, nslot.neurons)
        terms.append(("neuron", nslot.geometry, (nslot.calls, spikes)))
        if nslot.spike_map is not None and (c.spike_map is None or c.spike_map.numel() < nslot.spike_map.numel()):
            c.spike_map = nslot.spike_map.view(nslot.shape)
        steps = (steps_of or {}).get(id(nslot))
        if first_slot:
            c.step_spikes = steps
        elif c.step_spikes is not None:
            # slots of one row (its neurons met in several shapes) add up when their steps agree
            agree = steps is not None and len(steps) == len(c.step_spikes)
            c.step_spikes = [a + b for a, b in zip(c.step_spikes, steps, strict=True)] if agree else None
        first_slot = False
    c.traffic_terms = terms
    if memory is not None:
        c.add_terms_traffic(terms, memory)
    return c
