"""Event detection and event-weighted sums.

Everything here runs on the tensor's own device and returns tensors: nothing reads a value back to the
host, so profiling adds no synchronisation per layer. Work is done in blocks of at most _BLOCK
elements, so temporaries never grow with the activation (peak memory stays close to a plain forward).

Exactness: |x| of a block is summed in float32 — exact, because a block of 2**16 integers of magnitude
at most 256 sums to less than 2**24 — and everything beyond a block is summed in float64 (exact to
2**53). Integer event counts are therefore exact for every spike format syops knows and for raw 8-bit
inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor

SpikeMode = Literal["integer", "binary"]
SPIKE_MODES: tuple[str, ...] = ("integer", "binary")

_BLOCK = 1 << 16


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 everywhere it exists (exact integer counts up to 2**53); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _blocks(x: Tensor, n: int) -> Iterator[tuple[int, Tensor]]:
    """(column offset, block) views of x as a [rows, n] matrix, each at most _BLOCK elements."""
    rows = x.reshape(-1, n)
    n_rows = rows.shape[0]
    cols = min(n, _BLOCK)
    row_step = max(1, _BLOCK // cols)
    for r0 in range(0, n_rows, row_step):
        row_block = rows[r0 : r0 + row_step]
        for c0 in range(0, n, cols):
            yield c0, row_block[:, c0 : c0 + cols] if cols < n else row_block


def _float(block: Tensor) -> Tensor:
    return block if block.is_floating_point() else block.to(torch.float32)


def _not_events(block: Tensor, magnitude: Tensor, mode: SpikeMode) -> Tensor:
    """0-d float tensor, zero iff every element of ``block`` is an event count under ``mode``.

    Integer mode: Σ frac(|x|) (a sum of non-negative terms is zero iff each term is; NaN and inf make it
    NaN). Binary mode: Σ |x·(x - 1)|, zero iff every element is 0 or 1.
    """
    if mode == "binary":
        return (block * (block - 1)).abs().sum()
    return torch.frac(magnitude).sum()


def event_stats(x: Tensor, mode: SpikeMode, fanout: Tensor | float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Classify ``x`` and sum its events.

    Returns three 0-d tensors on ``x.device``: ``is_event`` (bool: every element is an event count under
    ``mode``), ``events`` (Σ|x|) and ``weighted`` (Σ|x|·fanout). ``fanout`` is a number (every element
    reaches that many synapses), a float64 tensor matching x's trailing dimensions, or None.
    """
    acc = accumulator_dtype(x.device)
    fanout_map = fanout if isinstance(fanout, Tensor) else None
    events = torch.zeros((), dtype=acc, device=x.device)
    weighted = torch.zeros((), dtype=acc, device=x.device)
    if x.numel() == 0:
        return torch.ones((), dtype=torch.bool, device=x.device), events, weighted
    # Integer tensors are integers: only binary mode has anything to check.
    check = x.is_floating_point() or mode == "binary"
    off = None
    n = fanout_map.numel() if fanout_map is not None else x.numel()
    flat_fanout = fanout_map.reshape(-1) if fanout_map is not None else None
    for c0, block in _blocks(x, n):
        block = _float(block)
        magnitude = block.abs()
        if check:
            block_off = _not_events(block, magnitude, mode)
            off = block_off if off is None else off + block_off
        if flat_fanout is None:
            events = events + magnitude.sum().to(acc)
        else:
            col = magnitude.sum(0).to(acc)  # per-position events of this block's rows
            events = events + col.sum()
            weighted = weighted + torch.dot(col, flat_fanout[c0 : c0 + col.numel()])
    if fanout is not None and fanout_map is None:
        weighted = events * float(fanout)
    is_event = (off == 0) if off is not None else torch.ones((), dtype=torch.bool, device=x.device)
    return is_event, events, weighted


def abs_column_sums(x: Tensor, n: int) -> Tensor:
    """Σ over rows of |x| viewed as [rows, n]: per-position event counts (e.g. spikes per neuron), in
    the accumulator dtype, with bounded temporaries."""
    acc = accumulator_dtype(x.device)
    out = torch.zeros(n, dtype=acc, device=x.device)
    for c0, block in _blocks(x, n):
        out[c0 : c0 + block.shape[1]] += _float(block).abs().sum(0).to(acc)
    return out


def abs_sum(x: Tensor) -> Tensor:
    """Σ|x| as a 0-d accumulator-dtype tensor, with bounded temporaries."""
    return event_stats(x, "integer")[1]


def is_event_tensor(x: Tensor, mode: SpikeMode = "integer") -> Tensor:
    """0-d bool tensor: is every element of ``x`` an event count (integer, or {0, 1} in binary mode)?"""
    return event_stats(x, mode)[0]
