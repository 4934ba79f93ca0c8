"""Built-in models that the command line (and the zoo table) can profile by name.

Every entry builds a randomly initialised model (nothing is downloaded) and knows the input a first
run needs: its per-sample shape and, for spiking models, time steps and time layout.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .errors import SyopsError


@dataclass(frozen=True)
class ZooEntry:
    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    description: str
    requires: str
    timesteps: int | None = None
    time_layout: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


ZOO: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    ZOO[entry.name] = entry
    return entry


def get(name: str) -> ZooEntry:
    entry = ZOO.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, ZOO, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known models: {', '.join(sorted(ZOO))}"
        raise SyopsError(f"unknown model {name!r}{hint}")
    return entry


def _torchvision(arch: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        import torchvision

        return getattr(torchvision.models, arch)(weights=None, **kwargs)

    return build


def _spikingjelly_resnet(arch: str) -> Callable[..., nn.Module]:
    def build(neuron: str = "IF", step_mode: str = "m", **kwargs: Any) -> nn.Module:
        from spikingjelly.activation_based import functional, surrogate
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based.model import spiking_resnet

        nodes = {"IF": sj_neuron.IFNode, "LIF": sj_neuron.LIFNode, "PLIF": sj_neuron.ParametricLIFNode}
        if neuron not in nodes:
            raise SyopsError(f"unknown neuron {neuron!r}; expected one of {', '.join(nodes)}")
        net = getattr(spiking_resnet, arch)(
            spiking_neuron=nodes[neuron], surrogate_function=surrogate.ATan(), detach_reset=True, **kwargs
        )
        functional.set_step_mode(net, step_mode)
        return net

    return build


for _arch in ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "vgg11", "vit_b_16"):
    register(ZooEntry(_arch, _torchvision(_arch), (3, 224, 224), f"torchvision {_arch}", "torchvision"))

register(
    ZooEntry(
        "spiking_resnet18",
        _spikingjelly_resnet("spiking_resnet18"),
        (3, 224, 224),
        "spikingjelly spiking ResNet-18, IF neurons, multi-step",
        "spikingjelly",
        timesteps=4,
        time_layout="TB",
    )
)
