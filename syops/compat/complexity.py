"""syops-counter's ``get_model_complexity_info``: the same arguments, defaults and return shapes, on
syops' exact engine, so scripts written for syops-counter run unchanged and get correct numbers."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np
from torch import nn

from ..errors import SyopsError
from ..profiler import profile
from ..report import Report
from ..rules import Rule, find_module_rule
from ..terms import Fixed
from ..units import params_to_string, syops_to_string


def _hook_rule(hook: Callable) -> Rule:
    """A syops-counter hook ``hook(module, input, output)`` that adds to ``module.__syops__`` =
    [total, ACs, MACs, spike rate] as a syops rule."""

    def rule(module: nn.Module, args: tuple, kwargs: dict, output: Any, ctx: Any) -> list[Fixed]:
        had = "__syops__" in module.__dict__
        previous = module.__dict__.get("__syops__")
        module.__syops__ = np.zeros(4)
        try:
            hook(module, args, output)
            total, acs, macs = (float(v) for v in module.__syops__[:3])
        finally:
            if had:
                module.__syops__ = previous
            else:
                del module.__syops__
        return [Fixed(dense_macs=total, acs=acs, macs=macs)]

    return Rule(rule, "post")


def get_model_complexity_info(
    model: nn.Module,
    input_res: tuple,
    dataloader: Any = None,
    print_per_layer_stat: bool = True,
    as_strings: bool = True,
    input_constructor: Callable | None = None,
    ost: TextIO = sys.stdout,
    verbose: bool = False,
    ignore_modules: list = [],  # noqa: B006 - syops-counter's signature, never mutated
    custom_modules_hooks: dict = {},  # noqa: B006 - syops-counter's signature, never mutated
    backend: str = "pytorch",
    syops_units: str | None = None,
    param_units: str | None = None,
    output_precision: int = 2,
) -> tuple[Any, Any]:
    """Profile ``model`` like syops-counter does, with exact counts.

    Returns ``(syops, params)``. With ``as_strings=False``: ``syops`` is a numpy array ``[total, ACs,
    MACs, mean firing rate]`` per sample (total = dense MACs; the firing rate in percent, NaN without
    spiking layers) and ``params`` an int. With ``as_strings=True``: ``[total, ACs, MACs]`` as strings
    such as '1.82 GMac' and ``params`` as '11.69 M'.
    """
    if not isinstance(input_res, tuple) or len(input_res) < 1:
        raise SyopsError(f"input_res must be a non-empty tuple (one sample's shape), got {input_res!r}")
    if not isinstance(model, nn.Module):
        raise SyopsError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if backend != "pytorch":
        raise SyopsError(f"Wrong backend name {backend!r}; only 'pytorch' is supported")
    rules = {cls: _hook_rule(hook) for cls, hook in custom_modules_hooks.items()}
    if dataloader is not None:
        report = profile(model, dataloader=dataloader, ignore_modules=ignore_modules, custom_rules=rules)
    elif input_constructor is not None:
        report = profile(
            model, input_res, input_constructor=input_constructor, ignore_modules=ignore_modules, custom_rules=rules
        )
    else:
        report = profile(model, input_res, ignore_modules=ignore_modules, custom_rules=rules)

    if verbose:
        for type_name in _without_rules(model, ignore_modules, rules):
            print(f"Warning: module {type_name} is treated as a zero-op.", file=ost)
    totals = report.totals
    rate = report.mean_spike_rate
    syops = np.array([totals["dense_macs"], totals["acs"], totals["macs"], math.nan if rate is None else 100 * rate])
    params = int(totals["params"])
    if print_per_layer_stat:
        print_model_with_syops(
            model, report, ost=ost, syops_units=syops_units, param_units=param_units, precision=output_precision
        )
    if as_strings:
        strings = [syops_to_string(float(v), units=syops_units, precision=output_precision) for v in syops[:3]]
        return strings, params_to_string(params, units=param_units, precision=output_precision)
    return syops, params


def _subtree(report: Report, name: str) -> dict[str, float]:
    prefix = name + "."
    rows = [r for r in report.layers if not name or r.name == name or r.name.startswith(prefix)]
    neuron_rows = [r for r in rows if r.output_spike_rate is not None and r.neuron_updates]
    updates = sum(r.neuron_updates for r in neuron_rows)
    return {
        "params": sum(r.params for r in rows),
        "acs": sum(r.acs for r in rows),
        "macs": sum(r.macs for r in rows),
        "rate": (sum(r.output_spike_rate * r.neuron_updates for r in neuron_rows) / updates) if updates else None,
    }


def print_model_with_syops(
    model: nn.Module,
    report: Report,
    ost: TextIO = sys.stdout,
    syops_units: str | None = None,
    param_units: str | None = None,
    precision: int = 3,
) -> None:
    """The module tree, each module with its (subtree's) params, ACs, MACs and spike rate — the layout
    of syops-counter's per-layer print."""
    totals = report.totals
    total_params = max(totals["params"], 1)
    total_acs = max(totals["acs"], 1)
    total_macs = max(totals["macs"], 1)

    def describe(module: nn.Module, name: str) -> str:
        s = _subtree(report, name)
        rate = "-" if s["rate"] is None else f"{s['rate']:.3%}"
        fields = [
            params_to_string(s["params"], units=param_units, precision=precision),
            f"{s['params'] / total_params:.3%} Params",
            syops_to_string(s["acs"], units=syops_units, precision=precision),
            f"{s['acs'] / total_acs:.3%} ACs",
            syops_to_string(s["macs"], units=syops_units, precision=precision),
            f"{s['macs'] / total_macs:.3%} MACs",
            f"{rate} Spike Rate",
        ]
        extra = module.extra_repr()
        if extra:
            fields.append(extra)
        return ", ".join(fields)

    def lines(module: nn.Module, name: str, label: str, indent: str) -> list[str]:
        children = list(module.named_children())
        head = f"{indent}{label}{type(module).__name__}({describe(module, name)}"
        if not children:
            return [head + ")"]
        out = [head]
        for child_name, child in children:
            full = f"{name}.{child_name}" if name else child_name
            out += lines(child, full, f"({child_name}): ", indent + "  ")
        out.append(indent + ")")
        return out

    print("\n".join(lines(model, "", "", "")), file=ost)


def _without_rules(model: nn.Module, ignore_modules: Any, rules: dict) -> list[str]:
    """syops-counter's verbose warning lists every leaf module type it has no hook for (whatever the
    module does; ``Report.unsupported`` is narrower: only those whose arithmetic syops may have missed)."""
    from .. import frameworks

    frameworks.adapters_for(model)
    ignored = tuple(ignore_modules or ())
    names: list[str] = []
    for module in model.modules():
        if next(module.children(), None) is not None or module is model or isinstance(module, ignored):
            continue
        if find_module_rule(module, rules or None) is None and type(module).__name__ not in names:
            names.append(type(module).__name__)
    return names
