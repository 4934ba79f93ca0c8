"""The registry of counting rules: module rules keyed by class (matched along the MRO, so a subclass of
nn.Conv2d counts as a Conv2d), and op rules keyed by the torch function they count.

A rule is a small function ``rule(target, args, kwargs, output, ctx) -> Iterable[Term]``; ``target`` is
the module, or for an op rule the function that was called. Rules with ``phase="pre"`` run before the
call (``output`` is None): they are for costs fixed by the inputs, and for modules that may overwrite
their input in place (``ReLU(inplace=True)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

from ..fanout import FanoutCache
from ..terms import Term

Phase = Literal["pre", "post"]


@dataclass(frozen=True)
class RuleContext:
    """Options a rule may need; one per profiling session."""

    skip_zero_weights: bool = False
    fanouts: FanoutCache | None = None


RuleFn = Callable[[Any, tuple, dict, Any, RuleContext], Iterable[Term]]


@dataclass(frozen=True)
class Rule:
    fn: RuleFn | None
    phase: Phase = "post"
    name: str = ""
    family: str = ""  # what the rule counts: "synaptic", "neuron", ... (analysis APIs select on it)
    # Child modules called inside this one count themselves (a neuron's recurrent Linear / Conv): the
    # rule covers the module's own arithmetic, its children add their rows. Ops stay suppressed.
    children: bool = False
    # Neuron rules: where the framework's neuron keeps time and samples in its input (a NeuronLayout, or a
    # function of the module giving it); None where the rule does not say. Read by syops.timing.
    layout: Any = None

    @property
    def zero_cost(self) -> bool:
        return self.fn is None


MODULE_RULES: dict[type, Rule] = {}
OP_RULES: dict[Any, Rule] = {}


def module_rule(
    *types: type, phase: Phase = "post", family: str = "", children: bool = False, layout: Any = None
) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` as the rule for modules of ``types`` (and their subclasses)."""

    def register(fn: RuleFn) -> RuleFn:
        for t in types:
            MODULE_RULES[t] = Rule(fn, phase, family=family, children=children, layout=layout)
        return fn

    return register


def zero_cost(*types: type) -> None:
    """Modules that do no arithmetic (reshapes, dropout at inference, padding...)."""
    for t in types:
        MODULE_RULES[t] = Rule(None, "pre")


def op_rule(*funcs: Any, name: str, phase: Phase = "post") -> Callable[[RuleFn], RuleFn]:
    """Register ``fn`` as the rule for calls of ``funcs`` made outside any counted module."""

    def register(fn: RuleFn) -> RuleFn:
        for f in funcs:
            if f is not None:
                OP_RULES[f] = Rule(fn, phase, name)
        return fn

    return register


def find_module_rule(module: nn.Module, extra: dict[type, Rule] | None = None) -> Rule | None:
    """The rule of the most specific class in ``type(module).__mro__`` that has one."""
    for cls in type(module).__mro__:
        if extra and cls in extra:
            return extra[cls]
        rule = MODULE_RULES.get(cls)
        if rule is not None:
            return rule
    return None
