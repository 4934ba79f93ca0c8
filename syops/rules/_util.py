"""Small helpers shared by the rule families."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from ..errors import CountingError, UnbatchedInputError


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


def refuse_unbatched(x: Tensor, batched_dims: int, expected: str) -> None:
    """A layer that takes ``batched_dims``-D batches and got one dimension fewer: torch runs it as one
    unbatched sample, but the model input's leading dimension (which syops counts samples by) is then
    a feature or a channel. Refused rather than counted per a wrong number of samples."""
    if x.dim() == batched_dims - 1:
        raise UnbatchedInputError(
            f"got an unbatched input of shape {list(x.shape)} (expected {expected}); give the model inputs "
            "with a batch dimension first (x.unsqueeze(0) for one sample)"
        )
