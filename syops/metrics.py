"""snnmetrics' ``SynOps`` metric, as a torchmetrics ``Metric`` (so it synchronises across processes).

One metric per spiking layer, given the fan-out of that layer's outputs: a number (every output unit
reaches that many synapses: the next Linear's ``out_features``), or a tensor of the layer's output shape
(C, H, W) for a convolution, which ``syops.fanout(next_layer, (C, H, W))`` gives exactly, border-aware.

- ``update(spikes)``: spikes of shape (B, ...) (summed over time if needed); adds Σ_b |spikes|·fan-out
  per neuron and B samples.
- ``compute()``: {"synops_per_neuron": per-sample synops of each neuron, "synops": their sum, and with
  ``sample_time`` "synops/s": synops / sample_time}. ``metric(spikes)`` returns the same for one batch
  and accumulates it; ``reset()`` starts over.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from .compat._synops import magnitude
from .errors import SyopsError
from .validate import check_positive_number

__all__ = ["SynOps"]


class SynOps(Metric):
    """Synaptic operations caused by a layer's spikes, per sample, accumulated over batches.

    Args:
        fanout: outgoing synapses per neuron: a number, or a tensor of one sample's neuron shape.
        sample_time: duration of one sample in seconds; adds ``"synops/s"`` to the results.
        **kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ``dist_sync_fn``...).
    """

    is_differentiable = True
    higher_is_better = None
    full_state_update = False

    def __init__(self, fanout: float | Tensor, sample_time: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(fanout, (bool, str, bytes)) or (isinstance(fanout, Tensor) and fanout.dtype == torch.bool):
            raise SyopsError(f"SynOps: fanout must be a number or a tensor of numbers, got {fanout!r}")
        try:
            fan = torch.as_tensor(fanout, dtype=torch.float64).detach().clone()
        except (TypeError, ValueError, RuntimeError):
            raise SyopsError(f"SynOps: fanout must be a number or a tensor of numbers, got {fanout!r}") from None
        if not torch.isfinite(fan).all() or (fan < 0).any():
            raise SyopsError("SynOps: fanout must be finite and non-negative")
        sample_time = check_positive_number("SynOps: sample_time (seconds)", sample_time, optional=True)
        self.register_buffer("fanout", fan, persistent=False)
        self.sample_time = sample_time
        # Per-neuron synops summed over samples. With a scalar fan-out the neuron shape is only known at
        # the first update, so the state starts as 0-d and broadcasts then.
        self.add_state("synops_sum", default=torch.zeros(fan.shape, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("samples", default=torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self._neuron_shape: tuple[int, ...] | None = tuple(fan.shape) if fan.dim() else None

    def update(self, spikes: Tensor) -> None:
        if not isinstance(spikes, Tensor) or spikes.dim() < 1:
            raise SyopsError("SynOps.update expects a tensor of spikes with a batch dimension first")
        if spikes.is_complex():
            raise SyopsError(f"SynOps.update: spikes must be real, got {spikes.dtype}")
        # A scalar fan-out fixes the neuron shape at the first update (the state takes that shape).
        expected = self._neuron_shape if self._neuron_shape is not None else self._first_shape()
        if expected is not None and tuple(spikes.shape[1:]) != expected:
            raise SyopsError(
                f"SynOps.update: spikes of shape {list(spikes.shape)} do not match the "
                f"{'fan-out shape' if self.fanout.dim() else 'neuron shape of the earlier updates'} {list(expected)} "
                f"(expected (B, {', '.join(str(s) for s in expected)}))"
            )
        if spikes.dtype == torch.bool:
            spikes = spikes.to(torch.get_default_dtype())  # a spike is one event
        per_neuron = magnitude(spikes).sum(0, dtype=torch.float64) * self.fanout.to(spikes.device)
        self.synops_sum = self.synops_sum + per_neuron
        self.samples = self.samples + spikes.shape[0]

    def _first_shape(self) -> tuple[int, ...] | None:
        """The neuron shape the updates so far fixed (a scalar fan-out), None before the first."""
        return tuple(self.synops_sum.shape) if self.synops_sum.dim() else None

    def compute(self) -> dict[str, Tensor]:
        if int(self.samples) == 0:
            raise SyopsError("SynOps.compute: no samples yet; call update(spikes) first")
        per_neuron = self.synops_sum / self.samples
        result = {"synops_per_neuron": per_neuron, "synops": per_neuron.sum()}
        if self.sample_time is not None:
            result["synops/s"] = result["synops"] / self.sample_time
        return result
