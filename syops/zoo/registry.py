"""The zoo's model registry: built-in models that the command line (and the zoo table) can profile by name.

Every entry builds a randomly initialised model (nothing is downloaded) and knows the input a first run
needs: its per-sample shape and, for spiking models, time steps, time layout and input encoding. Any
torchvision classification model is also available by its torchvision name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import SyopsError

SPIKINGJELLY_NEURONS = ("IF", "LIF", "PLIF")
STEP_MODES = ("m", "s")


@dataclass(frozen=True)
class ZooEntry:
    """A named model: how to build it and how to present one sample to it.

    ``options`` are the build options the entry takes (``--neuron``, ``--step-mode``, ``cnf``...), each
    with its allowed values, the first being the default. ``takes_timesteps``: ``build`` receives
    ``timesteps`` (a model that bakes T in, such as sinabs' squeezed layers).
    """

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    description: str
    requires: str
    timesteps: int | None = None
    time_layout: str | None = None
    encoding: str | None = None
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    takes_timesteps: bool = False
    note: str = ""  # how the model departs from plain random init, for the zoo table
    data: Callable[[], Any] | None = None  # the zoo table's input where it is not random: a DataLoader

    def resolve_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The entry's options with defaults filled in; an unknown option or value is an error."""
        resolved = {key: values[0] for key, values in self.options.items()}
        for key, value in (options or {}).items():
            if key not in self.options:
                known = ", ".join(self.options) or "none"
                raise SyopsError(f"model {self.name} has no option {key!r} (its options: {known})")
            if value not in self.options[key]:
                raise SyopsError(f"model {self.name}: {key}={value!r} is not one of {', '.join(self.options[key])}")
            resolved[key] = value
        return resolved

    def layout_for(self, options: Mapping[str, Any]) -> str | None:
        """Single-step spikingjelly models are called once per time step."""
        if options.get("step_mode") == "s":
            return "loop"
        return self.time_layout

    def make(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        timesteps: int | None = None,
        seed: int | None = 0,
        kwargs: Mapping[str, Any] | None = None,
    ) -> nn.Module:
        """A fresh, randomly initialised model (from ``seed``, without touching the global RNG)."""
        build_kwargs = {**self.resolve_options(options), **(kwargs or {})}
        if self.takes_timesteps:
            build_kwargs["timesteps"] = timesteps or self.timesteps
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            try:
                model = self.build(**build_kwargs)
            except ImportError as exc:
                raise SyopsError(f"model {self.name} needs {self.requires} ({exc})") from None
            except TypeError as exc:
                raise SyopsError(f"cannot build {self.name}: {exc}") from None
        return model.eval()


ZOO: dict[str, ZooEntry] = {}


def register(entry: ZooEntry) -> ZooEntry:
    ZOO[entry.name] = entry
    return entry


# -- torchvision --------------------------------------------------------------------------------------------

# Models whose natural input is not 3×224×224.
_TORCHVISION_INPUT = {"inception_v3": (3, 299, 299)}


def _torchvision(arch: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(arch, weights=None, **kwargs)

    return build


def _torchvision_entry(arch: str) -> ZooEntry:
    return ZooEntry(
        arch,
        _torchvision(arch),
        _TORCHVISION_INPUT.get(arch, (3, 224, 224)),
        f"torchvision {arch} (ANN)",
        "torchvision",
    )


def _torchvision_names() -> list[str]:
    try:
        import torchvision
    except ImportError:
        return []
    return list(torchvision.models.list_models(module=torchvision.models))


for _arch in ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "vgg11", "vgg16", "vit_b_16"):
    register(_torchvision_entry(_arch))


# -- spikingjelly ---------------------------------------------------------------------------------------


def _spikingjelly_node(neuron: str) -> type:
    from spikingjelly.activation_based import neuron as sj_neuron

    return {"IF": sj_neuron.IFNode, "LIF": sj_neuron.LIFNode, "PLIF": sj_neuron.ParametricLIFNode}[neuron]


def _spikingjelly(module: str, arch: str) -> Callable[..., nn.Module]:
    def build(neuron: str = "IF", step_mode: str = "m", **kwargs: Any) -> nn.Module:
        import importlib

        from spikingjelly.activation_based import functional, surrogate

        factory = getattr(importlib.import_module(f"spikingjelly.activation_based.model.{module}"), arch)
        net = factory(
            spiking_neuron=_spikingjelly_node(neuron), surrogate_function=surrogate.ATan(), detach_reset=True, **kwargs
        )
        functional.set_step_mode(net, step_mode)
        return net

    return build


_SJ_OPTIONS = {"neuron": SPIKINGJELLY_NEURONS, "step_mode": STEP_MODES}
for _module, _arch, _extra in (
    ("spiking_resnet", "spiking_resnet18", {}),
    ("spiking_resnet", "spiking_resnet34", {}),
    ("spiking_resnet", "spiking_resnet50", {}),
    ("sew_resnet", "sew_resnet18", {"cnf": ("ADD", "IAND", "AND")}),
    ("sew_resnet", "sew_resnet34", {"cnf": ("ADD", "IAND", "AND")}),
    ("sew_resnet", "sew_resnet50", {"cnf": ("ADD", "IAND", "AND")}),
    ("spiking_vgg", "spiking_vgg11", {}),
    ("spiking_vgg", "spiking_vgg11_bn", {}),
    ("spiking_vgg", "spiking_vgg16", {}),
    ("spiking_vgg", "spiking_vgg16_bn", {}),
):
    register(
        ZooEntry(
            _arch,
            _spikingjelly(_module, _arch),
            (3, 224, 224),
            f"spikingjelly {_arch}" + (" (SEW connection cnf: ADD, IAND or AND)" if _extra else ""),
            "spikingjelly",
            timesteps=4,
            time_layout="TB",
            options={**_SJ_OPTIONS, **_extra},
        )
    )


def _dsnn18(**kwargs: Any) -> nn.Module:
    from ..models.dsnn import dsnn18

    return dsnn18(**kwargs)


register(
    ZooEntry(
        "dsnn18",
        _dsnn18,
        (3, 224, 224),
        "DSNN-18 (auxiliary accumulation pathway, IAND shortcuts), IF neurons, multi-step; written in syops",
        "spikingjelly",
        timesteps=4,
        time_layout="TB",
        note="IF neurons",
    )
)


def calibrate_batchnorm(model: nn.Module, sample: torch.Tensor, reset: Callable[[nn.Module], None]) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``sample`` (one forward pass in train mode),
    then ``reset`` the neurons. A randomly initialised deep SNN is otherwise silent: its small random
    weights never drive a neuron to threshold, and every layer after the first sees no spike."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: after one batch, that batch's statistics
    model.train()
    with torch.no_grad():
        model(sample)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    reset(model)
    return model.eval()


def _spikformer_block(timesteps: int = 4) -> nn.Module:
    """Spikformer on CIFAR-10 (patch 4, 384 dims, 12 heads) cut to one spiking self-attention block, its
    BatchNorms calibrated on four seeded standard-normal images."""
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.model.spikformer import Spikformer

    net = Spikformer(
        T=timesteps,
        in_channels=3,
        img_size_h=32,
        img_size_w=32,
        patch_size=4,
        num_classes=10,
        embed_dims=384,
        num_heads=12,
        mlp_ratio=4.0,
        depths=1,
    )
    sample = torch.randn(4, 3, 32, 32).unsqueeze(0).expand(timesteps, -1, -1, -1, -1)  # [T, B, C, H, W]
    return calibrate_batchnorm(net, sample, functional.reset_net)


register(
    ZooEntry(
        "spikformer_block",
        _spikformer_block,
        (3, 32, 32),
        "spikingjelly Spikformer (CIFAR-10 stem) with one spiking self-attention block, LIF neurons",
        "spikingjelly",
        timesteps=4,
        time_layout="TB",
        takes_timesteps=True,
        note="BatchNorm statistics from 4 seeded random images",
    )
)


def _digits_scnn(**kwargs: Any) -> nn.Module:
    from ..models.digits import digits_scnn

    return digits_scnn(**kwargs)


def _digits_scnn_trained(**kwargs: Any) -> nn.Module:
    from ..models.digits import train_digits_scnn

    return train_digits_scnn(**kwargs)


def _held_out_digits() -> Any:
    from ..models.digits import held_out_digits

    return held_out_digits()


_DIGITS = "spiking CNN for 8×8 digits: 2 × (Conv2d → LIF → MaxPool2d), Linear read-out; spikingjelly, multi-step"
register(ZooEntry("digits_scnn", _digits_scnn, (1, 8, 8), _DIGITS, "spikingjelly", 4, "TB", "direct"))
register(
    ZooEntry(
        "digits_scnn_trained",
        _digits_scnn_trained,
        (1, 8, 8),
        f"{_DIGITS}, trained 5 epochs on scikit-learn's digits (seeded, deterministic on CPU)",
        "spikingjelly",
        4,
        "TB",
        "direct",
        note="trained 5 epochs on digits (seed 0, float64 on one thread); input: the 359 held-out digits",
        data=_held_out_digits,
    )
)


# -- sinabs ---------------------------------------------------------------------------------------------


def _dynapcnn_nmnist(timesteps: int = 10) -> nn.Module:
    """A DYNAP-CNN-shaped sinabs network for N-MNIST event frames: three Conv2d → IAF → SumPool stages
    and a Linear → IAF read-out, without biases. Input [B, T, 2, 34, 34] (flattened to [B·T, ...])."""
    import sinabs.layers as sl

    def iaf() -> nn.Module:
        return sl.IAFSqueeze(num_timesteps=timesteps, min_v_mem=-1.0)

    return nn.Sequential(
        sl.FlattenTime(),
        nn.Conv2d(2, 8, 3, padding=1, bias=False),
        iaf(),
        sl.SumPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False),
        iaf(),
        sl.SumPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1, bias=False),
        iaf(),
        sl.SumPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10, bias=False),
        iaf(),
    )


register(
    ZooEntry(
        "dynapcnn_nmnist",
        _dynapcnn_nmnist,
        (2, 34, 34),
        "sinabs DYNAP-CNN-style N-MNIST net: 3 × (Conv2d → IAFSqueeze → SumPool2d), Linear → IAFSqueeze",
        "sinabs",
        timesteps=10,
        time_layout="BT",
        encoding="poisson",
        takes_timesteps=True,
    )
)


# -- snnTorch -------------------------------------------------------------------------------------------


def _snntorch_mlp() -> nn.Module:
    """The snnTorch tutorial MLP: 784 → 1000 → 10 with Leaky neurons (β = 0.95), one step per call."""
    import snntorch as snn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 1000),
        snn.Leaky(beta=0.95, init_hidden=True),
        nn.Linear(1000, 10),
        snn.Leaky(beta=0.95, init_hidden=True),
    )


register(
    ZooEntry(
        "snntorch_mlp",
        _snntorch_mlp,
        (1, 28, 28),
        "snnTorch MLP 784-1000-10, Leaky neurons, rate-coded (Poisson) input, 25 steps",
        "snntorch",
        timesteps=25,
        time_layout="loop",
        encoding="poisson",
    )
)


# -- lookup ---------------------------------------------------------------------------------------------


def get(name: str) -> ZooEntry:
    """The zoo entry ``name``, or any torchvision classification model; close matches when unknown."""
    entry = ZOO.get(name)
    if entry is not None:
        return entry
    torchvision_names = _torchvision_names()
    if name in torchvision_names:
        return register(_torchvision_entry(name))
    candidates = sorted(set(ZOO) | set(torchvision_names))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known models: {', '.join(sorted(ZOO))}"
    raise SyopsError(f"unknown model {name!r}{hint}")


def build(name: str, options: Mapping[str, Any] | None = None, *, seed: int = 0, **kwargs: Any) -> nn.Module:
    """A randomly initialised zoo model, e.g. ``build("sew_resnet18", {"cnf": "IAND"})``."""
    return get(name).make(options, seed=seed, kwargs=kwargs)


__all__ = [
    "SPIKINGJELLY_NEURONS",
    "STEP_MODES",
    "ZOO",
    "ZooEntry",
    "build",
    "calibrate_batchnorm",
    "get",
    "register",
]
