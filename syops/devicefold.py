"""Counts queued on a device and folded there: nothing is read back per call.

Off a CPU (where reading a flag back costs a host synchronisation) each call's parts (its operands'
event checks and column sums, with a synaptic operand's fan-out map) are queued and folded, many calls at
once, into one accumulator row per slot: [event calls, synops, events, events of event operands, elements
of dense operands]. ``Evaluator.read_all`` reads the accumulator once, at the end of a profile.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .events import EXACT_FLOAT32
from .slots import Pending, Slot

_FOLD = 4096  # pending calls folded into the accumulator at once
_FOLD_ELEMENTS = 1 << 18  # ...or sooner, once their queued column sums hold this many numbers (1 MiB)
WIDTH = 5  # accumulator columns per slot


class DeviceFold:
    """The queue of calls not yet folded and the accumulator they fold into, on one device."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype
        self.acc = torch.zeros(0, WIDTH, dtype=dtype, device=device)
        self.inexact = torch.zeros((), dtype=torch.bool, device=device)  # a float32 column sum may have rounded
        self._zero = torch.zeros((), dtype=dtype, device=device)
        self._pending = Pending()

    def call(self, slot: Slot) -> int:
        pending = self._pending
        pending.call_slots.append(slot.index)
        return len(pending.call_slots) - 1

    def part(self, call: int, off: Tensor | None, col: Tensor, numel: int, fanout: Tensor | None = None) -> None:
        pending = self._pending
        if fanout is not None:
            pending.fanout_parts.append(len(pending.part_calls))
            pending.fanouts.append(fanout)
        pending.part_calls.append(call)
        pending.offs.append(self._zero if off is None else off)
        pending.cols.append(col)
        pending.numels.append(numel)
        pending.elements += col.numel()

    def queued(self, slots: int) -> None:
        """Fold once the queue is long (``slots``: how many slots the accumulator must hold)."""
        pending = self._pending
        if len(pending) >= _FOLD or pending.elements >= _FOLD_ELEMENTS:
            self.fold(slots)

    def fold(self, slots: int) -> None:
        """Add every queued call to the accumulator (grown to ``slots`` rows), with the same few kernels for
        any number of calls: segment sums over the concatenated column sums give each part's Σ|x| and
        Σ|x|·fan-out; a call counts as events when every one of its parts is an event tensor."""
        if slots > self.acc.shape[0]:
            grown = torch.zeros(slots, WIDTH, dtype=self.dtype, device=self.device)
            grown[: self.acc.shape[0]] = self.acc
            self.acc = grown
        pending = self._pending
        if not len(pending):
            return
        self._pending = Pending()
        dtype = self.dtype
        flat = torch.cat(pending.cols)
        lengths = [col.numel() for col in pending.cols]
        part_is_event = torch.stack(pending.offs) == 0
        # A float32 column sum of events beyond 2**24 may have rounded: noted once for the whole profile. A
        # dense operand's sums are no count (nor read at all on a CPU, see column_events).
        if flat.numel():
            counted_sums = torch.isfinite(flat) & part_is_event.repeat_interleave(
                self._index(lengths), 0, output_size=flat.numel()
            )
            finite = torch.where(counted_sums, flat, 0)
            self.inexact = self.inexact | (finite.amax() >= EXACT_FLOAT32)
        events = self._segment_sums(flat.to(dtype), lengths)
        synops = torch.zeros(len(lengths), dtype=dtype, device=self.device)
        if pending.fanout_parts:
            weighted = torch.cat([pending.cols[i] for i in pending.fanout_parts]).to(dtype) * torch.cat(pending.fanouts)
            fanout_lengths = [lengths[i] for i in pending.fanout_parts]
            synops[self._index(pending.fanout_parts)] = self._segment_sums(weighted, fanout_lengths)
        not_events = (~part_is_event).to(dtype)
        # An elementwise call reads each event operand's events and each dense operand's elements.
        event_reads = torch.where(part_is_event, events, 0.0)
        dense_reads = torch.where(part_is_event, 0.0, self._index(pending.numels).to(dtype))
        per_part = torch.stack((not_events, synops, events, event_reads, dense_reads), 1)
        if len(pending.part_calls) != len(pending.call_slots):  # calls with several operands (or none)
            per_call = torch.zeros(len(pending), WIDTH, dtype=dtype, device=self.device)
            per_part = per_call.index_add_(0, self._index(pending.part_calls), per_part)
        is_event = per_part[:, :1] == 0
        # where, not a product: a dense call's sums may be NaN or inf, and 0 × NaN is NaN
        counted = torch.where(is_event, per_part[:, 1:3], 0.0)
        values = torch.cat((is_event.to(dtype), counted, per_part[:, 3:]), 1)
        self.acc.index_add_(0, self._index(pending.call_slots), values)

    def _index(self, values: list[int]) -> Tensor:
        return torch.tensor(values, dtype=torch.int64).to(self.device, non_blocking=True)

    def _segment_sums(self, values: Tensor, lengths: list[int]) -> Tensor:
        """Sums of consecutive segments of ``values``. ``unsafe``: the lengths are ours and add up, so the
        kernel need not check them (a check reads them back: a host synchronisation)."""
        if not values.numel():  # the kernel refuses empty data; every segment is empty
            return torch.zeros(len(lengths), dtype=values.dtype, device=values.device)
        return torch.segment_reduce(values, "sum", lengths=self._index(lengths), unsafe=True)
