"""Following a model's module calls: the hooks every hooked module shares, the stack of running
modules, and when the op-counting mode is on.

A counted module's frame suppresses counting inside it (nothing is counted twice), and the mode is off
while it runs; a module without a rule is probed once per class for neuron-like behaviour
(``syops.unknown``). ``CallStack`` decides which module is counted; the session it is the base of
(``syops.engine.CountingSession``) counts it, in ``_module_starts`` and ``_module_returns``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from . import guard, unknown

if TYPE_CHECKING:
    from .rules import Rule
    from .runtime import OpCounter

Kind = Literal["counted", "zero", "ignored"]


@dataclass
class ModuleInfo:
    name: str
    type_name: str
    module: nn.Module
    rule: Rule | None
    kind: Kind | None
    probe: bool = False  # a leaf without a rule, not yet looked at for neuron-like behaviour (syops.unknown)
    layout: str | None = None  # a neuron's input layout, as its rule states it (syops.timing)


@dataclass(slots=True)
class Frame:
    info: ModuleInfo
    active: bool  # outermost counted module: its rule runs
    args: tuple
    unguarded: Any = None  # the guard's pause for a stock layer's own forward (see syops.guard.pause_for)
    state: Any = None  # a probed module's state before its call (syops.unknown)


class CallStack:
    """The running modules of a model and the hooks that keep them; the op-counting mode's switch."""

    def __init__(self, follow: bool) -> None:
        # follow: count the calls the user's own code makes (syops.Profiler): a top-level call of one of
        # the model's modules starts a count.
        self.follow = follow
        self.infos: dict[int, ModuleInfo] = {}
        self.stack: list[Frame] = []
        self.suppress = 0
        self.running = False
        self._raised_in: Frame | None = None
        self._mode: OpCounter | None = None
        self._mode_pushed = False
        self.on_call = None  # follow mode: called as on_call(module, args, kwargs) before a top-level call
        self.after_call = None  # follow mode: called as after_call(module, raised) after it
        self.uncounted_classes: dict[type, str] = {}  # classes syops could not count: a module's name
        self.neuron_like: set[str] = set()  # modules among them that look like unregistered neurons
        self.stateful: set[str] = set()
        self._probed: set[type] = set()

    def _module_starts(self, info: ModuleInfo, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """A module to count begins (the outermost counted one, or a child its rule lets count)."""
        raise NotImplementedError

    def _module_returns(self, info: ModuleInfo, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        """A module to count returned ``output``."""
        raise NotImplementedError

    def _unwind_hook(self):
        """Called also when the module's forward raised (the post-hook then is not): its frame leaves the
        stack there, with the guard's pause for it, so a parent that catches the exception and goes on
        counts what it runs next (and runs it with every tensor subclass's handler on). After a forward that
        returned, the post-hook has taken the frame already and this does nothing."""

        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if self.stack and self.stack[-1].info.module is module:
                frame = self._leave()
                self._raised_in = self._raised_in or frame  # the innermost frame an exception left
                if self.follow and not self.stack and self.running:
                    self._end_call(module, raised=True)
                elif self.suppress == 0 and self.running:
                    self._resume_ops()
            return None

        return hook

    def _pre_hook(self):
        infos = self.infos

        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            if not self.running:
                if not self.follow or self.stack:
                    return None
                self._begin_call(module, args, kwargs)
            info = infos[id(module)]
            self._raised_in = None  # a module runs: any exception before was caught
            active = info.kind is not None and (self.suppress == 0 or self._inside_counting_parent())
            if info.kind is not None:
                self.suppress += 1
                self._suspend_ops()
            self.stack.append(Frame(info, active, args, guard.pause_for(module, args, kwargs)))
            if info.probe:
                self._probe_before(info)
            if active:
                self._module_starts(info, module, args, kwargs)
            return None

        return hook

    def _post_hook(self):
        infos = self.infos

        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if not self.running:
                return None
            info = infos[id(module)]
            frame = None
            while self.stack:  # above this module's frame: any left behind by an exception caught upstream
                top = self._leave()
                if top.info is info:
                    frame = top
                    break
            if frame is None:
                return None
            if frame.state is not None:
                self._probe_after(frame, output)
            if frame.active:
                self._module_returns(info, module, args, kwargs, output)
            if self.follow and not self.stack:
                self._end_call(module, raised=False)
            elif self.suppress == 0:
                self._resume_ops()
            return None

        return hook

    def _begin_call(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Following the user's code: a call of the model (or of one of its modules) from outside begins."""
        if self.on_call is not None:
            self.on_call(module, args, kwargs)
        self.running = True
        self._raised_in = None
        self._resume_ops()

    def _end_call(self, module: nn.Module, raised: bool) -> None:
        """Following the user's code: the call ends (returned or raised); the mode is off until the next."""
        self.running = False
        self.suppress = 0
        self._suspend_ops()
        if self.after_call is not None:
            self.after_call(module, raised)

    def _leave(self) -> Frame:
        """Take the innermost frame off the stack: its guard's pause ends, its count suppression too."""
        frame = self.stack.pop()
        guard.resume(frame.unguarded)
        if frame.info.kind is not None:
            self.suppress -= 1
        return frame

    def _inside_counting_parent(self) -> bool:
        """Is the only counted module running one whose rule lets its child modules count themselves?"""
        if self.suppress != 1:
            return False
        owner = next((f for f in reversed(self.stack) if f.info.kind is not None), None)
        return owner is not None and owner.active and owner.info.kind == "counted" and owner.info.rule.children

    def _probe_before(self, info: ModuleInfo) -> None:
        info.probe = False
        if type(info.module) not in self._probed:
            self._probed.add(type(info.module))
            self.stack[-1].state = unknown.state_before(info.module)

    def _probe_after(self, frame: Frame, output: Any) -> None:
        module, name = frame.info.module, frame.info.name
        if unknown.state_before(module) != frame.state:
            self.stateful.add(name)
            if unknown.looks_like_neuron(module, frame.state, output):
                self.neuron_like.add(name)
                self.uncounted_classes.setdefault(type(module), name)

    def _suspend_ops(self) -> None:
        """Leave the op-counting mode while a counted module runs: nothing inside it may be counted as
        an op, and its own ops (a neuron's many elementwise steps) then cost nothing extra."""
        if self._mode_pushed and torch._C._len_torch_function_stack() > 0:
            top = torch._C._get_function_stack_at(torch._C._len_torch_function_stack() - 1)
            if top is self._mode:
                torch._C._pop_torch_function_stack()
                self._mode_pushed = False

    def _resume_ops(self) -> None:
        if not self._mode_pushed and self._mode is not None:
            torch._C._push_on_torch_function_stack(self._mode)
            self._mode_pushed = True
