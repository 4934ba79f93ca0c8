"""Forward hooks put on many modules at once and taken off together.

What ``register_forward_pre_hook(hook, with_kwargs=True)`` and ``register_forward_hook(hook,
with_kwargs=True, prepend=True)`` do, entry by entry, without a ``RemovableHandle`` (two weak references and
a removal walk) per hook: a profile puts two hooks on every module that can count, about 0.5 ms on
ResNet-18's 68 modules. The ids come from torch's own counter, so they never meet a hook of anyone else.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.utils.hooks import RemovableHandle


class HookSet:
    """A forward pre-hook and a forward hook (both given the call's kwargs; the forward hook first of
    the module's forward hooks) on each module added."""

    def __init__(self) -> None:
        self._entries: list[tuple[nn.Module, int]] = []

    def add(self, module: nn.Module, pre: Callable, post: Callable, always: Callable | None = None) -> None:
        """``always``: a third hook, last of the module's forward hooks and called also when its forward
        raises (torch's ``always_call``)."""
        hook_id = RemovableHandle.next_id
        RemovableHandle.next_id += 2
        module._forward_pre_hooks[hook_id] = pre
        module._forward_pre_hooks_with_kwargs[hook_id] = True
        module._forward_hooks[hook_id] = post
        module._forward_hooks_with_kwargs[hook_id] = True
        module._forward_hooks.move_to_end(hook_id, last=False)
        if always is not None:
            module._forward_hooks[hook_id + 1] = always
            module._forward_hooks_with_kwargs[hook_id + 1] = True
            module._forward_hooks_always_called[hook_id + 1] = True
        self._entries.append((module, hook_id))

    def remove(self) -> None:
        """Take every hook off again (those a module no longer has are skipped)."""
        for module, hook_id in self._entries:
            module._forward_pre_hooks.pop(hook_id, None)
            module._forward_pre_hooks_with_kwargs.pop(hook_id, None)
            for entry in (hook_id, hook_id + 1):
                module._forward_hooks.pop(entry, None)
                module._forward_hooks_with_kwargs.pop(entry, None)
                module._forward_hooks_always_called.pop(entry, None)
        self._entries.clear()
