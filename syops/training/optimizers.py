"""The optimizer table: what one ``step()`` costs per parameter element, from torch's reference
(single-tensor) implementations in ``torch/optim/sgd.py`` (``_single_tensor_sgd``) and
``torch/optim/adam.py`` (``_single_tensor_adam``; ``torch/optim/adamw.py``'s ``AdamW`` is ``Adam`` with
``decoupled_weight_decay=True``). The foreach and fused implementations do the same arithmetic.

How an elementwise op of that code is counted: a multiply-add (``add`` with ``alpha`` ≠ 1, ``addcmul``'s
final add, ``lerp``'s scaled add) is a MAC; a lone multiply, division or square root is a MAC too (priced as
one: the cost models have no cheaper class for it); a lone addition, subtraction, comparison or negation is
an AC. Scalar work once per tensor (the step counter, the bias corrections) is not per element and is left
out.

Memory per parameter element: the parameter is read (``weight_reads``) and written (``output_writes``), its
gradient read (``state_reads``), each optimizer state word read (``state_reads``; a momentum buffer that
does not exist yet is not) and written (``state_writes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import SyopsError

SUPPORTED = "torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW"


@dataclass(frozen=True)
class UpdateRule:
    """Per parameter element: ACs, MACs, optimizer state words read and written."""

    acs: int
    macs: int
    state_reads: int
    state_writes: int
    source: str


def sgd_rule(group: dict[str, Any], has_buffer: bool) -> UpdateRule:
    """``_single_tensor_sgd``: ``grad = -grad`` if maximize (AC); ``grad.add(param, alpha=weight_decay)``
    (MAC); momentum: the first step clones ``grad`` into the buffer (no arithmetic, one state write), later
    ``buf.mul_(momentum).add_(grad, alpha=1 - dampening)`` (a multiply, then an AC when ``dampening`` is 0 or
    a MAC otherwise); Nesterov ``grad.add(buf, alpha=momentum)`` (MAC); ``param.add_(grad, alpha=-lr)``
    (MAC)."""
    acs = macs = reads = writes = 0
    if group.get("maximize", False):
        acs += 1
    if group.get("weight_decay", 0) != 0:
        macs += 1
    if group.get("momentum", 0) != 0:
        writes += 1
        if has_buffer:
            reads += 1
            macs += 1
            if group.get("dampening", 0) == 0:
                acs += 1
            else:
                macs += 1
        if group.get("nesterov", False):
            macs += 1
    macs += 1
    return UpdateRule(acs, macs, reads, writes, "torch/optim/sgd.py, _single_tensor_sgd")


def adam_rule(group: dict[str, Any]) -> UpdateRule:
    """``_single_tensor_adam`` (non-capturable path): ``-grad`` if maximize (AC); weight decay: coupled
    ``grad.add(param, alpha=weight_decay)`` or decoupled (AdamW) ``param.mul_(1 - lr * weight_decay)`` (a
    MAC either way); ``exp_avg.lerp_(grad, 1 - beta1)`` (a subtraction and a multiply-add: AC + MAC);
    ``exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)`` (a multiply, then grad·grad and a
    multiply-add: 3 MACs); amsgrad ``torch.maximum(max_exp_avg_sq, exp_avg_sq)`` (AC);
    ``(exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`` (square root and division: 2 MACs, + AC);
    ``param.addcdiv_(exp_avg, denom, value=-step_size)`` (a division and a multiply-add: 2 MACs). State:
    ``exp_avg``, ``exp_avg_sq`` (and ``max_exp_avg_sq`` with amsgrad)."""
    amsgrad = bool(group.get("amsgrad", False))
    acs = 1 + 1 + (1 if amsgrad else 0) + (1 if group.get("maximize", False) else 0)
    macs = 1 + 3 + 2 + 2 + (1 if group.get("weight_decay", 0) != 0 else 0)
    words = 3 if amsgrad else 2
    decoupled = group.get("decoupled_weight_decay", False)
    source = "torch/optim/adam.py, _single_tensor_adam" + (" (AdamW: decoupled_weight_decay)" if decoupled else "")
    return UpdateRule(acs, macs, words, words, source)


def check_optimizer(optimizer: Any) -> None:
    """One clear line for an optimizer the table does not hold (before anything is attached)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise SyopsError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(optimizer, (torch.optim.SGD, torch.optim.Adam)):
        raise SyopsError(f"no update rule for {type(optimizer).__name__}; syops counts {SUPPORTED}")
    if isinstance(optimizer, torch.optim.Adam) and any(g.get("capturable", False) for g in optimizer.param_groups):
        raise SyopsError("Adam(capturable=True) runs another code path; syops counts the default (capturable=False)")


def update_rule(optimizer: Any, group: dict[str, Any], state: dict[str, Any]) -> UpdateRule:
    """The rule of one parameter of ``group`` whose optimizer state is ``state`` before the step."""
    if isinstance(optimizer, torch.optim.Adam):  # AdamW is a subclass
        return adam_rule(group)
    return sgd_rule(group, state.get("momentum_buffer") is not None)
