"""Modules syops cannot count, said from Python (``warnings.warn``, once per class), not only listed in
``Report.unsupported``; and the ones that look like a spiking neuron nobody registered.

A leaf module without a rule is looked at on its first call (once per class): does its forward leave a
tensor attribute or buffer changed (state kept across calls), and is its output made of integers only (one
host read, once per class)? Both: it is named as a likely neuron, with ``syops.register_neuron``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from .engine import CountingSession
    from .report import Report


class UnsupportedModuleWarning(UserWarning):
    """A module of the profiled model has no counting rule: its own arithmetic is not counted."""


_WARNED: set[type] = set()


def state_before(module: nn.Module) -> dict[str, tuple[int, int]]:
    """The identity and version of each tensor the module holds as state (attributes and buffers)."""
    held = {k: v for k, v in module.__dict__.items() if isinstance(v, Tensor) and not isinstance(v, nn.Parameter)}
    held.update((f"buffer:{k}", v) for k, v in module._buffers.items() if v is not None)
    return {k: (id(v), v._version) for k, v in held.items()}


def looks_like_neuron(module: nn.Module, before: dict[str, tuple[int, int]], output: Any) -> bool:
    """Kept state across the call (a tensor attribute or buffer replaced or written) and emitted integers."""
    after = state_before(module)
    if not after or after == before:
        return False
    out = output[0] if isinstance(output, (tuple, list)) and output else output
    if not isinstance(out, Tensor) or out.numel() == 0:
        return False
    with torch._C.DisableTorchFunction(), torch.no_grad():
        if not out.is_floating_point():
            return True  # an integer or boolean tensor
        return bool(torch.equal(out, torch.round(out)))  # one host read, once per class


def warn_unsupported(report: Report, session: CountingSession, stacklevel: int = 2) -> None:
    """Warn once per class about the modules ``session`` could not count (and the likely neurons)."""
    for cls, name in session.uncounted_classes.items():
        if cls in _WARNED:
            continue
        _WARNED.add(cls)
        label = f"{cls.__module__}.{cls.__qualname__}"
        shown = name or "(model)"
        if name in session.neuron_like:
            text = (
                f"{label} ({shown}) looks like a spiking neuron syops does not know (it keeps state across calls "
                f"and emits only integers): it gets no neuron row, spike rate or updates, and the layer after it "
                f"may not count its spikes as events. Register it: syops.register_neuron({cls.__name__}, leaky=...)"
            )
        else:
            text = (
                f"syops has no counting rule for {label} ({shown}): the arithmetic it does itself is not counted "
                f"(listed in report.unsupported). Give it one with custom_rules={{{cls.__name__}: rule}}"
                + (", or syops.register_neuron if it is a spiking neuron" if _stateful(session, name) else "")
            )
        warnings.warn(text, UnsupportedModuleWarning, stacklevel=stacklevel + 1)


def _stateful(session: CountingSession, name: str) -> bool:
    return name in session.stateful


def reset_warnings() -> None:
    """Forget which classes were warned about (tests)."""
    _WARNED.clear()
