"""Ground truth for the NIR tests, written from the reference discretisation (docs/nir.md) and by brute
force, independently of syops: each helper computes one layer of one time step in float64 and adds
what it did to a tally (synops as events × fan-out through a convolution of ones, dense MACs from the
shapes, neuron updates and spikes counted)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

CONV = {1: F.conv1d, 2: F.conv2d}


def is_events(x: Tensor) -> bool:
    return bool((x == x.round()).all())


@dataclass
class Tally:
    synops: float = 0.0
    acs: float = 0.0
    macs: float = 0.0
    updates: float = 0.0
    spikes: float = 0.0
    calls: int = 0


class Oracle:
    """Totals over a batch of ``batch`` samples; ``per_sample(name)`` divides by it."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.rows: dict[str, Tally] = defaultdict(Tally)

    def per_sample(self, name: str) -> Tally:
        t = self.rows[name]
        b = self.batch
        return Tally(t.synops / b, t.acs / b, t.macs / b, t.updates / b, t.spikes / b, t.calls)

    def _synaptic(self, name: str, x: Tensor, y: Tensor, fan_in: int, synops: float, bias: bool) -> None:
        row = self.rows[name]
        row.calls += 1
        bias_adds = y.numel() if bias else 0
        if is_events(x):
            row.synops += synops
            row.acs += synops + bias_adds
        else:
            row.macs += y.numel() * fan_in + bias_adds

    def linear(self, name: str, x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
        y = x @ w.T + (b if b is not None else 0)
        self._synaptic(name, x, y, w.shape[1], float(x.abs().sum()) * w.shape[0], b is not None)
        return y

    def conv(self, name: str, x: Tensor, w: Tensor, b: Tensor | None, **geometry) -> Tensor:
        conv = CONV[w.dim() - 2]
        y = conv(x, w, b, **geometry)
        ones = torch.ones_like(w)
        synops = float(conv(x.abs(), ones, None, **geometry).sum())
        self._synaptic(name, x, y, w.shape[1] * w[0, 0].numel(), synops, b is not None)
        return y

    def elementwise(self, name: str, *operands: Tensor, ops: int) -> None:
        row = self.rows[name]
        row.calls += 1
        if all(is_events(x) for x in operands):
            row.acs += ops
        else:
            row.macs += ops

    def add(self, name: str, a: Tensor, b: Tensor) -> Tensor:
        self.elementwise(name, a, b, ops=a.numel())
        return a + b

    def neuron(self, name: str, states: Tensor, leaky: bool, spikes: Tensor | None = None) -> None:
        row = self.rows[name]
        row.calls += 1
        row.updates += states.numel()
        if leaky:
            row.macs += states.numel()
        else:
            row.acs += states.numel()
        row.spikes += float(spikes.sum()) if spikes is not None else 0.0


def fire(v: Tensor, threshold: Tensor | float, reset: Tensor | float = 0.0) -> tuple[Tensor, Tensor]:
    """z = (v > threshold); v ← reset where z."""
    z = (v > threshold).double()
    return z, torch.where(z.bool(), torch.as_tensor(reset, dtype=v.dtype), v)


def assert_matches(report, oracle: Oracle, names: list[str], neurons: dict[str, int] | None = None) -> None:
    """Every named row equal to the oracle's, exactly: synops, ACs, MACs, calls, neuron updates and the
    output spike rate (``name`` may be ``(graph, "add")`` for a merge)."""
    for key in names:
        name, op = key if isinstance(key, tuple) else (key, None)
        layer = report.layer(name, op)
        want = oracle.per_sample(f"{name}+{op}" if op else name)
        got = (layer.synops, layer.acs, layer.macs, layer.calls, layer.neuron_updates)
        assert got == (want.synops, want.acs, want.macs, want.calls, want.updates), key
        if want.updates:
            raw = oracle.rows[f"{name}+{op}" if op else name]
            assert layer.output_spike_rate == raw.spikes / raw.updates, key
            assert layer.neurons == (neurons or {}).get(name, layer.neurons)
        else:
            assert layer.output_spike_rate is None, key
