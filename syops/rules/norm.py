"""Normalisation layers, ptflops' convention: one operation per input element, two when the layer
has an affine (scale and shift) part."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..terms import Elementwise
from ._util import arg, tensor_arg
from .registry import module_rule, op_rule


def _affine(m: nn.Module) -> bool:
    return bool(getattr(m, "affine", False) or getattr(m, "elementwise_affine", False))


@module_rule(
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    nn.GroupNorm,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.RMSNorm,
    nn.LocalResponseNorm,
    phase="pre",
)
def norm_module(m, args, kwargs, out, ctx):
    x = tensor_arg(args, kwargs)
    return [Elementwise((x,), x.numel() * (2 if _affine(m) else 1), outputs=x.numel())]


def _functional_norm(weight_index: int):
    def rule(func, args, kwargs, out, ctx):
        x = tensor_arg(args, kwargs)
        affine = arg(args, kwargs, weight_index, "weight") is not None
        return [Elementwise((x,), x.numel() * (2 if affine else 1), outputs=x.numel())]

    return rule


op_rule(F.batch_norm, name="batch_norm", phase="pre")(_functional_norm(3))
op_rule(F.instance_norm, name="instance_norm", phase="pre")(_functional_norm(3))
op_rule(F.layer_norm, name="layer_norm", phase="pre")(_functional_norm(2))
op_rule(F.group_norm, name="group_norm", phase="pre")(_functional_norm(2))
op_rule(F.rms_norm, name="rms_norm", phase="pre")(_functional_norm(2))
