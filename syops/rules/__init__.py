"""Counting rules, one module per layer family. Importing this package registers them all.

A new layer type is one function and one registration::

    from syops.rules import module_rule
    from syops.terms import Elementwise

    @module_rule(MyLayer, phase="pre")
    def my_layer(module, args, kwargs, output, ctx):
        x = args[0]
        return [Elementwise((x,), x.numel())]
"""

from . import activation, attention, conv, elementwise, linear, matmul, norm, pooling, reshape, rnn, upsample  # noqa: F401
from .registry import MODULE_RULES, OP_RULES, Rule, RuleContext, find_module_rule, module_rule, op_rule, zero_cost

__all__ = [
    "MODULE_RULES",
    "OP_RULES",
    "Rule",
    "RuleContext",
    "find_module_rule",
    "module_rule",
    "op_rule",
    "zero_cost",
]
