"""Event detection and event sums, on the tensor's own device.

Nothing here reads a value back to the host, so counting adds no synchronisation per layer; results
are tensors that the accumulator reads once at the end of a profile. Work is done in chunks of whole
rows of at most _CHUNK elements, so temporaries stay small next to the activations.

Exactness: |x| is summed over rows in float32, per column (a position, a feature, a neuron): exact while
a column's sum stays below 2**24; the accumulator records on device when one does not (a column with
16.7 million events in one call), and the report says so. Every sum beyond a column is taken in
float64 (exact to 2**53).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

SpikeMode = Literal["integer", "binary"]
SPIKE_MODES: tuple[str, ...] = ("integer", "binary")

# 2**16 float32 elements (256 KiB): a chunk's temporaries stay in the CPU's L2 cache between the passes
# over it, and far below any allocator's mmap threshold (measured best on spiking ResNet-18, against
# 2**15 to 2**20).
_CHUNK = 1 << 16
EXACT_FLOAT32 = float(1 << 24)  # integers above it are not all representable in float32


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 everywhere it exists (exact integer counts up to 2**53); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _not_events(block: Tensor, magnitude: Tensor, mode: SpikeMode) -> Tensor:
    """0-d float tensor, zero iff every element of ``block`` is an event count under ``mode``.

    Integer mode: Σ frac(|x|) (a sum of non-negative terms is zero iff each term is; NaN and inf make it
    NaN). Binary mode: Σ |x·(x - 1)|, zero iff every element is 0 or 1.
    """
    if mode == "binary":
        return (block * (block - 1)).abs().sum()
    return torch.frac(magnitude).sum()


def column_events(x: Tensor, mode: SpikeMode | None, width: int) -> tuple[Tensor | None, Tensor]:
    """``(off, col)`` for ``x`` viewed as ``[rows, width]``.

    ``col`` (float32, ``[width]``): Σ over rows of |x|. ``off``: a 0-d tensor that is zero iff every element
    of ``x`` is an event count under ``mode``; None when the dtype already says so (bool, or integers in
    integer mode) or when ``mode`` is None (no check wanted).
    """
    rows = x.reshape(-1, width)
    check = mode is not None and (x.is_floating_point() or mode == "binary")
    step = max(1, _CHUNK // max(width, 1))
    off: Tensor | None = None
    col: Tensor | None = None
    for r0 in range(0, rows.shape[0], step):
        block = rows[r0 : r0 + step]
        if not block.is_floating_point():
            block = block.to(torch.float32)
        magnitude = block.abs()
        if check:
            block_off = _not_events(block, magnitude, mode)  # type: ignore[arg-type]
            off = block_off if off is None else off + block_off
        block_col = magnitude.sum(0, dtype=torch.float32) if magnitude.dtype != torch.float64 else magnitude.sum(0)
        col = block_col if col is None else col + block_col
    if col is None:  # no rows: an empty tensor
        col = torch.zeros(width, dtype=torch.float32, device=x.device)
    return off, col


def abs_column_sums(x: Tensor, n: int) -> Tensor:
    """Σ over rows of |x| viewed as [rows, n] (per neuron, per feature...), in the accumulator dtype."""
    return column_events(x, None, n)[1].to(accumulator_dtype(x.device))


def event_stats(x: Tensor, mode: SpikeMode, fanout: Tensor | float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(is_event, events, weighted)`` of ``x`` as 0-d tensors: is every element an event count, Σ|x|,
    and Σ|x|·fanout (``fanout``: a number for every element, or a tensor over x's trailing dimensions,
    broadcast over the leading ones)."""
    acc = accumulator_dtype(x.device)
    width = fanout.numel() if isinstance(fanout, Tensor) else (x.shape[-1] if x.dim() and x.shape[-1] else 1)
    if x.numel() == 0:
        zero = torch.zeros((), dtype=acc, device=x.device)
        return torch.ones((), dtype=torch.bool, device=x.device), zero, zero
    off, col = column_events(x, mode, width)
    col = col.to(acc)
    events = col.sum()
    if isinstance(fanout, Tensor):
        weighted = torch.dot(col, fanout.reshape(-1).to(acc))
    else:
        weighted = events * float(fanout or 0.0)
    is_event = (off == 0) if off is not None else torch.ones((), dtype=torch.bool, device=x.device)
    return is_event, events, weighted
