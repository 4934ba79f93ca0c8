"""One walk of a model's module tree, shared by the steps of one profile that read the tree before the
model runs: the argument checks, the input plan, the NeuroBench recorder, the snapshot, the framework
adapters and the rule lookup. Built per profile and dropped with it, never kept: a model can change
between two profiles."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from torch import Tensor, nn


class ModuleTree:
    """``model.named_modules()``, ``model.parameters()`` and ``model.buffers()`` as they are now, each
    walked once: every module, parameter and buffer once, in torch's order."""

    __slots__ = ("buffers", "model", "modules", "named", "parameters")

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.named: list[tuple[str, nn.Module]] = list(model.named_modules())
        self.modules: list[nn.Module] = [module for _, module in self.named]
        self.parameters: list[nn.Parameter] = _members(self.modules, "_parameters")
        self.buffers: list[Tensor] = _members(self.modules, "_buffers")

    def tensors(self) -> Iterator[Tensor]:
        """The parameters, then the buffers (``itertools.chain(model.parameters(), model.buffers())``)."""
        return itertools.chain(self.parameters, self.buffers)


def _members(modules: list[nn.Module], attribute: str) -> list:
    """What ``Module._named_members`` yields: each module's non-None entries, each tensor once."""
    seen: set[int] = set()
    found = []
    for module in modules:
        for tensor in getattr(module, attribute).values():
            if tensor is not None and id(tensor) not in seen:
                seen.add(id(tensor))
                found.append(tensor)
    return found


def named_children(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """``list(module.named_children())``: each child once, under its first name."""
    if not module._modules:
        return []  # a leaf: most modules
    seen: set[int] = set()
    found = []
    for name, child in module._modules.items():
        if child is not None and id(child) not in seen:
            seen.add(id(child))
            found.append((name, child))
    return found


def has_children(module: nn.Module) -> bool:
    """``any(True for _ in module.children())``."""
    return any(child is not None for child in module._modules.values())
