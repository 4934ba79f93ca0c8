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

import math
from typing import Literal

import torch
from torch import Tensor

SpikeMode = Literal["integer", "binary"]
SPIKE_MODES: tuple[str, ...] = ("integer", "binary")

# 2**16 float32 elements (256 KiB): a chunk stays in the CPU's L2 cache between the passes over it, and
# the scratch buffer (at most this, or one row if a row is longer) adds little to peak memory. 2**18 ran
# about 1 ms faster on spiking ResNet-18 but raised a dense ResNet-18's peak memory by 20 %.
_CHUNK = 1 << 16
_PROBE = 1 << 12  # elements of the first chunk on the early path
_PEEK = 32  # elements looked at on the host before any kernel, on the early path
_DENSE = torch.ones(())  # the check of an operand a peek decided dense (non-zero: not events)
EXACT_FLOAT32 = float(1 << 24)  # integers above it are not all representable in float32


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 everywhere it exists (exact integer counts up to 2**53); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


class Scratch:
    """A reusable buffer for |x| of one chunk, so no pass allocates (and faults in) fresh memory."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[torch.device, torch.dtype], Tensor] = {}

    def like(self, block: Tensor) -> Tensor:
        """A buffer shaped like ``block``, of its dtype (float32 for non-float blocks)."""
        dtype = block.dtype if block.is_floating_point() else torch.float32
        key = (block.device, dtype)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < block.numel():
            buffer = torch.empty(block.numel(), dtype=dtype, device=block.device)
            self._buffers[key] = buffer
        return buffer[: block.numel()].view(block.shape)


def column_events(
    x: Tensor,
    mode: SpikeMode | None,
    width: int,
    scratch: Scratch | None = None,
    early: bool = False,
    expect_events: bool = False,
) -> tuple[Tensor | None, Tensor | None]:
    """``(off, col)`` for ``x`` viewed as ``[rows, width]``.

    ``col`` (float32, or float64 for a float64 ``x``; ``[width]``): Σ over rows of |x|. ``off``: a 0-d tensor
    that is zero iff every element of ``x`` is an event count under ``mode`` (integer mode: Σ frac(|x|), a
    sum of non-negative terms, NaN for NaN or inf; binary mode: Σ |x·(x - 1)|, NaN or inf for them: a
    non-finite operand is never an event tensor, and callers drop its NaN sums with ``where``); None when the dtype
    already says so (bool, or integers in integer mode) or when ``mode`` is None (no check wanted).

    Per chunk of rows: |x| into a scratch buffer, its column sums, its fractional part in place, the
    sum of that: four kernels, three of them on data still in cache.

    ``early`` (a CPU, where reading a flag back costs nothing): each chunk is checked before its column
    sums are taken, and the first chunk that is not all event counts ends the read: ``(off, None)``, with
    ``off`` that chunk's non-zero (or NaN) check. A sum of non-negative terms is non-zero as soon as one
    chunk's is, so ``off == 0`` decides the same; a dense operand's column sums are never needed.
    Before any kernel, the first 32 elements are looked at on the host (a view of CPU memory): one that
    is no event count decides a dense operand at once, ``(a non-zero check, None)``.
    ``expect_events`` (the caller's last operand at this place was events): the column sums are taken
    first, in chunks as without ``early``, and the flag read after each chunk.
    """
    rows = x.detach().reshape(-1, width)  # counting never takes part in autograd
    if not rows.shape[0]:  # an empty tensor
        return None, torch.zeros(width, dtype=torch.float32, device=x.device)
    check = mode if mode is not None and (x.is_floating_point() or mode == "binary") else None
    step = max(1, _CHUNK // max(width, 1))
    scratch = scratch or Scratch()
    chunk = _chunk_events
    if early and check is not None:
        if not expect_events and x.is_contiguous() and _peek_is_dense(rows.view(-1)[:_PEEK].tolist(), check):
            return _DENSE, None
        chunk = _events_first_chunk if expect_events else _early_chunk_events
    first = step
    if chunk is _early_chunk_events:
        # A short first chunk: a dense operand is nearly always decided by its first few thousand elements.
        first = max(1, min(step, _PROBE // max(width, 1)))
    if rows.shape[0] <= first:  # one chunk (most layer inputs)
        return chunk(rows, check, scratch)
    if step == 1 and chunk is _chunk_events:
        # Rows longer than a chunk (a neuron layer's output, [steps, neurons]): one pass over all rows
        # into a temporary of x's size. It is bit for bit the stack of one-row column sums that chunking
        # would sum (a one-element sum is exact), without the stack, and the check sums the same terms.
        return _chunk_events(rows, check, None)
    cols: list[Tensor] = []
    offs: list[Tensor] = []
    for r0, r1 in _chunks(rows.shape[0], first, step):
        off, col = chunk(rows[r0:r1], check, scratch)
        if col is None:  # early: this chunk decided a dense operand
            return off, None
        cols.append(col)
        if off is not None:
            offs.append(off)
    return (torch.stack(offs).sum() if offs else None), torch.stack(cols).sum(0)


def _peek_is_dense(values: list, mode: SpikeMode) -> bool:
    """Is one of ``values`` (the first elements, read to the host: a CPU's view) no event count?"""
    if mode == "binary":
        return any(v != 0 and v != 1 for v in values)  # NaN compares unequal: dense
    return any(not math.isfinite(v) or v != math.floor(v) for v in values)


def _chunks(rows: int, first: int, step: int) -> list[tuple[int, int]]:
    """Row ranges: ``first`` rows, then ``step`` rows at a time."""
    bounds = [(0, min(first, rows))]
    bounds += [(r0, min(r0 + step, rows)) for r0 in range(first, rows, step)]
    return bounds


def _chunk_events(block: Tensor, mode: SpikeMode | None, scratch: Scratch | None) -> tuple[Tensor | None, Tensor]:
    """The check and column sums of one chunk (``scratch`` None: a temporary of the chunk's size)."""
    magnitude = scratch.like(block) if scratch is not None else Scratch().like(block)
    if block.is_floating_point():
        torch.abs(block, out=magnitude)
    else:
        magnitude.copy_(block).abs_()
    col = _column_sums(magnitude)
    if mode == "binary":
        values = block if block.is_floating_point() else block.to(torch.float32)
        return (values * (values - 1)).abs().sum(), col
    if mode == "integer":
        return magnitude.frac_().sum(), col
    return None, col


def _events_first_chunk(block: Tensor, mode: SpikeMode, scratch: Scratch) -> tuple[Tensor, Tensor | None]:
    """``_chunk_events`` and its flag read back: ``(off, None)`` for a dense chunk."""
    off, col = _chunk_events(block, mode, scratch)
    return (off, None) if off.item() != 0 else (off, col)


def _early_chunk_events(block: Tensor, mode: SpikeMode, scratch: Scratch) -> tuple[Tensor, Tensor | None]:
    """``_chunk_events`` with the check first and its flag read back: ``(off, None)`` for a dense chunk."""
    magnitude = scratch.like(block)
    if block.is_floating_point():
        torch.abs(block, out=magnitude)
    else:
        magnitude.copy_(block).abs_()
    if mode == "binary":
        values = block if block.is_floating_point() else block.to(torch.float32)
        off = (values * (values - 1)).abs().sum()
    else:
        off = magnitude.frac_().sum()
    if off.item() != 0:  # non-zero or NaN: dense
        return off, None
    if mode == "integer":  # frac_ zeroed |x|: taken again from the chunk, still in cache
        if block.is_floating_point():
            torch.abs(block, out=magnitude)
        else:
            magnitude.copy_(block).abs_()
    return off, _column_sums(magnitude)


def _column_sums(magnitude: Tensor) -> Tensor:
    return magnitude.sum(0) if magnitude.dtype == torch.float64 else magnitude.sum(0, dtype=torch.float32)


def abs_column_sums(x: Tensor, n: int) -> Tensor:
    """Σ over rows of |x| viewed as [rows, n] (per neuron, per feature...), in the accumulator dtype."""
    return column_events(x, None, n)[1].to(accumulator_dtype(x.device))


def event_stats(x: Tensor, mode: SpikeMode, fanout: Tensor | float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(is_event, events, weighted)`` of ``x`` as 0-d tensors: is every element an event count, Σ|x|,
    and Σ|x|·fanout (``fanout``: a number for every element, or a tensor over x's trailing dimensions,
    broadcast over the leading ones)."""
    x = x.detach()
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
