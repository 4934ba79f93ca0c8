"""sinabs' analysis APIs, ``sinabs.synopcounter.SNNAnalyzer`` and ``SynOpCounter``, for models of any
framework (spikingjelly, sinabs, snnTorch, plain torch), with exact fan-outs.

SNNAnalyzer counts per forward pass of the model it was given: one forward = one batch of samples over
all its time steps. Its figures are per sample: a synaptic layer's ``synops`` are Σ|x|·fan-out over the
call(s) divided by the batch size B, i.e. summed over the time steps; a spiking layer's firing rates
are spikes / (B · T · neurons). B and T come from the spiking layers (syops.compat._layout); a model
without spiking layers uses the first dimension of each synaptic layer's input as its batch, as sinabs
does. With ``average=True`` the figures are averaged over the forward passes (batches) seen.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .. import frameworks
from ..errors import SyopsError
from ..events import accumulator_dtype
from ..layers import NeuromorphicReLU
from ..rules import RuleContext
from ..rules._util import first_tensor
from ..terms import Neuron
from ..validate import check_positive_number
from ._layout import neuron_layout
from ._synops import FanoutMaps, PoolScale, column_sums, is_synaptic, weighted_events

__all__ = ["SNNAnalyzer", "SynOpCounter"]


def neuromorphic_relu_types() -> tuple[type, ...]:
    """syops' NeuromorphicReLU, and sinabs' when sinabs is loaded (a model holding one has loaded it)."""
    layers = sys.modules.get("sinabs.layers")
    sinabs_type = getattr(layers, "NeuromorphicReLU", None) if layers is not None else None
    return (NeuromorphicReLU, sinabs_type) if isinstance(sinabs_type, type) else (NeuromorphicReLU,)


@dataclass
class _SpikingPass:
    """One spiking layer during one forward pass."""

    spikes: Tensor  # [neurons], summed over batch and time rows
    rows: int
    batch: int
    neuron_shape: tuple[int, ...]
    input: Tensor | None
    output: Tensor


@dataclass
class _SpikingStats:
    name: str
    n_neurons: int = 0
    rate: Tensor | None = None  # per neuron, last forward pass
    input: Tensor | None = None
    output: Tensor | None = None
    rate_sum: Tensor | None = None
    output_sum: Tensor | None = None
    output_sum_valid: bool = True  # False once two batches had different shapes
    batches: int = 0


@dataclass
class _ParameterPass:
    weighted: Tensor  # Σ|x|·fan-out (× average-pooling factor) over the calls of this pass
    rows: int
    first_dim: int


@dataclass
class _ParameterStats:
    name: str
    synops: Tensor | None = None
    steps: int | float = 0
    synops_sum: Tensor | None = None
    batches: int = 0


def _accumulate(total: Tensor | None, value: Tensor) -> Tensor:
    """sinabs' running sum: earlier batches detached, the current one keeps its graph."""
    return value if total is None else total.detach() + value


class SNNAnalyzer:
    """Statistics of the spiking and synaptic layers of ``model``, gathered by hooks on its forward passes.

    Args:
        model: the model (any framework). Statistics are per forward pass of this module.
        dt: milliseconds per time step, for ``time_window`` and ``SynOps/s``.

    ``get_layer_statistics()`` / ``get_model_statistics()`` return sinabs' dictionaries, with the values
    of the last forward pass (tensors that keep the autograd graph) or, with ``average=True``, the mean
    over the forward passes since creation or ``reset()``. Remove the hooks with ``close()`` or by using
    the analyzer as a context manager. Memory stays bounded: per layer, running sums and references to
    the last pass's tensors.
    """

    def __init__(self, model: nn.Module, dt: float = 1.0) -> None:
        if not isinstance(model, nn.Module):
            raise SyopsError(f"SNNAnalyzer expects an nn.Module, got {type(model).__name__}")
        self.model = model
        self.dt = check_positive_number("SNNAnalyzer: dt (milliseconds per time step)", dt)
        self.handles: list[Any] = []
        self._maps = FanoutMaps()
        self._scale = PoolScale()
        self._ctx = RuleContext()
        self._spiking: dict[int, _SpikingStats] = {}
        self._parameter: dict[int, _ParameterStats] = {}
        self._order: list[tuple[str, int]] = []
        self._active = False
        self._pass_spiking: dict[int, _SpikingPass] = {}
        self._pass_parameter: dict[int, _ParameterPass] = {}
        self._attach()

    # -- hooks ------------------------------------------------------------------------------------
    def _attach(self) -> None:
        relus = neuromorphic_relu_types()
        for name, module in self.model.named_modules():
            if is_synaptic(module):
                self._parameter[id(module)] = _ParameterStats(name)
                self._order.append(("parameter", id(module)))
                self.handles.append(module.register_forward_hook(self._parameter_hook))
            elif (
                frameworks.is_neuron(module)
                and getattr(module, "does_spike", True)
                and not isinstance(module, relus)  # a rate stand-in in an ANN: sinabs leaves it out too
            ):
                rule = frameworks.module_rule_for(module)
                self._spiking[id(module)] = _SpikingStats(name)
                self._order.append(("spiking", id(module)))
                self.handles.append(module.register_forward_hook(self._spiking_hook(rule), with_kwargs=True))
            elif isinstance(module, nn.AvgPool2d):
                self.handles.append(module.register_forward_hook(self._pool_hook(name)))
        self.handles.append(self.model.register_forward_pre_hook(self._start, prepend=True))
        self.handles.append(self.model.register_forward_hook(self._finish))

    def _start(self, module: nn.Module, args: tuple) -> None:
        self._pass_spiking.clear()
        self._pass_parameter.clear()
        self._scale.take()
        self._active = True

    def _pool_hook(self, name: str):
        def hook(module: nn.AvgPool2d, args: tuple, output: Any) -> None:
            self._scale.pool(module, name)

        return hook

    def _spiking_hook(self, rule):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if not self._active:
                return
            terms = rule.fn(module, args, kwargs, output, self._ctx) if rule is not None else []
            term = next((t for t in terms if isinstance(t, Neuron)), None)
            if term is None or term.neurons <= 0 or term.output.numel() != term.updates:
                return  # no spike output (a membrane read-out): not a spiking layer
            spikes = term.output
            layout = neuron_layout(module, term)
            counts = column_sums(spikes, term.neurons)
            rows = spikes.numel() // term.neurons
            x = first_tensor((args, kwargs))
            x_view = layout.to_bt(x) if x is not None and x.shape == spikes.shape else x
            found = self._pass_spiking.get(id(module))
            if found is None:
                self._pass_spiking[id(module)] = _SpikingPass(
                    counts, rows, layout.batch, layout.neuron_shape, x_view, layout.to_bt(spikes)
                )
            else:  # another time step of the same pass (a time loop inside forward)
                found.spikes = found.spikes + counts
                found.rows += rows
                found.input, found.output = x_view, layout.to_bt(spikes)

        return hook

    def _parameter_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        x = first_tensor(args)
        scale = self._scale.take()
        if not self._active or x is None:
            return
        weighted, rows = weighted_events(module, x, self._maps)
        weighted = weighted * scale
        found = self._pass_parameter.get(id(module))
        if found is None:
            self._pass_parameter[id(module)] = _ParameterPass(weighted, rows, x.shape[0] if x.dim() else 1)
        else:
            found.weighted = found.weighted + weighted
            found.rows += rows

    def _finish(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._active = False
        batch = next((p.batch for p in self._pass_spiking.values()), None)
        for key, p in self._pass_spiking.items():
            stats = self._spiking[key]
            rate = (p.spikes / max(p.rows, 1)).reshape(p.neuron_shape)
            stats.n_neurons = int(p.spikes.numel())
            stats.rate, stats.input, stats.output = rate, p.input, p.output
            stats.rate_sum = _accumulate(stats.rate_sum, rate)
            if stats.output_sum_valid and (stats.output_sum is None or stats.output_sum.shape == p.output.shape):
                stats.output_sum = _accumulate(stats.output_sum, p.output)
            else:
                stats.output_sum, stats.output_sum_valid = None, False
            stats.batches += 1
        for key, p in self._pass_parameter.items():
            stats = self._parameter[key]
            samples = batch if batch is not None else max(p.first_dim, 1)
            stats.synops = p.weighted / samples
            stats.steps = p.rows // samples if p.rows % samples == 0 else p.rows / samples
            stats.synops_sum = _accumulate(stats.synops_sum, stats.synops)
            stats.batches += 1
        self._pass_spiking.clear()
        self._pass_parameter.clear()

    # -- results ----------------------------------------------------------------------------------
    def get_layer_statistics(self, average: bool = False) -> dict:
        """{"spiking": {name: {n_neurons, input, output, firing_rate, firing_rate_per_neuron}},
        "parameter": {name: {synops, num_timesteps, time_window, SynOps/s, synops/s}}} for every layer
        that ran; the last forward pass, or with ``average`` the mean over forward passes."""
        spiking: dict[str, dict] = {}
        parameter: dict[str, dict] = {}
        for kind, key in self._order:
            if kind == "spiking":
                s = self._spiking[key]
                if s.batches == 0:
                    continue
                rate = s.rate_sum / s.batches if average else s.rate
                if average:
                    output = s.output_sum / s.batches if s.output_sum is not None else None
                else:
                    output = s.output
                spiking[s.name] = {
                    "n_neurons": s.n_neurons,
                    "input": s.input,
                    "output": output,
                    "firing_rate": rate.mean(),
                    "firing_rate_per_neuron": rate,
                }
            else:
                p = self._parameter[key]
                if p.batches == 0:
                    continue
                synops = p.synops_sum / p.batches if average else p.synops
                per_second = synops / p.steps / self.dt * 1000 if p.steps else synops * float("inf")
                parameter[p.name] = {
                    "synops": synops,
                    "num_timesteps": p.steps,
                    "time_window": p.steps * self.dt,
                    "SynOps/s": per_second,
                    "synops/s": per_second,
                }
        return {"spiking": spiking, "parameter": parameter}

    def get_model_statistics(self, average: bool = False) -> dict:
        """{firing_rate (mean over all spiking neurons; only when the model has spiking layers), synops
        (sum over the synaptic layers), n_spiking_neurons}."""
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        dtype = accumulator_dtype(device)
        rates: list[Tensor] = []
        synops = torch.zeros((), dtype=dtype, device=device)
        neurons = 0
        for s in self._spiking.values():
            if s.batches == 0:
                rates.append(torch.zeros(1, dtype=dtype, device=device))
                continue
            rate = s.rate_sum / s.batches if average else s.rate
            rates.append(rate.reshape(-1))
            neurons += s.n_neurons
        for p in self._parameter.values():
            if p.batches:
                value = p.synops_sum / p.batches if average else p.synops
                synops = synops.to(value.device) + value
        stats: dict[str, Tensor] = {}
        if rates:
            stats["firing_rate"] = torch.cat([r.to(synops.device) for r in rates]).mean()
        stats["synops"] = synops
        stats["n_spiking_neurons"] = torch.tensor(float(neurons), dtype=synops.dtype, device=synops.device)
        return stats

    # -- lifetime ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything counted so far (the hooks stay)."""
        self._spiking = {key: _SpikingStats(s.name) for key, s in self._spiking.items()}
        self._parameter = {key: _ParameterStats(p.name) for key, p in self._parameter.items()}
        self._pass_spiking.clear()
        self._pass_parameter.clear()
        self._active = False

    def close(self) -> None:
        """Remove every hook from the model."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self._active = False

    def __enter__(self) -> SNNAnalyzer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class SynOpCounter:
    """sinabs' ``SynOpCounter``: the synops that the NeuromorphicReLU layers among ``modules`` (syops' or
    sinabs') caused in the last forward pass, from their ``activity``.

    Args:
        modules: an iterable of modules, e.g. ``model.modules()``; NeuromorphicReLUs with fanout > 0 count.
        sum_activations: return one differentiable tensor (the sum), else the list of per-layer values.
    """

    def __init__(self, modules: Iterable[nn.Module], sum_activations: bool = True) -> None:
        relus = neuromorphic_relu_types()
        if isinstance(modules, nn.Module) or not isinstance(modules, Iterable):
            raise SyopsError(
                f"SynOpCounter expects an iterable of modules (model.modules()), got {type(modules).__name__}"
            )
        self.modules = [m for m in modules if isinstance(m, relus) and m.fanout > 0]
        if not self.modules:
            raise SyopsError("SynOpCounter: no NeuromorphicReLU with fanout > 0 among the modules given")
        self.sum_activations = sum_activations

    def __call__(self) -> Tensor | list[Tensor]:
        activities = []
        for module in self.modules:
            activity = getattr(module, "activity", None)
            if activity is None:
                raise SyopsError("SynOpCounter: run a forward pass of the model before reading the synops")
            activities.append(activity)
        if self.sum_activations:
            return torch.stack(activities).sum()
        return activities
