"""Adapters for spiking-neural-network frameworks, each imported only when the profiled model uses
that framework (and so the package is installed).

An adapter is a module ``syops.frameworks.<package>`` that registers the counting rules of the
framework's layers on import and defines ``reset(model)``: put every neuron of ``model`` back to its
resting state with the framework's own reset, called before each batch.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

from torch import nn

# top-level package of the framework -> adapter module
ADAPTERS: dict[str, str] = {
    "spikingjelly": "syops.frameworks.spikingjelly",
    "sinabs": "syops.frameworks.sinabs",
    "snntorch": "syops.frameworks.snntorch",
    "norse": "syops.frameworks.norse",
}

_loaded: dict[str, ModuleType] = {}


def frameworks_of(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> list[str]:
    """The registered frameworks whose classes appear in ``model`` (``modules``: its modules, if the caller
    has just walked them)."""
    found: list[str] = []
    # each class once, in order of first use (a model has many modules of few classes)
    for module_cls in dict.fromkeys(type(module) for module in (model.modules() if modules is None else modules)):
        for cls in module_cls.__mro__:
            package = cls.__module__.split(".")[0]
            if package in ADAPTERS and package not in found:
                found.append(package)
    return found


def adapters_for(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> list[ModuleType]:
    """Import (once) and return the adapters ``model`` needs (``modules``: as for ``frameworks_of``)."""
    adapters = []
    for package in frameworks_of(model, modules):
        if package not in _loaded:
            if importlib.util.find_spec(ADAPTERS[package]) is None:
                continue
            _loaded[package] = importlib.import_module(ADAPTERS[package])
        adapters.append(_loaded[package])
    return adapters


def reset_states(model: nn.Module, adapters: list[ModuleType]) -> None:
    for adapter in adapters:
        adapter.reset(model)


def module_rule_for(module: nn.Module):
    """The counting rule of ``module``, with the adapter of its framework loaded first."""
    from ..rules import find_module_rule

    adapters_for(module)
    return find_module_rule(module)


def is_neuron(module: nn.Module) -> bool:
    """Is ``module`` a spiking-neuron layer of a supported framework?"""
    rule = module_rule_for(module)
    return rule is not None and rule.family == "neuron"
