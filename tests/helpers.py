"""Ground truth computed independently of syops, by brute force, for the tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def make_input(kind: str, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """binary {0,1} spikes, ternary {-1,0,1}, integer counts {0..3}, or dense real values."""
    u = torch.rand(shape, generator=generator)
    if kind == "binary":
        return (u < 0.3).float()
    if kind == "ternary":
        return (u < 0.2).float() - (u > 0.85).float()
    if kind == "integer":
        return torch.floor(u * 4) * (torch.rand(shape, generator=generator) < 0.5)
    return torch.randn(shape, generator=generator)


def is_events(x: Tensor, mode: str = "integer") -> bool:
    if mode == "binary":
        return bool(((x == 0) | (x == 1)).all())
    return bool((x == x.round()).all())


def brute_force_conv_synops(conv: torch.nn.Module, x: Tensor, skip_zero_weights: bool = False) -> float:
    """Σ over outputs of the events in each receptive field, per weight: a convolution of (non-zero-)ones
    over |x|, summed over every output element and channel, divided by the batch size."""
    dims = conv.weight.dim() - 2
    ones = (conv.weight != 0).double() if skip_zero_weights else torch.ones_like(conv.weight, dtype=torch.float64)
    a = x.abs().double()
    if isinstance(conv, torch.nn.modules.conv._ConvTransposeNd):
        out = CONV_T[dims](a, ones, None, conv.stride, conv.padding, conv.output_padding, conv.groups, conv.dilation)
    elif conv.padding_mode != "zeros":
        a = F.pad(a, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        out = CONV[dims](a, ones, None, conv.stride, 0, conv.dilation, conv.groups)
    else:
        out = CONV[dims](a, ones, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return float(out.sum()) / x.shape[0]


def brute_force_linear_synops(linear: torch.nn.Linear, x: Tensor, skip_zero_weights: bool = False) -> float:
    w = (linear.weight != 0).double() if skip_zero_weights else torch.ones_like(linear.weight, dtype=torch.float64)
    return float(F.linear(x.abs().double(), w).sum()) / x.shape[0]


def ptflops_modules(model: torch.nn.Module, input_res: tuple[int, ...]) -> tuple[int, int]:
    """(MACs, params) from ptflops counting modules only (``count_functional=False``), batch 1."""
    from ptflops import get_model_complexity_info

    return get_model_complexity_info(
        model,
        input_res,
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
