"""Spikes per time step of a neuron layer, on the layer's device (no host synchronisation per call).

A multi-step call holds every step at once: its output's spikes are summed over every dimension but the
time axis ([T, B, ...]: all but the first; [B, T, ...]: all but the second; sinabs' squeezed [B·T, ...]:
viewed as [B, T, ...] by the batch's samples). A single-step call ([B, ...]) is one step: which one is the
step the engine names (a ``time_layout="loop"`` profile) or else its place among the layer's calls in the
batch: K calls over T steps are T runs of K/T calls in step order (a layer called twice per step, or a
net looping over T steps inside its forward). The batch's calls are placed when the next batch starts or
the profile is read; a batch whose K is no multiple of T leaves the layer without per-step figures.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .slots import NeuronSlot
from .terms import LEADING_DIMS, NeuronLayout


def call_step_sums(
    output: Tensor, layout: NeuronLayout, neurons: int, batch: tuple[int, int], dtype: torch.dtype
) -> Tensor | None:
    """Σ|spikes| of a multi-step call at each of its steps (a device vector [T] of ``dtype``), or None for a
    single-step call. ``batch``: the running batch's (samples, T)."""
    if layout == "step":
        return None
    samples, timesteps = batch
    if output.numel() <= neurons and timesteps > 1:
        # one sample at one step cannot be all of a multi-step call: a silent layer's placeholder zeros
        return torch.zeros(timesteps, dtype=dtype, device=output.device)
    if output.dim() < LEADING_DIMS[layout] or output.numel() <= neurons:
        return None
    x = output.detach()
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if layout == "TB":
        steps = x.reshape(1, x.shape[0], -1)
    elif layout == "BT":
        steps = x.reshape(x.shape[0], x.shape[1], -1)
    else:  # squeezed [B·T, ...]
        if x.shape[0] % samples:
            return None
        steps = x.reshape(samples, x.shape[0] // samples, -1)
    # a non-finite element is no spike (as in the spike map)
    return torch.nan_to_num(_step_sums(steps.abs(), dtype), 0.0, 0.0, 0.0)


_BLOCK = 4096  # elements summed in float32 at once: exact for spike counts below 4096 per element


def _step_sums(magnitude: Tensor, dtype: torch.dtype) -> Tensor:
    """Σ over dims 0 and 2 of ``magnitude`` [A, T, n] (non-negative), exactly: blocks of ``_BLOCK``
    elements summed in float32 (a sum of integers below 2**24, exact; a float64 pass over every element
    costs twelve times as much), the block sums and the few elements left over in ``dtype``."""
    n = magnitude.shape[2]
    whole = n // _BLOCK * _BLOCK
    out = magnitude[:, :, whole:].sum((0, 2), dtype=dtype)
    if whole:
        blocks = magnitude[:, :, :whole].reshape(magnitude.shape[0], magnitude.shape[1], -1, _BLOCK).sum(3)
        out = out + blocks.to(dtype).sum((0, 2))
    return out


def add_call(slot: NeuronSlot, sums: Tensor | None, spikes: Tensor, step: int | None, dtype: torch.dtype) -> None:
    """One call's spikes into ``slot``: a multi-step call's ``sums`` at once; a single-step call's total
    (``spikes``: its column sums) kept until the batch's calls are placed (``fold_batch``)."""
    if slot.steps_unknown:
        return
    if sums is None:
        slot.batch_steps.append((step, spikes.sum(dtype=dtype)))
        return
    _add(slot, sums)


def fold_batch(slot: NeuronSlot, timesteps: int) -> None:
    """Place the single-step calls of the batch that ended in ``slot.step_spikes`` (``timesteps``: the
    batch's T)."""
    calls, slot.batch_steps = slot.batch_steps, []
    if not calls or slot.steps_unknown:
        return
    totals = torch.stack([total for _, total in calls])
    steps = [step for step, _ in calls]
    timesteps = max(int(timesteps), 1)
    if all(step is not None for step in steps) and max(steps) < timesteps:  # type: ignore[type-var]
        index = torch.tensor(steps, dtype=torch.int64).to(totals.device, non_blocking=True)
        _add(slot, torch.zeros(timesteps, dtype=totals.dtype, device=totals.device).index_add_(0, index, totals))
    elif len(calls) % timesteps == 0:
        _add(slot, totals.view(timesteps, len(calls) // timesteps).sum(1))
    else:
        slot.steps_unknown = True


def _add(slot: NeuronSlot, sums: Tensor) -> None:
    if slot.step_spikes is None:
        slot.step_spikes = sums
    elif slot.step_spikes.shape == sums.shape:
        slot.step_spikes = slot.step_spikes + sums
    else:  # calls of different T: no single per-step view
        slot.steps_unknown = True
