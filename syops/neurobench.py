"""NeuroBench 2.x metrics from syops' counts: ``Report.neurobench()``.

NeuroBench (``neurobench`` 2.3.0) names five figures of a network's cost; each is computed here by its
definition in ``neurobench/metrics``, from syops' exact per-sample counts and from what ``syops.profile``
records about the model (``StaticFigures``, measured before the profile runs):

- ``footprint``: bytes of every parameter and buffer (``static/footprint.py``).
- ``connection_sparsity``: zero weights ÷ weights of the leaf Linear and Conv1d/2d/3d layers (weights
  only) and of recurrent layers and cells (weights and biases) (``static/connection_sparsity.py``).
- ``activation_sparsity``: 1 − non-zero outputs ÷ outputs of the spiking-neuron layers, over all layers,
  time steps and samples (``workload/activation_sparsity.py``).
- ``synaptic_operations``: NeuroBench re-runs each Linear / Conv layer on its binarised input with
  binarised weights and a zero bias: ``Effective_ACs`` when the input is within {-1, 0, 1} (syops' synops
  on event inputs, zero weights skipped), ``Effective_MACs`` otherwise, and ``Dense`` with an all-ones
  input and all-ones weights, so padded borders count no operation (``workload/synaptic_operations.py``,
  ``utils/layers/macs.py``).
- ``membrane_updates``: one per neuron and time step (``workload/membrane_updates.py`` counts the
  membranes that changed; see docs/neurobench.md).

Where a definition departs from syops' own counts, and by how much on real models: docs/neurobench.md.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .errors import SyopsError
from .fanout import fanout
from .tree import ModuleTree, has_children, named_children

if TYPE_CHECKING:
    from .report import Report

# neurobench.blocks.layer: STATELESS_LAYERS, RECURRENT_LAYERS + RECURRENT_CELLS; blocks.activation.
STATELESS_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
RECURRENT_LAYERS: tuple[type[nn.Module], ...] = (nn.RNNBase, nn.RNNCellBase)
ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.Sigmoid)
_CONNECTION_LAYERS = STATELESS_LAYERS + RECURRENT_LAYERS


@dataclass(frozen=True)
class Connection:
    """A layer NeuroBench counts synaptic operations of, and the input shapes of its calls (how many
    calls had each shape) during the profile."""

    name: str
    layer: nn.Module
    shapes: Mapping[tuple[int, ...], int]

    @property
    def type(self) -> str:
        return type(self.layer).__name__

    def operations(self, samples: int) -> tuple[float, float]:
        """(Dense, effective) per sample: every (input element, weight) pair a convolution of ones
        reaches (NeuroBench's Dense), and those on non-zero weights."""
        dense = effective = 0.0
        pruned = self.layer.weight.count_nonzero() != self.layer.weight.numel()
        for shape, calls in self.shapes.items():
            if isinstance(self.layer, nn.Linear):
                image: tuple[int, ...] = (shape[-1],)
            else:
                image = shape[-(self.layer.weight.dim() - 1) :]
            images = calls * math.prod(shape) / max(math.prod(image), 1)
            full = _per_image_ops(self.layer, image, skip_zero=False)  # separable: no convolution
            dense += images * full
            effective += images * (_per_image_ops(self.layer, image, skip_zero=True) if pruned else full)
        return dense / samples, effective / samples


@dataclass(frozen=True)
class StaticFigures:
    """What ``syops.profile`` records for ``Report.neurobench()``: the model's footprint (before the
    profile runs), its Linear / Conv layers with the input shapes they saw, the weights of its
    connection sparsity (read when asked, and refused if they changed since), and how it counted."""

    footprint_bytes: int | None  # None: a lazy module, its parameters not materialised when profiled
    connections: tuple[Connection, ...]
    sparsity_tensors: tuple[torch.Tensor, ...]
    recurrent: tuple[str, ...]  # recurrent layers and cells: NeuroBench's counts of them are not mapped
    activations: tuple[str, ...]  # ReLU / Sigmoid modules, whose outputs NeuroBench's sparsity includes
    skip_zero_weights: bool
    samples: int  # the samples this process profiled (the shapes' calls are this process's)
    versions: tuple[tuple[int, int], ...]  # (version, data pointer) of every weight read above

    def weights_unchanged(self) -> bool:
        return _versions(self._weights()) == self.versions

    def _weights(self) -> list[torch.Tensor]:
        return [*self.sparsity_tensors, *(c.layer.weight for c in self.connections)]


def _versions(tensors: Iterable[torch.Tensor]) -> tuple[tuple[int, int], ...]:
    # a lazy parameter has no storage yet (its figures are refused anyway, see neurobench_metrics)
    return tuple((t._version, -1 if nn.parameter.is_lazy(t) else t.data_ptr()) for t in tensors)


def _layers(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[str]]:
    """NeuroBench's ``connection_layers`` (children matching a supported layer, else their children) and
    its activation layers (the same descent, stopping at ReLU / Sigmoid), found in one walk, depth first
    and children in order, as NeuroBench's recursions find them."""
    connections: list[tuple[str, nn.Module]] = []
    activations: list[str] = []
    limit = sys.getrecursionlimit()  # a module that contains itself: the recursion's error, not a hang
    # (module, its path, depth, still looking for connection layers, still looking for activations)
    pending = [(child, name, 1, True, True) for name, child in reversed(named_children(model))]
    while pending:
        module, path, depth, connection, activation = pending.pop()
        if connection and isinstance(module, _CONNECTION_LAYERS):
            connections.append((path, module))
            connection = False
        if activation and isinstance(module, ACTIVATIONS):
            activations.append(path)
            activation = False
        if (connection or activation) and module._modules and has_children(module):
            if depth > limit:
                raise RecursionError("maximum recursion depth exceeded while walking the model's modules")
            pending.extend(
                (child, f"{path}.{name}", depth + 1, connection, activation)
                for name, child in reversed(named_children(module))
            )
    return connections, activations


def _recurrent_tensors(module: nn.Module) -> list[torch.Tensor]:
    if isinstance(module, nn.RNNCellBase):
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
        return [getattr(module, n) for n in names]
    return [p for n, p in module.named_parameters() if n.startswith(("weight", "bias"))]


def sparsity_tensors(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> list[torch.Tensor]:
    """The tensors of NeuroBench's connection sparsity: leaf Linear / Conv1d-3d weights and every
    weight and bias of leaf recurrent layers and cells (``modules``: ``model.modules()``, if the caller
    has just walked them)."""
    tensors: list[torch.Tensor] = []
    for module in model.modules() if modules is None else modules:
        if has_children(module):
            continue  # NeuroBench counts leaves only
        if isinstance(module, STATELESS_LAYERS):
            tensors.append(module.weight)
        elif isinstance(module, RECURRENT_LAYERS):
            tensors += _recurrent_tensors(module)
    return tensors


def weight_sparsity(model: nn.Module) -> tuple[int, int]:
    """(zero weights, weights) of NeuroBench's connection sparsity."""
    return _zeros_and_total(sparsity_tensors(model))


def _zeros_and_total(tensors: Iterable[torch.Tensor]) -> tuple[int, int]:
    total = sum(t.numel() for t in tensors)
    return total - sum(int(t.count_nonzero()) for t in tensors), total


def footprint_bytes(model: nn.Module, tree: ModuleTree | None = None) -> int | None:
    """Bytes of the model's parameters and buffers (each counted once), as they are now; None while a
    lazy module's parameters are not yet materialised (their size is not known). ``tree``: the walk of
    ``model`` the caller has just made, if any."""
    tensors = (*model.parameters(), *model.buffers()) if tree is None else (*tree.parameters, *tree.buffers)
    if any(nn.parameter.is_lazy(t) for t in tensors):
        return None
    return sum(t.numel() * t.element_size() for t in tensors)


def _per_image_ops(layer: nn.Module, image_shape: tuple[int, ...], skip_zero: bool) -> float:
    """Operations of one image (one sample at one step) with every input element an event."""
    if isinstance(layer, nn.Linear):
        if skip_zero:
            return float(layer.weight.count_nonzero())
        return float(layer.in_features * layer.out_features)
    with torch.no_grad():
        return float(fanout(layer, image_shape, skip_zero_weights=skip_zero).to(torch.float64).sum())


class ConnectionRecorder:
    """Records, while the profile runs, the input shapes of NeuroBench's connection layers (a forward
    pre-hook reading ``shape`` only: no device work), and the model's footprint before it runs. Weights
    are read only when ``Report.neurobench()`` asks."""

    def __init__(self, model: nn.Module, tree: ModuleTree | None = None) -> None:
        layers, activations = _layers(model)
        self.layers = [(name, m) for name, m in layers if isinstance(m, STATELESS_LAYERS)]
        self.recurrent = tuple(name for name, m in layers if isinstance(m, RECURRENT_LAYERS))
        self.activations = tuple(activations)
        self.footprint = footprint_bytes(model, tree)
        self.sparsity = tuple(sparsity_tensors(model, None if tree is None else tree.modules))
        self.shapes: dict[str, Counter[tuple[int, ...]]] = {name: Counter() for name, _ in self.layers}
        self._handles: list[Any] = []

    def __enter__(self) -> ConnectionRecorder:
        for name, layer in self.layers:
            self._handles.append(layer.register_forward_pre_hook(self._hook(name)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str):
        shapes = self.shapes[name]

        def hook(module: nn.Module, args: tuple) -> None:
            if args and isinstance(args[0], torch.Tensor):
                shapes[tuple(args[0].shape)] += 1

        return hook

    def figures(self, samples: int, skip_zero_weights: bool) -> StaticFigures:
        connections = tuple(Connection(name, layer, dict(self.shapes[name])) for name, layer in self.layers)
        weights = [*self.sparsity, *(c.layer.weight for c in connections)]
        return StaticFigures(
            self.footprint,
            connections,
            self.sparsity,
            self.recurrent,
            self.activations,
            skip_zero_weights,
            samples,
            _versions(weights),
        )


def neurobench_metrics(report: Report) -> dict[str, Any]:
    """NeuroBench's metric names and values of ``report``, per sample (see the module docstring)."""
    figures: StaticFigures | None = report.neurobench_figures
    if figures is None:
        raise SyopsError("this report holds no NeuroBench figures; make it with syops.profile")
    if figures.recurrent:
        raise SyopsError(
            f"NeuroBench metrics of recurrent layers ({', '.join(figures.recurrent)}) are not supported: "
            "NeuroBench counts their gate arithmetic as synaptic operations"
        )
    if report.per_timestep_view:
        raise SyopsError("NeuroBench's metrics are per sample: call neurobench() on the report, not its per_timestep()")
    if figures.footprint_bytes is None:
        raise SyopsError(
            "the model had lazy (uninitialised) parameters when it was profiled, so its footprint is unknown: "
            "run it once on a batch before profiling for NeuroBench's metrics"
        )
    if not figures.weights_unchanged():
        raise SyopsError("the model's weights changed since it was profiled; profile it again for NeuroBench's metrics")
    rows = {(layer.name, layer.type): layer for layer in report.layers}
    effective_acs = effective_macs = dense = 0.0
    for connection in figures.connections:
        row = rows.get((connection.name, connection.type))
        if row is None or not connection.shapes:
            continue  # a layer that never ran
        layer_dense, layer_effective = connection.operations(figures.samples)
        if row.synops and layer_effective != layer_dense and not figures.skip_zero_weights:
            raise SyopsError(
                "the model has zero weights: profile it with skip_zero_weights=True for NeuroBench's "
                "effective ACs (it skips the synapses of zero weights)"
            )
        # The share of the layer's calls that were dense (its dense MACs are those of every call).
        dense_share = row.macs / row.dense_macs if row.dense_macs else 0.0
        effective_acs += row.synops
        effective_macs += dense_share * layer_effective
        dense += layer_dense
    neurons = [layer for layer in report.layers if layer.output_spike_rate is not None]
    outputs = math.fsum(layer.neuron_updates for layer in neurons)
    spikes = math.fsum(layer.neuron_updates * layer.output_spike_rate for layer in neurons)  # type: ignore[operator]
    if figures.activations:
        activation_sparsity = None  # NeuroBench also counts the zeros of ReLU / Sigmoid outputs
    else:
        activation_sparsity = 1.0 - spikes / outputs if outputs else 0.0
    zeros, weights = _zeros_and_total(figures.sparsity_tensors)
    return {
        "footprint": figures.footprint_bytes,
        "connection_sparsity": zeros / weights if weights else None,
        "activation_sparsity": activation_sparsity,
        "synaptic_operations": {"Effective_MACs": effective_macs, "Effective_ACs": effective_acs, "Dense": dense},
        "membrane_updates": outputs,
    }


__all__ = [
    "Connection",
    "ConnectionRecorder",
    "StaticFigures",
    "footprint_bytes",
    "neurobench_metrics",
    "sparsity_tensors",
    "weight_sparsity",
]
