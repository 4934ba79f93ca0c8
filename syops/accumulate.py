"""Turning the terms that rules return into counts.

Each row of the report (a module, or an op attributed to a module) owns slots: one per distinct set of
shape-derived constants. A slot keeps a Python call count and a 4-vector on the model's device:
(event calls, synops, input events, input event elements). Evaluating a term launches a handful of
small kernels and never reads a value back; ``read_all`` brings every slot to the host in one copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .events import SpikeMode, abs_column_sums, accumulator_dtype, event_stats
from .terms import Elementwise, Fixed, Neuron, Product, Synaptic, Term


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
    spike_map: Tensor | None = None  # device tensor [neurons]: spikes per neuron over the profile


@dataclass
class _Slot:
    dense_macs: float
    event_acs: float  # ACs per event call on top of synops (bias adds, elementwise ops)
    calls: int = 0
    acc: Tensor | None = None


@dataclass
class _NeuronSlot:
    neurons: int
    updates: int
    leaky: bool
    calls: int = 0
    spike_map: Tensor | None = None  # spikes per neuron, summed over calls, batch and time


@dataclass
class RowAccumulator:
    device: torch.device
    calls: int = 0
    fixed: Counts = field(default_factory=Counts)
    slots: dict[tuple, _Slot] = field(default_factory=dict)
    neuron_slots: dict[tuple, _NeuronSlot] = field(default_factory=dict)


class Evaluator:
    """Evaluates terms on one device and accumulates them into rows."""

    def __init__(self, device: torch.device, spike_mode: SpikeMode) -> None:
        self.device = device
        self.mode = spike_mode
        self.dtype = accumulator_dtype(device)
        self._one = torch.ones((), dtype=self.dtype, device=device)
        self._zero = torch.zeros((), dtype=self.dtype, device=device)
        self._false = torch.zeros((), dtype=torch.bool, device=device)

    # -- per-call ---------------------------------------------------------------------------------
    def add(self, row: RowAccumulator, terms: Iterable[Term]) -> None:
        for term in terms:
            if isinstance(term, Synaptic):
                self._synaptic(row, term)
            elif isinstance(term, Elementwise):
                self._elementwise(row, term)
            elif isinstance(term, Product):
                self._product(row, term)
            elif isinstance(term, Neuron):
                self._neuron(row, term)
            elif isinstance(term, Fixed):
                row.fixed.dense_macs += float(term.dense_macs)
                row.fixed.acs += float(term.acs)
                row.fixed.macs += float(term.macs)
            else:
                raise TypeError(f"a counting rule returned {type(term).__name__}, not a syops term")

    def _slot(self, row: RowAccumulator, key: tuple, dense: float, event_acs: float) -> _Slot:
        slot = row.slots.get(key)
        if slot is None:
            slot = _Slot(dense, event_acs, acc=torch.zeros(4, dtype=self.dtype, device=self.device))
            row.slots[key] = slot
        slot.calls += 1
        return slot

    def _stats(self, x: Tensor, fanout=None) -> tuple[Tensor, Tensor, Tensor]:
        if x.device != self.device:
            x = x.to(self.device)
        return event_stats(x, self.mode, fanout)

    def _synaptic(self, row: RowAccumulator, t: Synaptic) -> None:
        is_event, events, weighted = self._stats(t.x, t.fanout)
        slot = self._slot(row, ("syn", t.dense_macs, t.bias_adds, t.x.numel()), t.dense_macs, t.bias_adds)
        vec = torch.stack((self._one, weighted, events, self._one * t.x.numel()))
        slot.acc += torch.where(is_event, vec, self._zero)

    def _elementwise(self, row: RowAccumulator, t: Elementwise) -> None:
        numel = sum(x.numel() for x in t.operands)
        slot = self._slot(row, ("elt", t.ops, numel), t.ops, t.ops)
        if not t.operands:
            return  # no visible operand: dense by construction
        is_event = None
        events = self._zero
        for x in t.operands:
            ev, ev_sum, _ = self._stats(x)
            is_event = ev if is_event is None else is_event & ev
            events = events + ev_sum
        vec = torch.stack((self._one, self._zero, events, self._one * numel))
        slot.acc += torch.where(is_event, vec, self._zero)

    def _product(self, row: RowAccumulator, t: Product) -> None:
        slot = self._slot(
            row, ("prod", t.dense_macs, t.bias_adds, id(t.pairs) if t.pairs else None), t.dense_macs, t.bias_adds
        )
        if t.a is not None:
            ev_a, events_a, _ = self._stats(t.a)
        else:
            ev_a, events_a = self._false, self._zero
        if t.b is not None:
            ev_b, events_b, _ = self._stats(t.b)
        else:
            ev_b, events_b = self._false, self._zero
        synops = self._zero
        is_event = self._false
        # Preference order: both sides events (exact pairs) > a's events > b's events.
        if t.b_fanout is not None:
            synops = torch.where(ev_b, events_b * t.b_fanout, synops)
            is_event = is_event | ev_b
        if t.a_fanout is not None:
            synops = torch.where(ev_a, events_a * t.a_fanout, synops)
            is_event = is_event | ev_a
        if t.pairs is not None and t.a is not None and t.b is not None:
            both = ev_a & ev_b
            pairs = t.pairs(t.a.abs(), t.b.abs()).to(self.dtype)
            synops = torch.where(both, pairs, synops)
            is_event = is_event | both
        a_numel = t.a.numel() if t.a is not None else 0
        b_numel = t.b.numel() if t.b is not None else 0
        fa, fb = ev_a.to(self.dtype), ev_b.to(self.dtype)
        vec = torch.stack((self._one, synops, fa * events_a + fb * events_b, fa * a_numel + fb * b_numel))
        slot.acc += torch.where(is_event, vec, self._zero)

    def _neuron(self, row: RowAccumulator, t: Neuron) -> None:
        key = (t.neurons, t.updates, t.leaky)
        slot = row.neuron_slots.get(key)
        if slot is None:
            slot = _NeuronSlot(
                t.neurons, t.updates, t.leaky, spike_map=torch.zeros(t.neurons, dtype=self.dtype, device=self.device)
            )
            row.neuron_slots[key] = slot
        slot.calls += 1
        out = t.output if t.output.device == self.device else t.output.to(self.device)
        slot.spike_map += abs_column_sums(out, t.neurons)

    # -- end of profile ---------------------------------------------------------------------------
    def read_all(self, rows: Iterable[RowAccumulator], extra: list[Tensor] | None = None) -> tuple[list[Counts], list]:
        """Host counts of every row, and the values of ``extra`` device scalars, in one transfer."""
        rows = list(rows)
        device_values: list[Tensor] = []
        for row in rows:
            for slot in row.slots.values():
                device_values.append(slot.acc)
            for nslot in row.neuron_slots.values():
                device_values.append(torch.stack((nslot.spike_map.sum(), self._zero, self._zero, self._zero)))
        for value in extra or []:
            v = value.to(self.dtype).reshape(())
            device_values.append(torch.stack((v, self._zero, self._zero, self._zero)))
        host = torch.stack(device_values).cpu().tolist() if device_values else []
        it = iter(host)
        out: list[Counts] = []
        for row in rows:
            c = Counts(
                calls=row.calls,
                dense_macs=row.fixed.dense_macs,
                acs=row.fixed.acs,
                macs=row.fixed.macs,
            )
            for slot in row.slots.values():
                ev_calls, synops, events, event_elems = next(it)
                c.dense_macs += slot.calls * slot.dense_macs
                c.macs += (slot.calls - ev_calls) * slot.dense_macs
                c.acs += synops + ev_calls * slot.event_acs
                c.synops += synops
                c.in_events += events
                c.in_event_elems += event_elems
            for nslot in row.neuron_slots.values():
                spikes = next(it)[0]
                updates = nslot.calls * nslot.updates
                c.neuron_updates += updates
                c.neuron_update_macs += updates if nslot.leaky else 0
                c.spikes += spikes
                c.neurons = max(c.neurons or 0, nslot.neurons)
                if c.spike_map is None or c.spike_map.numel() < nslot.spike_map.numel():
                    c.spike_map = nslot.spike_map
            out.append(c)
        extras = [next(it)[0] for _ in extra or []]
        return out, extras
