"""Small helpers shared by the rule families."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from ..errors import CountingError


def arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """Positional-or-keyword argument ``name`` at position ``index``."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def tensor_arg(args: tuple, kwargs: dict, index: int = 0, name: str = "input") -> Tensor:
    value = arg(args, kwargs, index, name)
    if not isinstance(value, Tensor):
        raise CountingError(f"expected a tensor as argument {name!r}, got {type(value).__name__}")
    return value


def prod(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def first_tensor(value: Any) -> Tensor | None:
    """The first tensor in a (nested) output structure."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = first_tensor(item)
            if found is not None:
                return found
    if isinstance(value, dict):
        for item in value.values():
            found = first_tensor(item)
            if found is not None:
                return found
    return None
