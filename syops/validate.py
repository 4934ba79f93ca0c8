"""Argument checks of ``syops.profile``: every bad value is refused in one line that names the argument,
before the model runs (docs/contract.md §8: bad input gets one clear error, never a traceback or a wrong number)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .errors import SyopsError
from .tree import ModuleTree

# torch.Generator.manual_seed takes any 64-bit value; a seed is a non-negative integer below 2**64.
SEED_LIMIT = 1 << 64
# A size (time steps, batch size, a dimension) beyond this cannot name a tensor torch can allocate.
SIZE_LIMIT = 1 << 31


def check_model(model: Any) -> ModuleTree:
    """Refuse what syops cannot profile; return the walk of the model's tree for the profile's other steps."""
    if isinstance(model, torch.jit.ScriptModule):
        raise SyopsError(
            "model is a TorchScript module: its forward runs in the TorchScript interpreter, where syops "
            "cannot see its layers; pass the Python nn.Module it was scripted from"
        )
    if not isinstance(model, nn.Module):
        raise SyopsError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    tree = ModuleTree(model)
    for tensor in tree.tensors():
        if tensor.is_meta:
            raise SyopsError(
                "model: its parameters are on the meta device (shapes without values); materialise them "
                "first (model.to_empty(device='cpu'), then load the weights)"
            )
    return tree


def check_int(name: str, value: Any, *, low: int = 1, high: int = SIZE_LIMIT, optional: bool = True) -> None:
    """An integer (not a bool) in [low, high), or None when ``optional``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SyopsError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not low <= value < high:
        raise SyopsError(f"{name} must be an integer in [{low}, {high}), got {value}")


def check_seed(seed: Any) -> None:
    check_int("seed", seed, low=0, high=SEED_LIMIT, optional=False)


def check_ignore_modules(ignore_modules: Any) -> tuple[type, ...]:
    if isinstance(ignore_modules, (type, str)) or not isinstance(ignore_modules, Iterable):
        raise SyopsError(
            f"ignore_modules must be a list of module classes, e.g. [torch.nn.BatchNorm2d], got {ignore_modules!r}"
        )
    ignore = tuple(ignore_modules)
    for cls in ignore:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise SyopsError(
                f"ignore_modules: {cls!r} is not an nn.Module class (ignore_modules holds module classes), "
                "so it can match no module"
            )
    return ignore


def check_custom_rules(custom_rules: Any) -> Mapping[type, Any]:
    if custom_rules is None:
        return {}
    if not isinstance(custom_rules, Mapping):
        raise SyopsError(f"custom_rules must map module classes to rules, got {type(custom_rules).__name__}")
    for cls in custom_rules:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise SyopsError(f"custom_rules: key {cls!r} is not an nn.Module class (key rules by the class itself)")
    return custom_rules


def check_dataloader(dataloader: Any) -> None:
    if dataloader is None:
        return
    if isinstance(dataloader, (str, bytes, Mapping)) or not isinstance(dataloader, Iterable):
        raise SyopsError(
            f"dataloader must be an iterable of batches (a DataLoader, a list of tensors), got "
            f"{type(dataloader).__name__}"
        )


def dataloader_length(dataloader: Any) -> int | None:
    """len(dataloader), None when it has none; a length that is not a count is refused."""
    try:
        n = len(dataloader)
    except TypeError:
        return None
    except (ValueError, OverflowError, RuntimeError) as exc:
        raise SyopsError(f"dataloader: len() failed ({exc})") from None
    if n < 0:
        raise SyopsError(f"dataloader: len() is {n}, not a number of batches")
    return n


def check_no_complex(value: Any) -> None:
    """Complex inputs are refused: syops counts real-valued events and MACs."""
    tensors = [value] if isinstance(value, torch.Tensor) else []
    if isinstance(value, (tuple, list)):
        tensors = [v for v in value if isinstance(v, torch.Tensor)]
    elif isinstance(value, Mapping):
        tensors = [v for v in value.values() if isinstance(v, torch.Tensor)]
    for tensor in tensors:
        if tensor.is_complex():
            raise SyopsError(f"inputs: complex tensors ({tensor.dtype}) are not supported; syops counts real values")


def _memory_bytes(device: torch.device) -> int | None:
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[1])
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, RuntimeError, AttributeError):
        return None


def check_allocation(what: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> None:
    """Refuse a tensor this machine could never hold, before torch's allocator fails with its own message."""
    elements = math.prod(shape)
    size = elements * torch.empty((), dtype=dtype).element_size()
    check_bytes(f"{what}: an input of shape {list(shape)}", size, device)


def check_bytes(what: str, size: int, device: torch.device) -> None:
    """Refuse ``size`` bytes that this machine (``device``'s memory) could never hold: "<what> needs ..."."""
    limit = _memory_bytes(device)
    if size >= (1 << 62) or (limit is not None and size > limit):
        have = f" ({limit / 2**30:.1f} GiB on {device})" if limit is not None else ""
        raise SyopsError(f"{what} needs {size / 2**30:.3g} GiB, more than this machine has{have}")


def check_positive_number(name: str, value: Any, *, optional: bool = False) -> float | None:
    """A finite number > 0 (not a bool, not a string), as a float; None passes when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not _is_real_scalar(value)):
        raise SyopsError(f"{name} must be a positive number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise SyopsError(f"{name} must be a finite, positive number, got {value!r}")
    return number


def _is_real_scalar(value: Any) -> bool:
    """A 0-d real tensor or a numpy scalar (numbers.Real does not cover tensors)."""
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool
    import numbers

    return isinstance(value, numbers.Real)
