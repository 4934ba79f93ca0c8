"""How samples are presented to a model: seeded random input, an input constructor, explicit tensors or
a DataLoader; with time steps in a [T, B, ...] ("TB"), [B, T, ...] ("BT") or single-step loop layout.

Every batch knows how many samples it holds, so counts can be reported per sample.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from . import validate
from .errors import SyopsError
from .rules._util import first_tensor
from .tree import ModuleTree

TimeLayout = Literal["TB", "BT", "loop"]
TIME_LAYOUTS: tuple[str, ...] = ("TB", "BT", "loop")
Encoding = Literal["direct", "poisson"]
ENCODINGS: tuple[str, ...] = ("direct", "poisson")


@dataclass
class Batch:
    """One call's inputs. For the loop layout, ``steps`` holds one (args, kwargs) per time step."""

    args: tuple
    kwargs: dict
    samples: int
    steps: list[tuple[tuple, dict]] | None = None
    sample_shape: list[int] = field(default_factory=list)


def model_device_dtype(model: nn.Module, tree: ModuleTree | None = None) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first floating parameter (or buffer). ``tree``: the
    walk of ``model`` the profile has just made, if any."""
    first = None
    tensors = itertools.chain(model.parameters(), model.buffers()) if tree is None else tree.tensors()
    for tensor in tensors:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
        first = first if first is not None else tensor
    if first is not None:
        return first.device, torch.get_default_dtype()
    return torch.device("cpu"), torch.get_default_dtype()


def _to_model(value: Any, device: torch.device, dtype: torch.dtype) -> Any:
    if isinstance(value, Tensor):
        if value.is_floating_point():
            return value.to(device=device, dtype=dtype)
        return value.to(device=device)
    if isinstance(value, tuple):
        moved = [_to_model(v, device, dtype) for v in value]
        # a named tuple (a PackedSequence...) keeps its type
        return type(value)(*moved) if hasattr(value, "_fields") else tuple(moved)
    if isinstance(value, list):
        return [_to_model(v, device, dtype) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_model(v, device, dtype) for k, v in value.items()}
    return value


def _batch_dim(layout: TimeLayout | None) -> int:
    return 1 if layout in ("TB", "loop") else 0


class InputPlan:
    """Turns the user's choice of input into batches ready for the model."""

    def __init__(
        self,
        model: nn.Module,
        *,
        input_res: Sequence[int] | None = None,
        inputs: Any = None,
        input_constructor: Callable[[Any], Any] | None = None,
        dataloader: Iterable | None = None,
        timesteps: int | None = None,
        time_layout: TimeLayout | None = None,
        batch_size: int | None = None,
        max_batches: int | None = None,
        input_encoding: Encoding | None = None,
        seed: int = 0,
        tree: ModuleTree | None = None,
    ) -> None:
        given = [x is not None for x in (input_res, inputs, input_constructor, dataloader)]
        if input_constructor is not None and input_res is not None:
            given[0] = False  # the constructor receives input_res (syops-counter's convention)
        if sum(given) == 0:
            raise SyopsError("nothing to run: give input_res, inputs, input_constructor or dataloader")
        if sum(given) > 1:
            raise SyopsError("give only one of input_res, inputs, input_constructor, dataloader")
        if time_layout is not None and time_layout not in TIME_LAYOUTS:
            raise SyopsError(f"unknown time layout {time_layout!r}; expected one of {', '.join(TIME_LAYOUTS)}")
        if input_encoding is not None and input_encoding not in ENCODINGS:
            raise SyopsError(f"unknown input encoding {input_encoding!r}; expected one of {', '.join(ENCODINGS)}")
        if input_encoding is not None and time_layout is None:
            raise SyopsError(
                f"input_encoding={input_encoding!r} presents a static input over time steps: give time_layout "
                "('TB', 'BT' or 'loop') and timesteps too"
            )
        validate.check_int("timesteps", timesteps)
        validate.check_int("batch_size", batch_size)
        validate.check_int("max_batches", max_batches)
        if input_res is not None and not isinstance(input_res, (tuple, list, torch.Size)):
            raise SyopsError(f"input_res must be a tuple of ints (one sample's shape), got {input_res!r}")
        if input_res is not None and not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s < validate.SIZE_LIMIT for s in input_res
        ):
            raise SyopsError(f"input_res must hold positive integers, got {tuple(input_res)!r}")
        if time_layout is not None and timesteps is None:
            timesteps = None if input_res is None and input_encoding is None else 1
        # Without a layout, nothing says which dimension holds the samples of a time-stepped input
        # ([T, B, ...] for a net looping inside forward would count T samples): batch_size must say it,
        # or the model's sinabs Squeeze layers (checked per batch).
        self.needs_sample_count = timesteps is not None and time_layout is None and batch_size is None
        modules = model.modules() if tree is None else tree.modules
        self.squeeze_layers = [m for m in modules if _is_squeeze_layer(m)]

        self.device, self.dtype = model_device_dtype(model, tree)
        self.input_res = tuple(input_res) if input_res is not None else None
        self.inputs = inputs
        self.input_constructor = input_constructor
        self.dataloader = dataloader
        self.timesteps = timesteps
        self.time_layout = time_layout
        self.batch_size = batch_size
        self.max_batches = max_batches
        self.encoding = input_encoding
        self.generator = torch.Generator().manual_seed(seed)
        self.allow_empty = False  # a distributed rank's shard may be empty
        self.squeezed_steps: int | None = None  # T of a squeezed [B·T, ...] input, as its Squeeze layers split it
        self.declared: list = []  # the model's neuron layers and their layouts (syops.timing)
        if self.input_res is not None and input_constructor is None:
            steps = (self.timesteps or 1) if self.time_layout is not None else 1  # encoded over T steps
            validate.check_allocation("input_res", (steps, 1, *self.input_res), self.dtype, self.device)

    # -- public -----------------------------------------------------------------------------------
    @property
    def total_batches(self) -> int | None:
        if self.dataloader is None:
            return 1
        n = validate.dataloader_length(self.dataloader)
        if n is None:
            return self.max_batches
        return min(n, self.max_batches) if self.max_batches else n

    def __iter__(self) -> Iterator[Batch]:
        if self.dataloader is not None:
            yield from self._from_dataloader()
        elif self.inputs is not None:
            # with an input_encoding, explicit inputs are static frames to encode over time
            yield self._prepare(self.inputs, static=self.encoding is not None)
        elif self.input_constructor is not None:
            built = self.input_constructor(self.input_res)
            yield self._prepare(built, static=self.encoding is not None)
        else:
            shape = (1, *self.input_res)
            if self.encoding == "poisson":
                frame = torch.rand(shape, generator=self.generator)  # firing probabilities
            else:
                frame = torch.randn(shape, generator=self.generator)
            yield self._prepare(frame, static=True)

    # -- internals --------------------------------------------------------------------------------
    def _from_dataloader(self) -> Iterator[Batch]:
        count = 0
        for item in self.dataloader:  # type: ignore[union-attr]
            if self.max_batches is not None and count >= self.max_batches:
                break
            if isinstance(item, (tuple, list)):
                if not item:
                    raise SyopsError("the DataLoader yielded an empty batch")
                item = item[0]
            yield self._prepare(item, static=self.encoding is not None)
            count += 1
        if count == 0 and not self.allow_empty:
            raise SyopsError("the DataLoader is empty: no batch to profile")

    def _encode(self, frame: Tensor) -> Tensor:
        """A static [B, ...] frame as a T-step sequence in this plan's layout."""
        t = self.timesteps or 1
        if self.encoding == "poisson":
            rate = frame.clamp(0, 1)
            seq = torch.bernoulli(rate.unsqueeze(0).expand(t, *rate.shape).contiguous(), generator=self.generator)
        else:
            seq = frame.unsqueeze(0).expand(t, *frame.shape).contiguous()
        return seq.transpose(0, 1).contiguous() if self.time_layout == "BT" else seq

    def _prepare(self, value: Any, *, static: bool) -> Batch:
        validate.check_no_complex(value)
        if isinstance(value, Mapping):
            args: tuple = ()
            kwargs: dict = dict(value)
        elif isinstance(value, tuple):
            args, kwargs = value, {}
        else:
            args, kwargs = (value,), {}
        if static and self.time_layout is not None and args and isinstance(args[0], Tensor):
            args = (self._encode(args[0].cpu() if self.encoding == "poisson" else args[0]), *args[1:])
        args = _to_model(args, self.device, self.dtype)
        kwargs = _to_model(kwargs, self.device, self.dtype)
        primary = first_tensor((args, kwargs))
        self._check_timesteps(primary)
        samples, sample_shape = self._samples(primary)
        steps = None
        if self.time_layout == "loop":
            steps = self._loop_steps(args, kwargs)
        return Batch(args, kwargs, samples, steps, sample_shape)

    def _check_timesteps(self, primary: Tensor | None) -> None:
        if self.time_layout is None or primary is None:
            return
        time_dim = 1 if self.time_layout == "BT" else 0
        if primary.dim() <= max(time_dim, 1):
            raise SyopsError(
                f"time layout {self.time_layout} expects inputs with time and batch dimensions, got shape "
                f"{list(primary.shape)}"
            )
        t = int(primary.shape[time_dim])
        if self.timesteps is not None and t != self.timesteps:
            hint = "" if self.encoding else " (static frames? give input_encoding='direct' or 'poisson')"
            raise SyopsError(
                f"time layout {self.time_layout} with timesteps={self.timesteps} expects dimension {time_dim} of "
                f"the input to be {self.timesteps}, got shape {list(primary.shape)}{hint}"
            )
        self.timesteps = t

    def _samples(self, primary: Tensor | None) -> tuple[int, list[int]]:
        if primary is None:
            return (self.batch_size or 1), []
        dim = _batch_dim(self.time_layout)
        if primary.dim() <= dim:
            return (self.batch_size or 1), list(primary.shape)
        shape = list(primary.shape)
        samples = self._sample_count(shape, dim)
        if self.input_res is not None:
            return samples, list(self.input_res)
        if self.time_layout is not None:
            return samples, shape[2:]  # one sample at one step: neither the time nor the batch dimension
        del shape[dim]
        return samples, shape

    def _sample_count(self, shape: list[int], dim: int) -> int:
        """The samples in a batch of ``shape``: its batch dimension, or ``batch_size`` where that is
        consistent with the shape (and with the model's sinabs Squeeze layers)."""
        rows = shape[dim]
        squeezed = _squeeze_batch(self.squeeze_layers, shape[0]) if self.time_layout is None else None
        given = self.batch_size
        if given is not None and squeezed is not None and given != squeezed:
            raise SyopsError(
                f"batch_size={given} contradicts the model's sinabs Squeeze layers, which split the "
                f"{shape[0]} input rows into {squeezed} samples"
            )
        if squeezed is not None and rows % squeezed == 0:
            self.squeezed_steps = rows // squeezed
        if given is None and squeezed is not None:
            return squeezed
        if given is None:
            if self.needs_sample_count:
                raise SyopsError(
                    f"timesteps={self.timesteps} without time_layout leaves the sample dimension of the input "
                    f"{shape} unknown: give time_layout='TB' ([T, B, ...], also for a net that loops over time "
                    "inside forward), 'BT' or 'loop', or batch_size=B (a model that repeats its input over "
                    "the time steps itself)"
                )
            return rows
        time_first = self.time_layout is None and len(shape) > 1 and shape[1] == given
        if rows % given and not time_first:
            where = "the batch dimension" if self.time_layout else "the leading dimension"
            raise SyopsError(
                f"batch_size={given} does not divide {where} of the input ({rows} rows, shape {shape}): "
                "it must be the number of samples the rows hold"
            )
        return given

    def _loop_steps(self, args: tuple, kwargs: dict) -> list[tuple[tuple, dict]]:
        primary = args[0] if args and isinstance(args[0], Tensor) else None
        if primary is None:
            raise SyopsError("time_layout='loop' needs the first positional input to be a [T, B, ...] tensor")
        t = primary.shape[0]
        return [((primary[i], *args[1:]), kwargs) for i in range(t)]


def random_input_distribution(encoding: Encoding | None) -> str:
    """What a seeded random sample is drawn from: firing probabilities for Poisson coding, else N(0, 1)."""
    return "uniform [0, 1)" if encoding == "poisson" else "standard normal"


def describe_inputs(plan: InputPlan) -> dict[str, Any]:
    """How a profile's samples were given, for a report's methods paragraph (syops.export.methods)."""
    if plan.dataloader is not None:
        kind = "dataloader"
    elif plan.inputs is not None:
        kind = "tensors"
    elif plan.input_constructor is not None:
        kind = "input_constructor"
    else:
        kind = "random"
    described: dict[str, Any] = {"kind": kind, "encoding": plan.encoding, "time_layout": plan.time_layout}
    if kind == "random":
        described["distribution"] = random_input_distribution(plan.encoding)
    if kind == "dataloader":
        described["max_batches"] = plan.max_batches
    return described


def _is_squeeze_layer(module: nn.Module) -> bool:
    """A sinabs ``*Squeeze`` layer (by its SqueezeMixin interface; sinabs is not imported here)."""
    cls = type(module)
    if (
        cls.__getattr__ is nn.Module.__getattr__
        and cls.__getattribute__ is object.__getattribute__
        and not hasattr(cls, "squeeze_forward")
        and "squeeze_forward" not in module.__dict__
        and "squeeze_forward" not in module._parameters
        and "squeeze_forward" not in module._buffers
        and "squeeze_forward" not in module._modules
    ):
        # Where torch's Module.__getattr__ would look, it is not: no hasattr below, which would raise (and
        # build the message of) an AttributeError for nearly every module.
        return False
    return hasattr(module, "squeeze_forward") and hasattr(module, "num_timesteps") and hasattr(module, "batch_size")


def _squeeze_batch(layers: list[nn.Module], rows: int) -> int | None:
    """The samples a squeezed [B·T, ...] input of ``rows`` rows holds, as the model's Squeeze layers
    split it (their ``batch_size``, else rows / ``num_timesteps``); None without such layers."""
    found: set[int] = set()
    for layer in layers:
        batch, steps = int(layer.batch_size or -1), int(layer.num_timesteps or -1)
        if batch > 0:
            found.add(batch)
        elif steps > 0 and rows % steps == 0:
            found.add(rows // steps)
    if len(found) > 1:
        raise SyopsError(f"the model's sinabs Squeeze layers disagree on the samples per batch: {sorted(found)}")
    return found.pop() if found else None
