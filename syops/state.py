"""Snapshot and restore of a model, so it comes back from profiling exactly as it went in.

Restored, per module: its class (a lazy module that materialised becomes lazy again); the attribute
dictionary (training flag, anything a forward pass sets or replaces); the contents of its parameter,
buffer, submodule, hook and spiking-memory dictionaries, and of list / dict / set attributes (a shallow
copy: the items themselves are the objects that were there); the values of its buffers and
tensor-valued state (a neuron's membrane potential, kept as a copy, written back when its version
counter moved); the values, storage, shapes and ``requires_grad`` of its parameters (a write through
``.data`` moves no version counter, so ``syops.guard`` copies a parameter on the first call that may
write it or hand out its memory, and restore writes back a copy that differs: a parameter nothing
writes is never copied nor read), and a lazy module's uninitialised parameters.

Not restored: objects outside the model (globals, files, other modules a forward reaches), writes to a
parameter through an alias of it made before profiling and kept outside the model, the inside
of other objects an attribute holds (a tensor in a dict in a list, a custom object's fields), a
parameter's ``.grad``, and anything written to a tensor that refuses writes (inference-mode tensors).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from operator import is_

import torch
from torch import Tensor, nn

from . import guard

# Mapping attributes whose *contents* a forward pass may change (spikingjelly keeps neuron state in
# ``_memories``; snnTorch and sinabs in buffers or plain attributes).
_MAPPINGS = frozenset(
    {
        "_parameters",
        "_buffers",
        "_modules",
        "_memories",
        "_memories_rv",
        "_non_persistent_buffers_set",
        # hooks: a lazy module removes its initialisation hooks when it materialises
        "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs",
        "_forward_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_hooks_always_called",
        "_state_dict_pre_hooks",
        "_state_dict_hooks",
        "_load_state_dict_pre_hooks",
        "_load_state_dict_post_hooks",
    }
)
# Containers held as plain attributes whose contents a forward may change (a list of recorded spikes).
_CONTAINERS = frozenset({list, dict, set})
# Attribute values that cannot hold a tensor: skipped without a closer look (most of a module's __dict__).
_PLAIN = frozenset({bool, int, float, str, type(None), dict, OrderedDict, set})


@dataclass
class _ParameterSnapshot:
    parameter: nn.Parameter
    cls: type
    data: Tensor  # a copy of the values; for an uninitialised parameter its (empty) data itself
    requires_grad: bool


class ModelSnapshot:
    """Everything needed to put ``model`` back the way it was. ``modules``: ``model.modules()`` if the
    caller has just walked them (one walk of the tree shared by the steps of a profile).

    What is kept is held model-wide, kind by kind, not module by module: restore then runs one short
    loop per kind, and each piece it restores belongs to one object only (a module, a container, a
    tensor), so the order across modules does not matter."""

    def __init__(self, model: nn.Module, modules: Iterable[nn.Module] | None = None) -> None:
        self._classes: list[tuple[nn.Module, type]] = []
        # (the module's attribute dictionary, a copy of it)
        self._attributes: list[tuple[dict, dict]] = []
        # (a mapping or container attribute, a copy of its contents); after the attributes are restored,
        # each attribute holds again the very container it held, so the container itself is kept, not its
        # name. Empty ones are kept without a copy (restore empties them if the forward filled them: most
        # are hook dictionaries nothing fills).
        self._contents: list[tuple[dict | set | list, dict | set | list]] = []
        self._emptied: list[dict | set | list] = []
        # (tensor, copy, version, requires_grad of a leaf: a forward may flip it, as Norse's IAFCell does on
        # its v_reset; None for a tensor computed with grad, which a reset may detach in place, as sinabs'
        # does)
        self._tensors: list[tuple[Tensor, Tensor, int, bool | None]] = []
        self._parameters: list[_ParameterSnapshot] = []
        self._guarded: list[guard._Guarded] = []  # parameters copied only when written
        try:
            self._take(model.modules() if modules is None else modules)
        except BaseException:
            self.restore()  # parameters already guarded get their class back
            raise

    def _take(self, modules: Iterable[nn.Module]) -> None:
        seen: set[int] = set()  # a parameter two modules share is kept once
        contents, emptied = self._contents, self._emptied
        with torch.no_grad():
            for module in modules:
                attributes = module.__dict__
                self._classes.append((module, type(module)))
                self._attributes.append((attributes, dict(attributes)))
                # Tensors a forward pass may change in place: buffers and tensor-valued attributes (or lists
                # of them). spikingjelly's ``_memories`` are left out: its reset, which the engine runs
                # before every batch, replaces each memory with a new tensor, so the originals are never
                # reached by the forward and the snapshot's references restore them (no copy of the neuron
                # states is needed).
                found: dict[int, Tensor] = {id(t): t for t in module._buffers.values() if t is not None}
                for name, value in attributes.items():  # one pass: what to copy, and where tensors may be
                    kind = type(value)
                    mapping = name in _MAPPINGS
                    if mapping or kind in _CONTAINERS:
                        if value:
                            contents.append((value, value.copy()))
                        else:
                            emptied.append(value)
                    if mapping or kind in _PLAIN:
                        continue
                    for item in value if isinstance(value, (list, tuple)) else (value,):
                        if isinstance(item, Tensor) and not isinstance(item, nn.Parameter):
                            found[id(item)] = item
                self._tensors += [
                    (t, t.detach().clone(), t._version, t.requires_grad if t.is_leaf else None) for t in found.values()
                ]
                for p in module._parameters.values():
                    if p is None or id(p) in seen:
                        continue
                    seen.add(id(p))
                    record = guard.guard(p) if guard.guardable(p) else None
                    if record is not None:
                        self._guarded.append(record)
                    else:
                        self._parameters.append(_parameter_snapshot(p))

    def restore(self) -> None:
        with torch.no_grad():
            for module, cls in self._classes:
                if type(module) is not cls:
                    module.__class__ = cls
            for current, saved in self._attributes:
                if not _same_contents(current, saved):
                    for name in [k for k in current if k not in saved]:
                        del current[name]
                    for name, value in saved.items():
                        if current.get(name, _MISSING) is not value:
                            current[name] = value
            for target, kept in self._contents:
                if not _same_contents(target, kept):
                    target.clear()
                    if isinstance(target, list):
                        target.extend(kept)
                    else:
                        target.update(kept)
            if any(self._emptied):  # (most often none was filled: one pass in C)
                for target in self._emptied:
                    if target:
                        target.clear()
            for saved in self._parameters:
                _restore_parameter(saved)
            for record in self._guarded:
                _restore_guarded(record)
            for tensor, saved, version, requires_grad in self._tensors:
                if requires_grad is not None and tensor.requires_grad != requires_grad and tensor.is_leaf:
                    with contextlib.suppress(RuntimeError):  # an inference-mode tensor
                        tensor.requires_grad_(requires_grad)
                # A tensor nothing wrote to in place (its version counter unchanged) holds its values.
                if tensor._version != version and tensor.shape == saved.shape and tensor.dtype == saved.dtype:
                    # An inference-mode tensor refuses copy_; it cannot have been changed either.
                    with contextlib.suppress(RuntimeError):
                        tensor.copy_(saved)


_MISSING = object()


def _parameter_snapshot(p: nn.Parameter) -> _ParameterSnapshot:
    if isinstance(p, nn.parameter.UninitializedTensorMixin):
        return _ParameterSnapshot(p, type(p), p.data, p.requires_grad)
    return _ParameterSnapshot(p, type(p), p.detach().clone(), p.requires_grad)


def _restore_parameter(saved: _ParameterSnapshot) -> None:
    p = saved.parameter
    if type(p) is not saved.cls:  # a lazy parameter materialised (or any parameter's class changed)
        p.data = saved.data
        p.__class__ = saved.cls
    elif isinstance(p, nn.parameter.UninitializedTensorMixin):
        pass
    elif p.shape != saved.data.shape or p.dtype != saved.data.dtype or p.device != saved.data.device:
        p.data = saved.data
    elif not torch.equal(p.detach(), saved.data):
        with contextlib.suppress(RuntimeError):  # an inference-mode parameter refuses writes
            p.copy_(saved.data)
    if p.requires_grad != saved.requires_grad:
        p.requires_grad_(saved.requires_grad)


def _restore_guarded(record: guard._Guarded) -> None:
    guard.release(record)
    p, data = record.parameter, record.data
    # is_set_to: the same storage, offset, shape and strides (so the same device); the data pointer: the
    # storage was not reallocated.
    if not (p.dtype == data.dtype and p.is_set_to(data) and p.data_ptr() == record.data_ptr):
        p.data = data  # p.data was replaced, or p was resized or set_ to other memory
    if record.saved is not None and not torch.equal(data, record.saved):
        with contextlib.suppress(RuntimeError):  # an inference-mode parameter refuses writes
            data.copy_(record.saved)
    if p.requires_grad != record.requires_grad:
        p.requires_grad_(record.requires_grad)


def _same_contents(current: dict | set | list, saved: dict | set | list) -> bool:
    """The same keys holding the same objects (compared in C, in insertion order; a reordered but
    unchanged mapping reads as changed and is simply rewritten)."""
    if len(current) != len(saved):
        return False
    if isinstance(saved, set):
        return current == saved
    if isinstance(saved, list):
        return all(map(is_, current, saved))
    return all(map(is_, current, saved)) and all(map(is_, current.values(), saved.values()))
