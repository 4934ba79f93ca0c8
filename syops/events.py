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

import ctypes
from typing import Literal

import torch
from torch import Tensor

SpikeMode = Literal["integer", "binary"]
SPIKE_MODES: tuple[str, ...] = ("integer", "binary")

# 2**18 float32 elements (1 MiB): a chunk stays in the CPU's cache between the passes over it, and the
# scratch buffer (at most this, or a 64th of an operand whose rows are longer) adds little to peak memory
# (a dense operand, decided by a peek, needs none). Against 2**16 it ran spiking ResNet-18 (T=4,
# 3×128×128) 1.32× → 1.23× a plain forward (fewer chunks: fewer kernels and no stacking), with the same
# peak memory on it and on the dense ResNet-18.
_CHUNK = 1 << 18
_MAX_BLOCKS = 64  # column blocks of a row longer than a chunk (the scratch grows past a chunk beyond it)
_VIEWS = 64  # chunk shapes whose scratch views are kept
_PEEK = 32  # elements looked at on the host before any kernel (the first, and as many spread), early path
_DENSE = torch.ones(())  # the check of an operand a peek decided dense (non-zero: not events)
_CTYPES = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}
EXACT_FLOAT32 = float(1 << 24)  # integers above it are not all representable in float32


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 everywhere it exists (exact integer counts up to 2**53); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


class Scratch:
    """A reusable buffer for |x| of one chunk, so no pass allocates (and faults in) fresh memory. The view
    for each chunk shape is kept (one dispatch fewer per read), until the buffer grows."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[torch.device, torch.dtype], Tensor] = {}
        self._views: dict[tuple, Tensor] = {}

    def like(self, block: Tensor) -> Tensor:
        """A buffer shaped like ``block``, of its dtype (float32 for non-float blocks)."""
        dtype = block.dtype if block.is_floating_point() else torch.float32
        key = (block.device, dtype, block.shape)
        view = self._views.get(key)
        if view is not None:
            return view
        buffer = self._buffers.get(key[:2])
        if buffer is None or buffer.numel() < block.numel():
            buffer = torch.empty(block.numel(), dtype=dtype, device=block.device)
            self._buffers[key[:2]] = buffer
            self._views.clear()  # views of the old buffer
        if len(self._views) >= _VIEWS:
            self._views.clear()
        view = self._views[key] = buffer[: block.numel()].view(block.shape)
        return view


def column_events(
    x: Tensor,
    mode: SpikeMode | None,
    width: int,
    scratch: Scratch | None = None,
    early: bool = False,
    expect_events: bool = False,
    row_sums: list[Tensor] | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """``(off, col)`` for ``x`` viewed as ``[rows, width]``.

    ``col`` (float32, or float64 for a float64 ``x``; ``[width]``): Σ over rows of |x|. ``off``: a 0-d tensor
    that is zero iff every element of ``x`` is an event count under ``mode`` (integer mode: Σ frac(|x|), a
    sum of non-negative terms, NaN for NaN or inf; binary mode: Σ |x·(x - 1)|, NaN or inf for them: a
    non-finite operand is never an event tensor, and callers drop its NaN sums with ``where``); None when the dtype
    already says so (bool, or integers in integer mode) or when ``mode`` is None (no check wanted).

    Per chunk (of rows, or of columns when one row is longer than a chunk): |x| into a scratch buffer, its
    column sums, its fractional part in place, the sum of that: four kernels, three of them on data still
    in cache.

    ``early`` (a CPU, where reading a flag back costs nothing): before any kernel up to 64 elements are
    looked at on the host (read straight from CPU memory; see ``_looks_dense``): one that is no event count
    decides a dense operand at once, ``(a non-zero check, None)``. Otherwise (or with ``expect_events``, the
    caller's last operand at this place was events) each chunk's flag is read after its column sums, and
    the first chunk that is not all event counts ends the read: ``(off, None)`` with ``off`` non-zero (or NaN). A sum of
    non-negative terms is non-zero as soon as one chunk's is, so ``off == 0`` decides the same; a dense
    operand's column sums are never needed.

    ``row_sums`` (a list; not with ``early``): Σ over each row of |x| (float32, or float64 for a float64
    ``x``; exact while a row's sum stays below 2**24, as the column sums) is appended to it chunk by chunk
    in row order, read from the |x| still in cache: a neuron layer's spikes per (step, sample) without a
    second read of its output.
    """
    check = mode if mode is not None and (x.is_floating_point() or mode == "binary") else None
    early = early and check is not None
    if early and not expect_events and x.numel() and _looks_dense(x, check):
        return _DENSE, None
    rows = x.detach().reshape(-1, width)  # counting never takes part in autograd
    if not rows.shape[0]:  # an empty tensor
        if row_sums is not None:
            row_sums.append(torch.zeros(0, dtype=torch.float32, device=x.device))
        return None, torch.zeros(width, dtype=torch.float32, device=x.device)
    step = max(1, _CHUNK // max(width, 1))
    scratch = scratch or Scratch()
    chunk = _events_first_chunk if early else _chunk_events
    if step == 1 and rows.numel() > _CHUNK:  # rows longer than a chunk (a neuron layer's [steps, neurons])
        if x.device.type != "cpu":  # one pass into a temporary: on a GPU every block is four more launches
            return _chunk_events(rows, check, None, row_sums)
        return _wide_column_events(rows, check, scratch, early, row_sums)
    if rows.shape[0] <= step:  # one chunk (most layer inputs)
        return chunk(rows, check, scratch, row_sums)
    cols: list[Tensor] = []
    offs: list[Tensor] = []
    for r0 in range(0, rows.shape[0], step):
        off, col = chunk(rows[r0 : r0 + step], check, scratch, row_sums)
        if col is None:  # early: this chunk decided a dense operand
            return off, None
        cols.append(col)
        if off is not None:
            offs.append(off)
    return (torch.stack(offs).sum() if offs else None), torch.stack(cols).sum(0)


def _wide_column_events(
    rows: Tensor, mode: SpikeMode | None, scratch: Scratch, early: bool, row_sums: list[Tensor] | None = None
) -> tuple[Tensor | None, Tensor | None]:
    """``column_events`` of rows longer than a chunk, a block of whole columns at a time (at most
    ``_MAX_BLOCKS`` blocks): each column's sum is taken over the same rows in the same order as one pass
    over all rows would, so the column sums are bit for bit the same, and the scratch stays small."""
    count, width = rows.shape
    # Whole vector lanes per block (a multiple of 256 columns): torch sums a block's columns as it sums them
    # in the full rows, the last few columns of a row included.
    block = -(-max(1, _CHUNK // count, -(-width // _MAX_BLOCKS)) // 256) * 256
    dtype = torch.float64 if rows.dtype == torch.float64 else torch.float32
    col = torch.empty(width, dtype=dtype, device=rows.device)
    offs: list[Tensor] = []
    per_row = None if row_sums is None else torch.zeros(count, dtype=dtype, device=rows.device)
    starts = list(range(0, width, block))
    if len(starts) > 1 and width - starts[-1] < 256:  # a few columns alone would be summed another way
        starts.pop()
    for c0, c1 in zip(starts, [*starts[1:], width], strict=True):
        part = rows[:, c0:c1]
        magnitude = scratch.like(part)
        if part.is_floating_point():
            torch.abs(part, out=magnitude)
        else:
            magnitude.copy_(part).abs_()
        torch.sum(magnitude, 0, dtype=dtype, out=col[c0:c1])
        if per_row is not None:
            per_row += magnitude.sum(1, dtype=dtype)
        off = _check(part, magnitude, mode)
        if off is None:
            continue
        if early and off.item() != 0:  # non-zero or NaN: dense
            return off, None
        offs.append(off)
    if row_sums is not None and per_row is not None:
        row_sums.append(per_row)
    return (torch.stack(offs).sum() if offs else None), col


def _looks_dense(x: Tensor, mode: SpikeMode) -> bool:
    """Is an element of ``x`` looked at on the host no event count? The first element alone decides most
    dense operands; else the first ``_PEEK`` and ``_PEEK`` more spread evenly over the rest (a
    convolution's output of sparse spikes starts with zeros, and is dense further on). Read straight from
    CPU memory for a contiguous float tensor (no kernel, no dispatch), else through views."""
    n = x.numel()
    step = max(1, (n - _PEEK) // _PEEK)
    kind = _CTYPES.get(x.dtype)
    if kind is not None and x.layout == torch.strided and x.is_contiguous() and not x.is_neg():
        try:
            address = x.data_ptr()
        except RuntimeError:  # a tensor without storage (fake, functional): views
            pass
        else:
            if _peek_is_dense((kind.from_address(address).value,), mode):
                return True
            data = (kind * n).from_address(address)
            return _peek_is_dense(data[:_PEEK] + data[_PEEK:n:step], mode)
    flat = x.detach().reshape(-1)
    return _peek_is_dense(flat[:_PEEK].tolist() + flat[_PEEK::step].tolist(), mode)


def _peek_is_dense(values: list, mode: SpikeMode) -> bool:
    """Is one of ``values`` (the first elements, read to the host: a CPU's view) no event count? (Looped
    in C: NaN and inf are no integer and in no set of events.)"""
    if mode == "binary":
        return not _BINARY.issuperset(values)
    return not all(map(float.is_integer, values))  # integer mode peeks at floating-point tensors only


_BINARY = frozenset({0, 1})


def _chunk_events(
    block: Tensor, mode: SpikeMode | None, scratch: Scratch | None, row_sums: list[Tensor] | None = None
) -> tuple[Tensor | None, Tensor]:
    """The check and column sums of one chunk (``scratch`` None: a temporary of the chunk's size); its row
    sums of |x| appended to ``row_sums`` when given (before the check: integer mode overwrites |x|)."""
    magnitude = scratch.like(block) if scratch is not None else Scratch().like(block)
    if block.is_floating_point():
        torch.abs(block, out=magnitude)
    else:
        magnitude.copy_(block).abs_()
    col = _column_sums(magnitude)
    if row_sums is not None:
        row_sums.append(magnitude.sum(1, dtype=col.dtype))
    return _check(block, magnitude, mode), col


def _check(block: Tensor, magnitude: Tensor, mode: SpikeMode | None) -> Tensor | None:
    """The event check of a chunk whose |x| is ``magnitude`` (overwritten in integer mode)."""
    if mode == "binary":
        values = block if block.is_floating_point() else block.to(torch.float32)
        return (values * (values - 1)).abs().sum()
    if mode == "integer":
        return magnitude.frac_().sum()
    return None


def _events_first_chunk(
    block: Tensor, mode: SpikeMode, scratch: Scratch, row_sums: list[Tensor] | None = None
) -> tuple[Tensor, Tensor | None]:
    """``_chunk_events`` and its flag read back: ``(off, None)`` for a dense chunk."""
    off, col = _chunk_events(block, mode, scratch, row_sums)
    return (off, None) if off.item() != 0 else (off, col)


def _column_sums(magnitude: Tensor) -> Tensor:
    dtype = torch.float64 if magnitude.dtype == torch.float64 else torch.float32
    if magnitude.shape[0] == 1:  # one row is its own sum (a copy: five times faster than a reduction)
        return magnitude[0].to(dtype, copy=True)
    return magnitude.sum(0, dtype=dtype)


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
