"""Turning the terms that rules return into counts.

Each row of the report (a module, or an op attributed to a module) owns slots (``syops.slots``): one per
distinct set of shape-derived constants (dense MACs, event-time ACs, operand size). A call reads its
operands once (their event check and column sums, see ``syops.events``). On a GPU it queues those small
results; nothing else runs per call. The queue is folded into the slots' device accumulator with a fixed
handful of kernels however many calls it holds (``syops.devicefold``), and ``read_all`` brings every
accumulator to the host in one copy: one synchronisation per profile. On a CPU, where reading a value
back costs nothing, each call's counts are added on the host at once (``syops.hostcounts``).
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from . import hostcounts
from . import steps as step_counts
from .devicefold import WIDTH, DeviceFold
from .events import EXACT_FLOAT32, Scratch, SpikeMode, accumulator_dtype, column_events, event_stats
from .memory import MemoryModel
from .slots import Counts, NeuronSlot, RowAccumulator, Slot, row_counts
from .terms import LEADING_DIMS, Elementwise, Fixed, Neuron, Product, Synaptic, Term
from .traffic import ElementwiseGeometry, NeuronGeometry, ProductGeometry, SynapticGeometry

__all__ = ["Counts", "Evaluator", "RowAccumulator", "reads_back_free"]

# Accumulator fields of a slot (all summed over calls).
_RECENT = 8  # neuron outputs whose column sums are kept for the layers that read them


def reads_back_free(device: torch.device) -> bool:
    """Does reading a flag back to the host cost nothing on ``device``? Only on a CPU, which has no
    asynchronous queue to wait for; a GPU keeps its one synchronisation per profile."""
    return device.type == "cpu"


class Evaluator:
    """Evaluates terms on one device and accumulates them into rows."""

    def __init__(self, device: torch.device, spike_mode: SpikeMode) -> None:
        self.device = device
        self.mode = spike_mode
        self.dtype = accumulator_dtype(device)
        self.scratch = Scratch()
        # On a CPU a flag read back costs nothing: a dense operand is decided from its first chunk and not
        # read further (see column_events). Elsewhere nothing is read back until the end of the profile.
        self.early = reads_back_free(device)
        self._one = torch.ones((), dtype=self.dtype, device=device)
        self._zero = torch.zeros((), dtype=self.dtype, device=device)
        self._false = torch.zeros((), dtype=torch.bool, device=device)
        self._nothing = torch.zeros(0, dtype=torch.float32, device=device)
        # Column sums of recent neuron outputs and operands read in full, by tensor id: the next layer
        # usually reads the same spikes (often through a view), and then reuses them instead of reading
        # the tensor again.
        self._recent: OrderedDict[int, tuple[weakref.ref, int, Tensor | None, Tensor, int]] = OrderedDict()
        self._slots: list[Slot] = []
        # Off a CPU, calls are queued and folded on the device (one accumulator row per slot).
        self.device_fold = DeviceFold(device, self.dtype)
        # (samples, time steps) of the batch running: how many images an activation tensor holds
        self.batch_images: tuple[int, int] = (1, 1)
        self._inexact_host = False
        self._handlers = {
            Synaptic: self._synaptic,
            Elementwise: self._elementwise,
            Product: self._product,
            Neuron: self._neuron,
            Fixed: self._fixed,
        }
        # The time step the engine is running, when it runs them one call each (time_layout="loop"), and
        # the neuron slots with single-step calls of the running batch to place (syops.steps).
        self.step: int | None = None
        self._stepped: dict[int, NeuronSlot] = {}

    def new_batch(self, samples: int = 1, timesteps: int = 1) -> None:
        self._recent.clear()
        self._fold_steps()
        self.batch_images = (max(int(samples), 1), max(int(timesteps), 1))
        self.step = None

    def _fold_steps(self) -> None:
        for slot in self._stepped.values():
            step_counts.fold_batch(slot, self.batch_images[1])
        self._stepped.clear()

    def scan_input(self, x: Tensor) -> Tensor | None:
        """The event check of a model input (see ``column_events``)."""
        return column_events(x, self.mode, 1, self.scratch, self.early)[0]

    def _remember(self, x: Tensor, off: Tensor | None, col: Tensor, width: int) -> None:
        self._recent[id(x)] = (weakref.ref(x), x._version, off, col, width)
        if len(self._recent) > _RECENT:  # a residual branch reads spikes a few layers later, not more
            self._recent.popitem(last=False)

    def _column_events(
        self, x: Tensor, width: int, expect_events: bool = False, given: Tensor | None = None, exact: bool = True
    ) -> tuple[Tensor | None, Tensor | None]:
        """``column_events`` of ``x``, from a remembered neuron output or operand read in full when ``x``
        is it (or a view of all of it, in the same order) and unchanged since. ``(off, None)``: dense, decided early.
        ``given``: the tensor as the rule gave it, before ``_local`` detached it (a new object each time:
        the remembered outputs are the objects the model passed on). ``exact=False``: remembered sums may
        come over a multiple of ``width`` columns, as they are (the caller folds them)."""
        seen = given if given is not None else x
        base = seen if seen._base is None else seen._base
        # all of the base, in its order: sums remembered for the base are this tensor's, and the reverse
        whole = seen.is_contiguous() and (seen is base or self._covers(seen, base))
        entry = self._recent.get(id(base))
        if entry is not None:
            ref, version, off, col, seen_width = entry
            if whole and ref() is base and base._version == version and seen_width % width == 0:
                return off, col if seen_width == width or not exact else col.view(-1, width).sum(0)
        off, col = column_events(x, self.mode, width, self.scratch, self.early, expect_events)
        if col is not None and whole:
            # Read in full: another layer reading the same tensor (a residual branch, two convolutions on
            # one input) takes these sums.
            self._remember(base, off, col, width)
        return off, col

    @staticmethod
    def _covers(view: Tensor, base: Tensor) -> bool:
        return view.numel() == base.numel() and view.data_ptr() == base.data_ptr() and base.is_contiguous()

    # -- per call ---------------------------------------------------------------------------------
    def add(self, row: RowAccumulator, terms: Iterable[Term]) -> None:
        for term in terms:
            handler = self._handlers.get(type(term))
            if handler is None:  # a subclass of a term type (a custom rule's)
                handler = next((h for cls, h in self._handlers.items() if isinstance(term, cls)), None)
            if handler is None:
                raise TypeError(f"a counting rule returned {type(term).__name__}, not a syops term")
            handler(row, term)

    def _fixed(self, row: RowAccumulator, term: Fixed) -> None:
        fixed = row.fixed = row.fixed or [0.0, 0.0, 0.0]
        fixed[0] += float(term.dense_macs)
        fixed[1] += float(term.acs)
        fixed[2] += float(term.macs)

    def _slot(
        self,
        row: RowAccumulator,
        key: tuple,
        dense: float,
        event_acs: float,
        elems: int,
        scale: float | None = None,
        geometry: Any = None,
    ) -> Slot:
        slot = row.slots.get(key)
        if slot is None:
            slot = Slot(dense, event_acs, elems, scale, len(self._slots), geometry() if geometry else None)
            self._slots.append(slot)
            row.slots[key] = slot
        slot.calls += 1
        return slot

    def _local(self, x: Tensor) -> Tensor:
        """``x`` on the evaluator's device. (Every read detaches it: counting never takes part in autograd.)"""
        return x if x.device == self.device else x.detach().to(self.device)

    def _host(self, slot: Slot) -> list[float]:
        if slot.host is None:
            slot.host = [0.0] * WIDTH
        return slot.host

    def images(self, x: Tensor) -> int | None:
        """How many images (one sample at one time step) an activation tensor holds, read off its leading
        dimensions and the batch running: [T, B, ...] / [B, T, ...], [B·T, ...] or [B, ...]; None when
        they are not the batch's (a recurrent layer's [L, N, ...] sequence, say)."""
        samples, steps = self.batch_images
        shape = x.shape
        if steps > 1 and x.dim() >= 2 and sorted((shape[0], shape[1])) == sorted((samples, steps)):
            return samples * steps
        if x.dim() >= 1 and shape[0] in (samples * steps, samples):
            return int(shape[0])
        return None

    def _per_image(self, x: Tensor | None) -> int:
        if x is None or not x.numel():
            return 1
        return max(x.numel() // (self.images(x) or 1), 1)

    def _synaptic(self, row: RowAccumulator, t: Synaptic) -> None:
        x = self._local(t.x)
        fanout_map = t.fanout if isinstance(t.fanout, Tensor) else None
        scale = None if fanout_map is not None else float(t.fanout)
        key = ("syn", t.dense_macs, t.bias_adds, x.numel(), scale, t.weights, t.outputs, t.in_per_image, t.images)

        def geometry() -> SynapticGeometry | None:
            if t.weights is None or t.outputs is None:
                return None
            # An image is one sample at one step, as the batch's layout tells (the tokens of a sample
            # form one image); else, as for a recurrent layer's steps, the layer's own input size.
            images = t.images or (self.images(x) if x.numel() else None)
            if images is None:
                in_per_image = t.in_per_image or x.numel() or 1
                images = max(x.numel() // in_per_image, 1)
            else:
                in_per_image = max(x.numel() // images, 1)
            out_per_image = max(t.outputs // images, 1)
            macs = t.dense_macs - t.bias_adds
            return SynapticGeometry(t.weights, t.bias, t.outputs, x.numel(), in_per_image, out_per_image, macs)

        slot = self._slot(row, key, t.dense_macs, t.bias_adds, x.numel(), scale, geometry)
        if x.numel() == 0:
            self.device_fold.part(self.device_fold.call(slot), None, self._nothing, 0)
        else:
            width = fanout_map.numel() if fanout_map is not None else (x.shape[-1] if x.dim() and x.shape[-1] else 1)
            off, col = self._column_events(x, width, slot.events_seen == (True,), t.x, exact=not self.early)
            slot.events_seen = (col is not None,)
            if col is None:  # dense, decided on the host: its dense MACs and static traffic need no more
                return
            if self.early:
                weights = self._weights(slot, fanout_map, width)
                self._inexact_host |= hostcounts.add_synaptic(self._host(slot), off, col, x.numel(), weights)
                return
            fanout = None if fanout_map is None else fanout_map.reshape(-1).to(self.dtype)
            self.device_fold.part(self.device_fold.call(slot), off, col, x.numel(), fanout)
        self.device_fold.queued(len(self._slots))

    @staticmethod
    def _weights(slot: Slot, fanout_map: Tensor | None, width: int) -> Tensor:
        """The slot's ``hostcounts.synaptic_weights``, kept while the rule gives the same fan-out map (the
        convolution rules keep theirs across calls and profiles)."""
        kept = slot.weights
        if kept is None or kept[0] is not fanout_map or kept[1].shape[1] != width:
            kept = slot.weights = (fanout_map, hostcounts.synaptic_weights(fanout_map, width))
        return kept[1]

    def _elementwise(self, row: RowAccumulator, t: Elementwise) -> None:
        given = [x for x in t.operands if x.numel()]
        operands = [self._local(x) for x in given]
        numel = sum(x.numel() for x in operands)
        outputs = t.ops if t.outputs is None else t.outputs
        first = operands[0] if operands else None
        samples, steps = self.batch_images
        in_per_image = self._per_image(first) if first is not None else max(t.ops // (samples * steps), 1)
        out_per_image = max(outputs * in_per_image // max(first.numel(), 1), 1) if first is not None else in_per_image
        key = ("elt", t.ops, numel, outputs, in_per_image)

        def geometry() -> ElementwiseGeometry:
            return ElementwiseGeometry(outputs, numel if operands else t.ops, in_per_image, out_per_image)

        slot = self._slot(row, key, t.ops, t.ops, numel, None, geometry)
        # one column per operand: the total (a view of all of x), the cheapest reduction
        seen = slot.events_seen
        parts = [
            (*self._column_events(x, 1, i < len(seen) and seen[i], given[i], exact=False), x.numel())
            for i, x in enumerate(operands)
        ]
        slot.events_seen = tuple(col is not None for _, col, _ in parts)
        if self.early and all(col is None for _, col, _ in parts):
            # every operand dense, decided on the host (or none visible: one read per operation)
            slot.dense_reads += numel if operands else t.ops
            return
        if self.early and operands:
            self._inexact_host |= hostcounts.add_parts(self._host(slot), parts)
            return
        call = self.device_fold.call(slot)
        if not t.operands:
            # nothing visible: dense, one read per operation
            self.device_fold.part(call, self._one, self._nothing, t.ops)
        for off, col, elements in parts:  # events iff every operand is an event tensor
            self.device_fold.part(call, off, self._nothing if col is None else col, elements)
        self.device_fold.queued(len(self._slots))

    def _product(self, row: RowAccumulator, t: Product) -> None:
        a = self._local(t.a).detach() if t.a is not None else None
        b = self._local(t.b).detach() if t.b is not None else None
        a_numel = a.numel() if a is not None else 0
        b_numel = b.numel() if b is not None else 0
        key = ("prod", t.dense_macs, t.bias_adds, id(t.pairs) if t.pairs else None, a_numel, b_numel, t.outputs)

        def geometry() -> ProductGeometry | None:
            if t.outputs is None:
                return None
            reference = a if a is not None else b
            images = (self.images(reference) or 1) if reference is not None else 1
            a_img, b_img = self._per_image(a), self._per_image(b)
            a_elements = a_numel
            if a is None and t.a_hidden:  # a dense operand computed inside the op: read like a visible one
                a_elements, a_img = t.a_hidden, max(t.a_hidden // images, 1)
            out_img = max(t.outputs // max(images, 1), 1)
            macs = t.dense_macs - t.bias_adds
            return ProductGeometry(a_elements, b_numel, t.outputs, macs, t.bias_adds, a_img, b_img, out_img, t.weights)

        slot = self._slot(row, key, t.dense_macs, t.bias_adds, 0, None, geometry)
        if slot.product is None:
            slot.product = torch.zeros(5, dtype=self.dtype, device=self.device)
        ev_a, events_a = (event_stats(a, self.mode)[:2]) if a is not None else (self._false, self._zero)
        ev_b, events_b = (event_stats(b, self.mode)[:2]) if b is not None else (self._false, self._zero)
        synops = self._zero
        is_event = self._false
        paired = self._false
        # Preference order: both sides events (exact pairs) > a's events > b's events.
        if t.b_fanout is not None:
            synops = torch.where(ev_b, events_b * t.b_fanout, synops)
            is_event = is_event | ev_b
        if t.a_fanout is not None:
            synops = torch.where(ev_a, events_a * t.a_fanout, synops)
            is_event = is_event | ev_a
        if t.pairs is not None and a is not None and b is not None:
            paired = ev_a & ev_b
            synops = torch.where(paired, t.pairs(a.abs(), b.abs()).to(self.dtype), synops)
            is_event = is_event | paired
        # where, not products with the flags: a dense operand's sum may be NaN or inf
        events = torch.where(ev_a, events_a, 0.0) + torch.where(ev_b, events_b, 0.0)
        # element counts in the accumulator dtype (a Python scalar would make float32, inexact past 2**24)
        elems = torch.where(ev_a, self._one * a_numel, self._zero) + torch.where(ev_b, self._one * b_numel, self._zero)
        other_reads = torch.where(paired, 0.0, synops)  # an event times a dense value reads the value
        vec = torch.stack((self._one, synops, events.to(self.dtype), elems, other_reads))
        slot.product += torch.where(is_event, vec, self._zero)

    def _neuron(self, row: RowAccumulator, t: Neuron) -> None:
        key = (t.neurons, t.updates, t.leaky, t.state_words, t.analog)
        slot = row.neuron_slots.get(key)
        if slot is None:
            tail = tuple(t.output.shape[min(LEADING_DIMS[t.layout], max(t.output.dim() - 1, 0)) :])
            shape = tail if math.prod(tail) == t.neurons else (t.neurons,)
            geometry = NeuronGeometry(t.neurons, t.updates, t.state_words, t.analog)
            slot = NeuronSlot(t.neurons, t.updates, t.leaky, shape, geometry)
            row.neuron_slots[key] = slot
        slot.calls += 1
        output = self._local(t.output)
        # On a CPU the steps come from the row sums of the same read (a host check keeps them exact); on a
        # device they are a read of their own (no host synchronisation per call). A single-step call has none.
        rows: list[Tensor] | None = [] if self.early and t.layout != "step" else None
        off, col = column_events(output, self.mode, t.neurons, self.scratch, row_sums=rows)
        # One call's spikes per neuron are at most rows × the largest spike count, exact in float32; calls
        # add up in the accumulator dtype. Out of place: the remembered column sums below must not change.
        # A non-finite output element is no spike (the remembered sums keep it: the next layer is dense).
        events = self.early and not hostcounts.is_dense(off, col)  # a CPU reads the flag for free
        slot.counts = slot.counts and events
        spikes = col if events else torch.nan_to_num(col, 0.0, 0.0, 0.0)
        slot.spike_map = spikes if slot.spike_map is None else slot.spike_map.to(self.dtype) + spikes
        row_sums = _exact_row_sums(rows)
        per_step = step_counts.call_step_sums(output, t.layout, t.neurons, self.batch_images, self.dtype, row_sums)
        step_counts.add_call(slot, per_step, spikes, self.step, self.dtype)
        if per_step is None:
            self._stepped[id(slot)] = slot
        self._remember(t.output, off, col, t.neurons)  # the object the model passes on, not our detached view

    # -- end of profile ---------------------------------------------------------------------------
    def read_all(
        self, rows: Iterable[RowAccumulator], extra: list[Tensor] | None = None, memory: MemoryModel | None = None
    ) -> tuple[list[Counts], list[float], bool]:
        """Host counts of every row (with the memory traffic ``memory`` counts and prices, when given),
        the values of ``extra`` device scalars, and whether a float32 column sum may have rounded, in one
        transfer."""
        rows = list(rows)
        self.device_fold.fold(len(self._slots))
        self._fold_steps()
        acc = self.device_fold.acc
        device_values: list[Tensor] = [acc.reshape(-1)]
        products = [slot for row in rows for slot in row.slots.values() if slot.product is not None]
        device_values += [slot.product for slot in products]
        neuron_slots = [n for row in rows for n in row.neuron_slots.values() if n.spike_map is not None]
        # Integer spike maps on a CPU are summed on the host (exact and fast in float32), the rest on device.
        on_host = {id(n) for n in neuron_slots if n.counts and n.spike_map.dtype == torch.float32}
        on_device = [n for n in neuron_slots if id(n) not in on_host]
        device_values += [n.spike_map.sum(dtype=self.dtype).reshape(1) for n in on_device]
        stepped = [n for n in neuron_slots if n.step_spikes is not None and not n.steps_unknown]
        device_values += [n.step_spikes.to(self.dtype) for n in stepped]
        device_values += [value.to(self.dtype).reshape(1) for value in [*(extra or []), self.device_fold.inexact]]
        host = torch.cat(device_values).cpu().tolist()
        width = acc.shape[1]
        slot_values = [host[width * i : width * (i + 1)] for i in range(acc.shape[0])]
        it = iter(host[width * acc.shape[0] :])
        product_values = {id(slot): [next(it) for _ in range(5)] for slot in products}
        spikes_of = {id(n): next(it) for n in on_device}
        steps_of = {id(n): [next(it) for _ in range(n.step_spikes.numel())] for n in stepped}
        spikes_of.update((id(n), hostcounts.integer_total(n.spike_map)) for n in neuron_slots if id(n) in on_host)
        out = [row_counts(row, slot_values, product_values, spikes_of, memory, steps_of) for row in rows]
        extras = [next(it) for _ in extra or []]
        return out, extras, next(it) > 0 or self._inexact_host


def _exact_row_sums(rows: list[Tensor] | None) -> Tensor | None:
    """The row sums of a neuron output read on a CPU, or None when one may have rounded in float32 (a row
    of 2**24 spikes or more) or is not finite: the steps are then summed from the output itself."""
    if not rows:
        return None
    sums = rows[0] if len(rows) == 1 else torch.cat(rows)
    if sums.numel() and not float(sums.max()) < EXACT_FLOAT32:  # NaN fails the test too
        return None
    return sums
