"""syops' reference modules for the stateless NIR primitives: synapses, pooling, reshapes, scaling,
thresholds and delays. Each runs one time step of a batch, ``[B, *shape]`` (NIR shapes carry no batch).

The synaptic and pooling modules subclass the torch layers whose counting rules already exist
(``nn.Linear``, ``nn.Conv1d`` / ``nn.Conv2d``, ``nn.AvgPool2d``, ``nn.Flatten``), so they count
exactly as those do. Constants that are not weights or biases (a scale, a threshold, a delay) are
buffers: ``params`` counts weights and biases only.

``expects`` is the per-sample input shape a module was built for (None where any shape is fine); the
graph runner checks every edge against it.
"""

from __future__ import annotations

import contextvars
import math

import torch
from torch import Tensor, nn

from ..errors import SyopsError
from ..validate import check_bytes


class OutputTooBig(SyopsError):
    """A module's output (or state) would not fit this machine; the graph runner adds the node's name."""


# While to_torch's zero-input probe runs (two steps, each output kept, then stacked): the copies of a
# module's output that the run holds at once.
PROBE_COPIES: contextvars.ContextVar[int] = contextvars.ContextVar("PROBE_COPIES", default=1)


def _check_size(what: str, shape: list[int], like: Tensor) -> None:
    copies = PROBE_COPIES.get()
    held = f", held {copies}× by the zero-input probe (two steps kept, then stacked)," if copies > 1 else ""
    try:
        check_bytes(f"{what} {shape}{held}", copies * math.prod(shape) * like.element_size(), like.device)
    except SyopsError as exc:
        raise OutputTooBig(str(exc)) from None


def _check_conv(conv: nn.modules.conv._ConvNd, x: Tensor) -> None:
    """A conv's output shape, from its arguments, before it is allocated (padding can make an 8×8 input
    a 40008×40008 output)."""
    dims = len(conv.kernel_size)
    if x.dim() != dims + 2:
        return  # the conv says what is wrong
    spatial = list(x.shape[2:])
    if conv.padding != "same":
        padding = (0,) * dims if conv.padding == "valid" else conv.padding
        spatial = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(spatial, padding, conv.dilation, conv.kernel_size, conv.stride, strict=True)
        ]
    _check_size("its output", [x.shape[0], conv.out_channels, *spatial], x)


def _tensor(value, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.as_tensor(value).detach().clone().to(dtype)


class Affine(nn.Linear):
    """y = W x + b, W of shape (N_out, N_in)."""

    def __init__(self, weight, bias) -> None:
        w = _tensor(weight)
        super().__init__(w.shape[1], w.shape[0], bias=True)
        with torch.no_grad():
            self.weight.copy_(w)
            self.bias.copy_(_tensor(bias).reshape(w.shape[0]))
        self.expects: tuple[int, ...] | None = (w.shape[1],)


class Linear(nn.Linear):
    """y = W x, W of shape (N_out, N_in)."""

    def __init__(self, weight) -> None:
        w = _tensor(weight)
        super().__init__(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            self.weight.copy_(w)
        self.expects: tuple[int, ...] | None = (w.shape[1],)


def _conv_arguments(weight: Tensor, stride, padding, dilation, groups, dims: int) -> dict:
    def ints(value) -> tuple[int, ...]:
        flat = [int(v) for v in torch.as_tensor(value).reshape(-1).tolist()]
        return tuple(flat * dims) if len(flat) == 1 else tuple(flat)

    if isinstance(padding, bytes):
        padding = padding.decode()
    pad = padding if isinstance(padding, str) else ints(padding)
    return {
        "in_channels": weight.shape[1] * int(groups),
        "out_channels": weight.shape[0],
        "kernel_size": tuple(weight.shape[2:]),
        "stride": ints(stride),
        "padding": pad,
        "dilation": ints(dilation),
        "groups": int(groups),
    }


def _set_conv(conv: nn.modules.conv._ConvNd, weight: Tensor, bias) -> None:
    with torch.no_grad():
        conv.weight.copy_(weight)
        if conv.bias is not None:
            conv.bias.copy_(_tensor(bias).reshape(weight.shape[0]))


class Conv1d(nn.Conv1d):
    """NIR Conv1d: weight (C_out, C_in/groups, k), padding an int, "same" or "valid"."""

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> None:
        w = _tensor(weight)
        super().__init__(**_conv_arguments(w, stride, padding, dilation, groups, 1), bias=bias is not None)
        _set_conv(self, w, bias)
        self.expects: tuple[int, ...] | None = None  # any length; the channels are checked by the conv

    def forward(self, x: Tensor) -> Tensor:
        _check_conv(self, x)
        return super().forward(x)


class Conv2d(nn.Conv2d):
    """NIR Conv2d: weight (C_out, C_in/groups, kH, kW), padding an int, a pair, "same" or "valid"."""

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> None:
        w = _tensor(weight)
        super().__init__(**_conv_arguments(w, stride, padding, dilation, groups, 2), bias=bias is not None)
        _set_conv(self, w, bias)
        self.expects: tuple[int, ...] | None = None

    def forward(self, x: Tensor) -> Tensor:
        _check_conv(self, x)
        return super().forward(x)


def _pair(value) -> tuple[int, int]:
    flat = [int(v) for v in torch.as_tensor(value).reshape(-1).tolist()]
    return (flat[0], flat[0]) if len(flat) == 1 else (flat[0], flat[1])


class SumPool2d(nn.AvgPool2d):
    """Σ over each window, zero padding included: an average pool with divisor 1, so integer inputs
    give exact integer sums (an LPPool2d's average × k² does not in float32)."""

    def __init__(self, kernel_size, stride, padding) -> None:
        super().__init__(_pair(kernel_size), _pair(stride), _pair(padding), divisor_override=1)
        self.expects: tuple[int, ...] | None = None


class AvgPool2d(nn.AvgPool2d):
    """NIR AvgPool2d: the window sum divided by the window size (zero padding included)."""

    def __init__(self, kernel_size, stride, padding) -> None:
        super().__init__(_pair(kernel_size), _pair(stride), _pair(padding), count_include_pad=True)
        self.expects: tuple[int, ...] | None = None


class Flatten(nn.Flatten):
    """NIR Flatten; its dimensions count from the sample (NIR shapes carry no batch), so non-negative
    ones move one place right for the batch."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1, input_shape: tuple[int, ...] | None = None) -> None:
        start, end = int(start_dim), int(end_dim)
        super().__init__(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
        self.expects: tuple[int, ...] | None = tuple(input_shape) if input_shape is not None else None


def _shape_of(value: Tensor) -> tuple[int, ...] | None:
    return tuple(value.shape) if value.dim() > 0 else None


class Scale(nn.Module):
    """y = s ⊙ x."""

    def __init__(self, scale) -> None:
        super().__init__()
        self.register_buffer("scale", _tensor(scale))
        self.expects = _shape_of(self.scale)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class Threshold(nn.Module):
    """z = (x > θ), spikes of 0 / 1."""

    def __init__(self, threshold) -> None:
        super().__init__()
        self.register_buffer("threshold", _tensor(threshold))
        self.expects = _shape_of(self.threshold)

    def forward(self, x: Tensor) -> Tensor:
        return (x > self.threshold).to(x.dtype)


class Delay(nn.Module):
    """y(t) = x(t − d), d = round(delay / dt) steps per element (0 before the first d steps). The state
    is the last max(d) inputs, newest first."""

    stateful = True

    def __init__(self, delay, dt: float | None) -> None:
        super().__init__()
        delay_t = _tensor(delay, torch.float64)
        steps = torch.zeros_like(delay_t) if dt is None else torch.round(delay_t / dt)
        self.register_buffer("delay", delay_t.to(torch.float32))
        self.register_buffer("steps", steps.to(torch.long))
        self.expects = _shape_of(self.delay)
        self.longest = int(self.steps.max()) if self.steps.numel() else 0  # a number, not a tensor read per step

    def forward(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        longest = self.longest
        if longest == 0:
            return x, None
        if state is None:
            _check_size("its state (the last inputs)", [longest, *x.shape], x)
            state = x.new_zeros((longest, *x.shape))
        history = torch.cat([x.unsqueeze(0), state])  # history[k] = x(t − k)
        index = self.steps.expand(x.shape).unsqueeze(0)
        y = torch.gather(history, 0, index).squeeze(0)
        return y, history[:longest]
