"""What a profile switches in the process while the model runs, and switches back: the op-counting mode
(a ``TorchFunctionMode`` seeing functional ops outside counted modules), the cyclic collector's pause, the
modules' training flags."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING

from torch import nn
from torch.overrides import TorchFunctionMode

from .rules import OP_RULES

if TYPE_CHECKING:
    from .engine import CountingSession


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused for one step of a profile (snapshot, one batch, collect,
    restore): the step's many short-lived objects then die by reference counting instead of being
    promoted, and a full collection of every object the process holds (about 0.1 s with torch and the
    SNN frameworks imported, every few profiles) is not triggered by them. Cycles made in the step are
    collected after it, as usual."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def eval_modules(model: nn.Module, modules: list[nn.Module]) -> None:
    """``model.eval()`` on a model whose modules are ``modules``. When no class overrides ``eval`` or
    ``train``, that sets the training flag of each module its recursion through ``children()`` reaches,
    which are these: then the flag is set directly, and left alone where it is already off (and the class
    has no ``__setattr__`` of its own)."""
    if type(model).eval is not nn.Module.eval or any(
        cls.train is not nn.Module.train for cls in dict.fromkeys(type(module) for module in modules)
    ):
        model.eval()
        return
    for module in modules:
        if module.__dict__.get("training") is not False or type(module).__setattr__ is not nn.Module.__setattr__:
            module.training = False


class OpCounter(TorchFunctionMode):
    """Counts functional ops called outside any counted module."""

    def __init__(self, session: CountingSession) -> None:
        super().__init__()
        self.session = session

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        session = self.session
        if session.suppress or not session.running:
            return func(*args, **kwargs)
        try:
            rule = OP_RULES.get(func)
        except TypeError:  # an unhashable callable
            rule = None
        if rule is None:
            if session.stack and session.stack[-1].info.kind is None:
                session.saw_uncounted_op(session.stack[-1].info, func)
            return func(*args, **kwargs)
        owner = session.stack[-1].info if session.stack else session.root
        if rule.phase == "pre":
            session.count_op(owner, rule, func, args, kwargs, None)
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        session.count_op(owner, rule, func, args, kwargs, out)
        return out
