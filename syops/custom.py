"""``syops.register_neuron``: a user's own neuron class counted as a framework neuron is.

The registration is one counting rule (``syops.rules``) of the neuron family: every call is a neuron
update per element of one sample at one step, the spikes ``spikes(output)`` picks (default: the output,
or its first element) are its events and its spike rate, ``state_words`` words of state per neuron are
read and written per update, and a leaky neuron's update is a MAC (the decay multiply), a non-leaky one's
an AC. The layer after it counts the spikes as events as it counts any integer-valued input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from .errors import SyopsError
from .rules._util import first_tensor
from .rules.registry import MODULE_RULES, Rule
from .terms import LEADING_DIMS, Term, neuron_term

# The user's resets, called by syops.profile before each batch (syops.Profiler leaves resets to the user).
RESETS: dict[type, Callable[[nn.Module], None]] = {}


def register_neuron(
    cls: type,
    *,
    leaky: bool,
    state_words: int = 1,
    spikes: Callable[[Any], Tensor] | None = None,
    layout: str = "step",
    reset: Callable[[nn.Module], None] | None = None,
) -> type:
    """Make ``cls`` (an ``nn.Module`` subclass) a neuron layer to syops: a neuron row, its updates (MACs
    if ``leaky``, else ACs), spike rate and firing-rate map, ``state_words`` words of state per neuron in
    the memory traffic, and its spikes counted as events by the next layer. ``spikes(output)`` picks the
    spike tensor from the module's output (default: the output, or its first element); ``layout`` is how a
    call's input holds time and samples ("step": one step of [B, ...] per call; "TB", "BT"); ``reset(module)``
    puts one back to rest (syops.profile calls it before each batch; without it, the module's state carries
    over between batches). Returns ``cls``, so it can decorate the class."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise SyopsError(f"register_neuron takes an nn.Module subclass, got {cls!r}")
    if not isinstance(leaky, bool):
        raise SyopsError(f"register_neuron: leaky must be True or False, got {leaky!r}")
    if isinstance(state_words, bool) or not isinstance(state_words, int) or not 1 <= state_words <= 64:
        raise SyopsError(f"register_neuron: state_words must be an integer from 1 to 64, got {state_words!r}")
    if spikes is not None and not callable(spikes):
        raise SyopsError(f"register_neuron: spikes must be a function of the module's output, got {spikes!r}")
    if layout not in ("step", "TB", "BT") or layout not in LEADING_DIMS:
        raise SyopsError(f"register_neuron: layout must be 'step', 'TB' or 'BT', got {layout!r}")
    if reset is not None and not callable(reset):
        raise SyopsError(f"register_neuron: reset must be a function of the module, got {reset!r}")
    name = cls.__qualname__

    def rule(module: nn.Module, args: tuple, kwargs: dict, output: Any, ctx: Any) -> list[Term]:
        emitted = spikes(output) if spikes is not None else first_tensor(output)
        if emitted is None:
            return []
        if not isinstance(emitted, Tensor):
            raise SyopsError(
                f"the spikes function registered for {name} returned {type(emitted).__name__}, not a tensor"
            )
        return [neuron_term(emitted, layout, leaky, state_words=state_words)]  # type: ignore[arg-type]

    MODULE_RULES[cls] = Rule(rule, "post", family="neuron", layout=layout)
    if reset is not None:
        RESETS[cls] = reset
    else:
        RESETS.pop(cls, None)
    return cls


def unregister_neuron(cls: type) -> None:
    """Undo ``register_neuron(cls, ...)``."""
    MODULE_RULES.pop(cls, None)
    RESETS.pop(cls, None)


def reset_custom(modules: list[nn.Module]) -> None:
    for module in modules:
        RESETS[type(module)](module)
