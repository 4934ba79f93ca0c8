"""Event detection and event-weighted sums.

Everything here runs on the tensor's own device and returns 0-d tensors: nothing reads a value back to
the host, so profiling adds no synchronisation per layer. Work is done in bounded blocks so that the
temporaries never grow with the activation (peak memory stays close to a plain forward pass).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

SpikeMode = Literal["integer", "binary"]
SPIKE_MODES: tuple[str, ...] = ("integer", "binary")

# Elements handled per kernel chain. Column sums of |x| are taken in float32 over at most _MAX_ROWS
# rows, which is exact for integer events while a column sum stays below 2**24 (4096 rows of values
# up to 4095); everything after that is summed in float64.
_BLOCK = 1 << 18
_MAX_ROWS = 4096


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 everywhere it exists (exact integer counts up to 2**53); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _is_event_block(block: Tensor, mode: SpikeMode) -> Tensor:
    if mode == "binary":
        return torch.all((block == 0) | (block == 1))
    return torch.all(block == torch.round(block))


def _rows(x: Tensor, n: int) -> Tensor:
    """x as a [rows, n] matrix (a view whenever x's layout allows it)."""
    return x.reshape(-1, n)


def _blocks(rows: Tensor):
    """(column offset, block) views of a [rows, n] matrix, at most _MAX_ROWS × _BLOCK/rows each."""
    n_rows, n = rows.shape
    row_step = min(max(n_rows, 1), _MAX_ROWS)
    col_step = max(1, _BLOCK // row_step)
    for r0 in range(0, n_rows, row_step):
        row_block = rows[r0 : r0 + row_step]
        for c0 in range(0, n, col_step):
            yield c0, row_block[:, c0 : c0 + col_step]


def _abs_colsum(block: Tensor, acc: torch.dtype) -> Tensor:
    """Σ_rows |block| per column; exact for integer events (see _MAX_ROWS)."""
    if not block.is_floating_point():
        block = block.to(torch.float32)
    reduce_dtype = torch.float64 if block.dtype == torch.float64 else torch.float32
    return torch.linalg.vector_norm(block, 1, dim=0, dtype=reduce_dtype).to(acc)


def event_stats(x: Tensor, mode: SpikeMode, fanout: Tensor | float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Classify ``x`` and sum its events.

    Returns three 0-d tensors on ``x.device``: ``is_event`` (bool: every element is an event count under
    ``mode``), ``events`` (Σ|x|) and ``weighted`` (Σ|x|·fanout). ``fanout`` is a number (every element
    reaches that many synapses), a float64 tensor matching x's trailing dimensions, or None.
    """
    acc = accumulator_dtype(x.device)
    fanout_map = isinstance(fanout, Tensor)
    # Without a fan-out map any [rows, n] view will do: pick one with few, long rows.
    n = fanout.numel() if fanout_map else x.numel() // math.gcd(x.numel(), _MAX_ROWS)
    is_event = torch.ones((), dtype=torch.bool, device=x.device)
    events = torch.zeros((), dtype=acc, device=x.device)
    weighted = torch.zeros((), dtype=acc, device=x.device)
    if x.numel() == 0:
        return is_event, events, weighted
    flat_fanout = fanout.reshape(-1) if fanout_map else None
    known_events = x.dtype == torch.bool or (not x.dtype.is_floating_point and mode == "integer")
    for c0, block in _blocks(_rows(x, n)):
        if not known_events:
            is_event = is_event & _is_event_block(block, mode)
        col = _abs_colsum(block, acc)
        events = events + col.sum()
        if flat_fanout is not None:
            weighted = weighted + torch.dot(col, flat_fanout[c0 : c0 + col.numel()])
    if fanout is not None and not fanout_map:
        weighted = events * float(fanout)
    return is_event, events, weighted


def abs_column_sums(x: Tensor, n: int) -> Tensor:
    """Σ over rows of |x| viewed as [rows, n]: per-position event counts (e.g. spikes per neuron),
    float64 (float32 on MPS), with bounded temporaries."""
    acc = accumulator_dtype(x.device)
    out = torch.zeros(n, dtype=acc, device=x.device)
    for c0, block in _blocks(_rows(x, n)):
        out[c0 : c0 + block.shape[1]] += _abs_colsum(block, acc)
    return out


def abs_sum(x: Tensor) -> Tensor:
    """Σ|x| as a 0-d accumulator-dtype tensor, with bounded temporaries."""
    return event_stats(x, "integer")[1]


def is_event_tensor(x: Tensor, mode: SpikeMode = "integer") -> Tensor:
    """0-d bool tensor: is every element of ``x`` an event count (integer, or {0, 1} in binary mode)?"""
    return event_stats(x, mode)[0]
