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


def add_parts(host: list[float], parts: list[tuple[Tensor | None, Tensor | None, int]]) -> bool:
    """One call's operands (check, column sums, elements) added to ``host``, as the device fold adds them:
    the call is events iff every operand is; an event operand's events are read, a dense one's elements.
    (An operand's ``col`` may be any column sums of it: only their total is read.) Returns whether a
    float32 column sum may have rounded."""
    is_event = 1.0
    events = dense_reads = 0.0
    inexact = False
    for off, col, elements in parts:
        if is_dense(off, col):
            is_event = 0.0
            dense_reads += elements
            continue
        total = integer_total(col) if col.numel() != 1 else col.item()
        inexact = inexact or (total >= EXACT_FLOAT32 and col.amax().item() >= EXACT_FLOAT32)
        events += total
    host[0] += is_event
    host[2] += events * is_event
    host[3] += events
    host[4] += dense_reads
    return inexact


def synaptic_weights(fanout: Tensor | None, width: int) -> Tensor:
    """``[2, width]`` float64: a row of ones (events) over the fan-out map (synops; zeros for none, or a
    uniform fan-out applied to the events later), for ``add_synaptic``."""
    weights = torch.zeros(2, width, dtype=torch.float64)
    weights[0] = 1.0
    if fanout is not None:
        weights[1] = fanout.reshape(-1)
    return weights


def add_synaptic(host: list[float], off: Tensor | None, col: Tensor, elements: int, weights: Tensor) -> bool:
    """A synaptic call added to ``host``, as ``add_parts`` adds its one operand (check ``off``, column sums
    ``col``, ``elements``): of event input, its events and synops in one product, exact in float64. ``col``:
    the input's column sums over any multiple of the fan-out map's columns (a neuron layer's sums over all
    its neurons, reused as they are: ``[C·H·W]`` against a map over ``[H·W]``). Returns whether a float32
    column sum may have rounded."""
    if is_dense(off, col):
        return add_parts(host, [(off, col, elements)])
    width = weights.shape[1]
    sums = col.to(torch.float64) if col.numel() == width else col.view(-1, width).sum(0, dtype=torch.float64)
    events, synops = torch.mv(weights, sums).tolist()
    host[0] += 1.0
    host[1] += synops
    host[2] += events
    host[3] += events
    return events >= EXACT_FLOAT32 and col.amax().item() >= EXACT_FLOAT32
