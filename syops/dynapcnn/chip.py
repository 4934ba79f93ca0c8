"""Does a model fit SynSense's DYNAP-CNN chip? Per-layer memory, the chip's checks, and a layer-to-core
assignment (docs/contract.md §9).

A DYNAP-CNN layer is a convolution (a Linear counts as a convolution whose kernel is its whole input)
followed by a non-leaky integrate-and-fire layer and an optional sum pooling. The model is read
statically, module by module in the order the modules are registered (nested ``nn.Sequential`` and
containers are walked in that order), as sinabs does for sequential networks. Everything here is pure
Python over module attributes: ``sinabs.backend.dynapcnn`` is never imported (it imports ``samna``,
which tries to install itself).

Memory, as sinabs' ``DynapcnnLayer.memory_summary``: kernel ``c · 2^(⌈log2(kx·ky)⌉ + ⌈log2 f⌉)``,
neuron ``f · 2^(⌈log2 fy⌉ + ⌈log2 fx⌉)`` (the convolution's output, before pooling), bias ``f`` when the
layer has a bias (0 without one). The theoretical figures beside them are the unrounded counts:
``c·kx·ky·f`` weights and ``f·fy·fx`` neurons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import SyopsError

KI = 1024
CORE_KERNEL_MEMORY: tuple[int, ...] = (16 * KI,) * 3 + (32 * KI,) * 2 + (64 * KI,) * 2 + (16 * KI,) * 2
CORE_NEURON_MEMORY: tuple[int, ...] = (64 * KI,) * 3 + (32 * KI,) * 2 + (16 * KI,) * 2 + (16 * KI,) * 2
CORE_BIAS_MEMORY = 1024
N_CORES = len(CORE_KERNEL_MEMORY)
MAX_KERNEL = 16
STRIDES = (1, 2, 4, 8)
MAX_PADDING = 7
MAX_FEATURE_MAP = 64  # the convolution's output (neuron array), per side
MAX_INPUT = 128  # a layer's input, per side
MAX_CHANNELS = 1024
POOLS = (1, 2, 4)


def ceil_log2(n: int) -> int:
    """⌈log2 n⌉ for a positive integer, exactly (no floating point)."""
    if n < 1:
        raise ValueError(f"ceil_log2 needs a positive integer, got {n}")
    return (n - 1).bit_length()


def kernel_memory(c: int, ky: int, kx: int, f: int) -> int:
    return c * 2 ** (ceil_log2(kx * ky) + ceil_log2(f))


def neuron_memory(f: int, fy: int, fx: int) -> int:
    return f * 2 ** (ceil_log2(fy) + ceil_log2(fx))


def cores_fitting(kernel: int, neuron: int, bias: int) -> list[int]:
    """The cores whose kernel, neuron and bias memories all hold a layer's."""
    return [
        core
        for core in range(N_CORES)
        if kernel <= CORE_KERNEL_MEMORY[core] and neuron <= CORE_NEURON_MEMORY[core] and bias <= CORE_BIAS_MEMORY
    ]


# -- module classification ------------------------------------------------------------------------------


def _has_class(module: nn.Module, package: str, *names: str) -> bool:
    """Is ``module`` an instance of a class called one of ``names`` from ``package`` (by name, so the
    package need not be importable here)?"""
    return any(cls.__module__.split(".")[0] == package and cls.__name__ in names for cls in type(module).__mro__)


def _neuron_kind(module: nn.Module) -> str | None:
    """'iaf' for a non-leaky integrate-and-fire layer the chip runs, 'relu' for a ReLU that sinabs'
    conversion turns into one, 'other' for any other spiking neuron, None for a non-neuron."""
    if _has_class(module, "sinabs", "IAFRecurrent"):
        return "other"
    if _has_class(module, "sinabs", "IAF") or _has_class(module, "spikingjelly", "IFNode"):
        return "iaf"
    if type(module).__module__ == "syops.nir.neurons":  # a NIR graph's reference neurons
        return "iaf" if type(module).__name__ == "IF" else "other"
    if isinstance(module, nn.ReLU):
        return "relu"
    if (
        _has_class(module, "sinabs", "StatefulLayer")
        or _has_class(module, "spikingjelly", "BaseNode")
        or _has_class(module, "snntorch", "SpikingNeuron")
    ):
        return "other"
    return None


def _is_sum_pool(module: nn.Module) -> bool:
    exact_sum = isinstance(module, nn.AvgPool2d) and module.divisor_override == 1  # syops.nir.SumPool2d
    return exact_sum or (isinstance(module, nn.LPPool2d) and float(module.norm_type) == 1.0)


_NEUTRAL = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


def _is_neutral(module: nn.Module) -> bool:
    """Modules with no effect on the chip's layers: reshapes (sinabs' FlattenTime is an nn.Flatten),
    dropout."""
    return isinstance(module, _NEUTRAL) or _has_class(module, "sinabs", "UnflattenTime")


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))


def _walk(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The modules the chip pattern is made of, in registration order: a recognised module is taken
    whole, anything else with children is walked into."""
    found: list[tuple[str, nn.Module]] = []
    for name, child in module.named_children():
        full = f"{prefix}.{name}" if prefix else name
        recognised = (
            isinstance(child, (nn.Conv2d, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.AvgPool2d, nn.MaxPool2d))
            or _is_sum_pool(child)
            or _neuron_kind(child) is not None
            or _is_neutral(child)
        )
        if recognised or not any(True for _ in child.children()):
            found.append((full, child))
        else:
            found.extend(_walk(child, full))
    return found


# -- parsing --------------------------------------------------------------------------------------------


@dataclass
class ChipLayer:
    """One DYNAP-CNN layer read from the model: its synaptic module, neuron and pooling."""

    name: str
    type: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    bias: bool
    input_shape: tuple[int, int, int]
    neuron: str | None = None
    pool: tuple[int, int] = (1, 1)
    violations: list[str] = field(default_factory=list)

    @property
    def feature_map(self) -> tuple[int, int, int]:
        """The convolution's output (the neuron array), before pooling."""
        (_, h, w), (ky, kx), (sy, sx), (py, px), (dy, dx) = (
            self.input_shape,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )
        fy = (h + 2 * py - dy * (ky - 1) - 1) // sy + 1
        fx = (w + 2 * px - dx * (kx - 1) - 1) // sx + 1
        return (self.out_channels, fy, fx)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        f, fy, fx = self.feature_map
        return (f, fy // self.pool[0], fx // self.pool[1])


class _ShapeMismatch(Exception):
    """A layer does not accept the shape the layers before it give."""


def _conv_layer(name: str, conv: nn.Conv2d, shape: tuple[int, int, int]) -> ChipLayer:
    if conv.in_channels != shape[0]:
        raise _ShapeMismatch(
            f"layer {name} (Conv2d) expects {conv.in_channels} input channels, but its input has shape {list(shape)}"
        )
    layer = ChipLayer(
        name,
        "Conv2d",
        conv.in_channels,
        conv.out_channels,
        _pair(conv.kernel_size),
        _pair(conv.stride),
        _pair(conv.padding) if not isinstance(conv.padding, str) else (-1, -1),
        _pair(conv.dilation),
        conv.groups,
        conv.bias is not None,
        shape,
    )
    if isinstance(conv.padding, str):  # 'same' / 'valid': resolve to the explicit padding it means
        ky, kx = layer.kernel
        dy, dx = layer.dilation
        same = conv.padding == "same"
        layer.padding = ((dy * (ky - 1)) // 2 if same else 0, (dx * (kx - 1)) // 2 if same else 0)
    _, fy, fx = layer.feature_map
    if fy < 1 or fx < 1:
        raise _ShapeMismatch(f"layer {name} (Conv2d) has no output for its input of shape {list(shape)}")
    return layer


def _linear_layer(name: str, linear: nn.Linear, shape: tuple[int, int, int]) -> ChipLayer:
    c, h, w = shape
    if linear.in_features != c * h * w:
        raise _ShapeMismatch(
            f"layer {name} (Linear) expects {linear.in_features} input features, but its input has shape "
            f"{list(shape)} ({c * h * w} features)"
        )
    # As sinabs converts it: a convolution with the whole input as its kernel.
    return ChipLayer(
        name, "Linear", c, linear.out_features, (h, w), (1, 1), (0, 0), (1, 1), 1, linear.bias is not None, shape
    )


def _check(layer: ChipLayer) -> None:
    """The chip's per-layer limits, each broken one as a message."""
    v = layer.violations
    ky, kx = layer.kernel
    if ky != kx:
        v.append(f"kernel {ky}×{kx} is not square")
    if max(ky, kx) > MAX_KERNEL:
        v.append(f"kernel {ky}×{kx} is larger than {MAX_KERNEL}×{MAX_KERNEL}")
    if any(s not in STRIDES for s in layer.stride):
        v.append(f"stride {_dims(layer.stride)} is not one of {', '.join(map(str, STRIDES))}")
    if max(layer.padding) > MAX_PADDING:
        v.append(f"padding {_dims(layer.padding)} is larger than {MAX_PADDING}")
    if layer.dilation != (1, 1):
        v.append(f"dilation {_dims(layer.dilation)}: the chip has no dilated convolutions")
    if layer.groups != 1:
        v.append(f"groups={layer.groups}: the chip has no grouped convolutions")
    _, h, w = layer.input_shape
    if max(h, w) > MAX_INPUT:
        v.append(f"input {h}×{w} is larger than {MAX_INPUT}×{MAX_INPUT}")
    _, fy, fx = layer.feature_map
    if max(fy, fx) > MAX_FEATURE_MAP:
        v.append(f"feature map {fy}×{fx} is larger than {MAX_FEATURE_MAP}×{MAX_FEATURE_MAP}")
    if max(layer.in_channels, layer.out_channels) > MAX_CHANNELS:
        v.append(f"{max(layer.in_channels, layer.out_channels)} channels: at most {MAX_CHANNELS}")
    py, px = layer.pool
    if py != px or py not in POOLS:
        v.append(f"pooling {py}×{px} is not one of {', '.join(f'{p}×{p}' for p in POOLS)}")
    if layer.neuron is None:
        v.append("no spiking layer follows it")


def _dims(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def _pool_size(name: str, module: nn.Module) -> tuple[tuple[int, int], str | None]:
    """A pooling's (kernel) and why the chip cannot run it, if it cannot."""
    kernel = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    if stride != kernel:
        return kernel, f"pooling {name} has stride {_dims(stride)} ≠ its kernel {_dims(kernel)}"
    if isinstance(module, nn.AvgPool2d) and _pair(module.padding) != (0, 0):
        return kernel, f"pooling {name} is padded"
    return kernel, None


def parse(model: nn.Module, input_shape: Sequence[int]) -> tuple[list[ChipLayer], list[str], list[str]]:
    """The chip layers of ``model`` for one sample of ``input_shape`` (C,H,W, or N for a flat input),
    the violations that belong to no single layer, and notes about how the model was read."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise SyopsError(f"the DYNAP-CNN input shape is C,H,W (or N for a flat input), got {list(input_shape)}")
    current: tuple[int, int, int] = shape  # type: ignore[assignment]
    layers: list[ChipLayer] = []
    model_violations: list[str] = []
    notes: list[str] = []
    open_layer: ChipLayer | None = None  # the layer later neurons / pooling attach to
    relus: list[str] = []
    for name, module in _walk(model) if any(True for _ in model.children()) else [("", model)]:
        label = f"{name} ({type(module).__name__})"
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            try:
                make = _conv_layer if isinstance(module, nn.Conv2d) else _linear_layer
                open_layer = make(name, module, current)  # type: ignore[arg-type]
            except _ShapeMismatch as exc:
                if not layers:  # the first layer: the input shape is wrong
                    raise SyopsError(f"{exc}; check --input-shape C,H,W") from None
                # Further on, the model is not the chain of layers it is read as (a residual block, say).
                model_violations.append(f"{exc}: the model is not a chain of layers, as DYNAP-CNN needs")
                break
            layers.append(open_layer)
            current = open_layer.output_shape
        elif (kind := _neuron_kind(module)) is not None:
            if open_layer is None:
                model_violations.append(f"spiking layer {label} has no Conv2d or Linear before it")
            elif open_layer.neuron is not None:
                open_layer.violations.append(f"a second spiking layer {label} follows it")
            else:
                open_layer.neuron = name
                if kind == "relu":
                    relus.append(name)
                elif kind == "other":
                    open_layer.violations.append(f"spiking layer {label} is not a non-leaky IAF neuron")
        elif _is_sum_pool(module) or isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
            kernel, problem = _pool_size(name, module)
            if isinstance(module, nn.MaxPool2d):
                problem = f"max pooling {label}: the chip only sum-pools"
            if open_layer is None:
                # Pooling before the first layer is the DVS input stage's pooling.
                if problem or kernel[0] != kernel[1] or kernel[0] not in POOLS:
                    model_violations.append(f"input pooling {label}: {problem or 'not 1×1, 2×2 or 4×4'}")
                else:
                    notes.append(f"{label} pools the input (the chip's DVS stage)")
                current = (current[0], current[1] // kernel[0], current[2] // kernel[1])
                continue
            if open_layer.neuron is None:
                open_layer.violations.append(f"pooling {label} comes before the spiking layer")
            if problem:
                open_layer.violations.append(problem)
            open_layer.pool = (open_layer.pool[0] * kernel[0], open_layer.pool[1] * kernel[1])
            current = open_layer.output_shape
        elif isinstance(module, nn.modules.batchnorm._BatchNorm):
            message = f"BatchNorm {label}: merge it into the convolution before it"
            (open_layer.violations if open_layer is not None else model_violations).append(message)
        elif _is_neutral(module):
            continue
        else:
            message = f"{label} is not a layer DYNAP-CNN runs"
            (open_layer.violations if open_layer is not None else model_violations).append(message)
    if relus:
        notes.append(f"ReLU layers ({', '.join(relus)}) stand for the IAF layers sinabs' conversion puts there")
    for layer in layers:
        _check(layer)
    if not layers:
        model_violations.append("no Conv2d or Linear layer: nothing to place on the chip")
    if len(layers) > N_CORES:
        model_violations.append(f"{len(layers)} layers, but the chip has {N_CORES} cores")
    return layers, model_violations, notes


# -- core assignment ------------------------------------------------------------------------------------


def assign_cores(candidates: Sequence[Sequence[int]], n_cores: int = N_CORES) -> list[int | None]:
    """A maximum bipartite matching of layers to cores (augmenting paths, Kuhn's algorithm): the core of
    each layer, or None for a layer left unplaced. ``candidates[i]`` are the cores layer i fits."""
    core_owner: list[int | None] = [None] * n_cores

    def augment(layer: int, seen: set[int]) -> bool:
        # A free core first (keeps the assignment in layer order where it can), then an augmenting path.
        for core in candidates[layer]:
            if core_owner[core] is None:
                core_owner[core] = layer
                return True
        for core in candidates[layer]:
            if core in seen:
                continue
            seen.add(core)
            owner = core_owner[core]
            if owner is None or augment(owner, seen):
                core_owner[core] = layer
                return True
        return False

    for layer in range(len(candidates)):
        augment(layer, set())
    assignment: list[int | None] = [None] * len(candidates)
    for core, layer in enumerate(core_owner):
        if layer is not None:
            assignment[layer] = core
    return assignment


def competitors(candidates: Sequence[Sequence[int]], assignment: Sequence[int | None], layer: int) -> set[int]:
    """The layers reachable from an unplaced ``layer`` by alternating paths of a maximum matching: a set
    of layers whose fitting cores are fewer than the layers (Hall's condition fails on it)."""
    owner = {core: i for i, core in enumerate(assignment) if core is not None}
    reached, frontier = {layer}, [layer]
    while frontier:
        i = frontier.pop()
        for core in candidates[i]:
            j = owner.get(core)
            if j is not None and j not in reached:
                reached.add(j)
                frontier.append(j)
    return reached
