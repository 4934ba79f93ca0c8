"""sinabs' synops hooks (``sinabs.hooks.register_synops_hooks``) for any model, differentiable.

After each forward pass the model's ``hook_data`` holds ``synops_per_timestep`` (per synaptic layer) and
``total_synops_per_timestep``: synaptic operations per sample and time step, summed over the neurons,
with the autograd graph kept, so they can be a loss term (see examples/train_fewer_synops.py).

Which layers count, and what they count: every Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear in the
model (at any depth, not only the children of an nn.Sequential) counts the events of its own input,
Σ|x|·fan-out, with the exact border-aware fan-out of syops.fanout. Its input is whatever feeds it — a
spiking layer, a NeuromorphicReLU or ReLU, a pooling of either, the data — so no graph analysis is
needed and branches, residuals and functional glue are handled. The sum is divided by the number of
batch·time rows of the input: a mean per sample and time step, as sinabs documents it. Average
pooling is corrected as sinabs does (see syops.compat._synops.PoolScale).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .compat._synops import FanoutMaps, PoolScale, is_synaptic, sample_shape, weighted_events
from .errors import SyopsError
from .rules._util import first_tensor
from .validate import check_positive_number

__all__ = ["register_synops_hooks"]


def _hook_data(module: nn.Module) -> dict:
    if not isinstance(getattr(module, "hook_data", None), dict):
        module.hook_data = {}
    return module.hook_data


class _SynopsHooks:
    """The hooks of one ``register_synops_hooks`` call and the sums of the forward pass in progress."""

    def __init__(self, model: nn.Module, dt: float | None) -> None:
        self.model = model
        self.dt = dt
        self.maps = FanoutMaps()
        self.scale = PoolScale()
        self.active = False  # a forward pass of the model is in progress
        # id(layer) -> [Σ weighted events, Σ scaled weighted events, rows] of the forward in progress
        self.sums: dict[int, list] = {}
        self.keys: dict[int, Any] = {}
        self.layers: list[nn.Module] = []
        self.handles: list[Any] = []
        sequential = isinstance(model, nn.Sequential)
        for name, module in model.named_modules():
            if is_synaptic(module):
                # sinabs keys a Sequential's layers by their index; anything else by the dotted name.
                self.keys[id(module)] = int(name) if sequential and name.isdigit() else name
                self.layers.append(module)
                self.handles.append(module.register_forward_hook(self._layer_hook))
            elif isinstance(module, nn.AvgPool2d):
                self.handles.append(module.register_forward_hook(self._pool_hook(name)))
            elif isinstance(getattr(module, "weight", None), Tensor):
                # sinabs drops pending pooling factors at any layer with weights (a BatchNorm, say).
                self.handles.append(module.register_forward_hook(lambda *_: self.scale.take()))
        self.handles.append(model.register_forward_pre_hook(self._start, prepend=True))
        self.handles.append(model.register_forward_hook(self._finish))

    def _pool_hook(self, name: str) -> Callable:
        def hook(module: nn.AvgPool2d, args: tuple, output: Any) -> None:
            self.scale.pool(module, name)

        return hook

    def _start(self, module: nn.Module, args: tuple) -> None:
        self.sums.clear()
        self.scale.take()
        self.active = True

    def _layer_hook(self, layer: nn.Module, args: tuple, output: Any) -> None:
        x = first_tensor(args)
        if x is None:
            return
        weighted, rows = weighted_events(layer, x, self.maps)
        scale = self.scale.take()
        sums = self.sums.get(id(layer)) if self.active else None
        if sums is None:
            sums = [weighted, weighted * scale, rows]
            if self.active:
                self.sums[id(layer)] = sums
        else:  # called again in the same forward pass (a time loop, shared weights): mean over all rows
            sums[0], sums[1], sums[2] = sums[0] + weighted, sums[1] + weighted * scale, sums[2] + rows
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        data = _hook_data(layer)
        if isinstance(layer, nn.modules.conv._ConvNd):
            data["connection_map"] = self.maps.get(layer, sample_shape(layer, x), x.device, dtype).unsqueeze(0)
        rows = max(sums[2], 1)
        data["layer_synops_per_timestep"] = (sums[0] / rows).to(dtype)
        data["synops_per_timestep"] = (sums[1] / rows).to(dtype)
        if self.dt is not None:
            data["synops_per_second"] = data["synops_per_timestep"] / self.dt

    def _finish(self, module: nn.Module, args: tuple, output: Any) -> None:
        self.active = False
        data = _hook_data(module)
        per_layer: dict[Any, Tensor] = {}
        for layer in self.layers:
            if id(layer) in self.sums:
                per_layer[self.keys[id(layer)]] = _hook_data(layer)["synops_per_timestep"]
        total = sum(per_layer.values()) if per_layer else torch.zeros(())
        data["synops_per_timestep"] = per_layer
        data["total_synops_per_timestep"] = total
        if self.dt is not None:
            data["synops_per_second"] = {key: value / self.dt for key, value in per_layer.items()}
            data["total_synops_per_second"] = total / self.dt
        self.sums.clear()

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def register_synops_hooks(model: nn.Module, dt: float | None = None) -> Callable[[], None]:
    """Record the synaptic operations of every Conv/ConvTranspose/Linear layer of ``model`` in each
    forward pass, as sinabs' ``register_synops_hooks`` does for an nn.Sequential.

    After a forward pass:

    - ``model.hook_data["synops_per_timestep"]``: {layer key: synops per sample and time step}, the key
      being the index for a direct child of an nn.Sequential (as in sinabs), else the dotted name;
    - ``model.hook_data["total_synops_per_timestep"]``: their sum;
    - each layer's ``hook_data``: ``layer_synops_per_timestep`` (before the average-pooling correction),
      ``synops_per_timestep`` and, for convolutions, ``connection_map`` (fan-out, shape (1, C, *spatial));
    - with ``dt`` (the time step in seconds): the same ``*synops_per_second`` entries, divided by ``dt``.

    Values are tensors in the input's dtype that keep the autograd graph (use them as a loss term).
    A layer called several times in one forward pass (a time loop inside ``forward``) reports its mean
    over all those calls. Returns a function that removes the hooks (``hook_data`` stays).
    """
    if not isinstance(model, nn.Module):
        raise SyopsError(f"register_synops_hooks expects an nn.Module, got {type(model).__name__}")
    dt = check_positive_number("register_synops_hooks: dt (seconds per time step)", dt, optional=True)
    return _SynopsHooks(model, dt).remove
