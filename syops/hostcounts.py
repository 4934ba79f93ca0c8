"""A call's counts added on the host: the CPU's path, where reading a value back costs nothing.

Each slot keeps five running sums, the columns of the device accumulator (``syops.accumulate``): event
calls, synops, events of event calls, reads of event operands (their events), reads of dense operands
(their elements). Every value is an exact integer in float64, so the order of additions does not matter
and the host's sums are bit for bit the device fold's.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .events import EXACT_FLOAT32

_EXACT_HALF = float(1 << 23)  # a float32 sum of non-negative integers below this is exact (see integer_total)


def integer_total(counts: Tensor) -> float:
    """Σ of a CPU tensor of non-negative integers (an event operand's column sums, a spike map), exactly:
    its own sum when below 2**23 (every partial sum is then an integer below 2**24, exact in float32; a
    total of 2**24 or more cannot round below 2**23), else in float64 (for float32, a conversion about
    four times slower)."""
    total = counts.sum().item()
    return total if total < _EXACT_HALF else counts.sum(dtype=torch.float64).item()


def is_dense(off: Tensor | None, col: Tensor | None) -> bool:
    """Is an operand read (its check ``off``, its column sums ``col``) dense? Non-zero or NaN: dense."""
    return col is None or (off is not None and off.item() != 0)


def add_parts(
    host: list[float], parts: list[tuple[Tensor | None, Tensor | None, int]], fanout: Tensor | None = None
) -> bool:
    """One call's operands (check, column sums, elements) added to ``host``, as the device fold adds them:
    the call is events iff every operand is; an event operand's events are read, a dense one's elements.
    ``fanout`` (a synaptic call's one operand): the fan-out map flat in float64, weighting the column sums
    into synops (None: no synops, or a uniform fan-out applied to the events later). Returns whether a
    float32 column sum may have rounded."""
    is_event = 1.0
    synops = events = dense_reads = 0.0
    inexact = False
    for off, col, elements in parts:
        if is_dense(off, col):
            is_event = 0.0
            dense_reads += elements
            continue
        total = integer_total(col) if col.numel() != 1 else col.item()
        inexact = inexact or (total >= EXACT_FLOAT32 and col.amax().item() >= EXACT_FLOAT32)
        events += total
        if fanout is not None:
            synops += torch.dot(col.to(torch.float64), fanout).item()
    host[0] += is_event
    host[1] += synops * is_event
    host[2] += events * is_event
    host[3] += events
    host[4] += dense_reads
    return inexact
