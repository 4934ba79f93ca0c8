"""Parameters kept as they came without copying them: a copy is taken on the first write, if any.

While a model is profiled each of its initialised parameters wears a subclass of its own class (same
name, ``isinstance`` unchanged) whose ``__torch_function__`` sees every torch call that takes the
parameter. Before a call that may write it (an in-place method, ``out=``, an in-place operator, a
setter such as ``p.data = ...``, a norm updating running statistics held as parameters) and after a
call that hands out something that could write it later unseen (``p.data``, a view, ``detach()``, its
storage, a NumPy array), the parameter's values are copied once; restore writes back only those copies
that differ. A parameter nothing writes, which is every parameter of an inference, is never read:
snapshot and restore cost no memory traffic and no memory.

What it cannot see: a write through an alias made before profiling began and kept outside the model
(inside the model, an attribute tensor is a state tensor of ``syops.state``, copied and restored), and
writes by code that bypasses torch (a raw pointer). A parameter class with a ``__torch_function__`` of
its own, and a parameter another profile already guards, are copied up front instead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.module import _global_forward_hooks

# Parameters not yet copied, by id: (parameter, record). A call that meets none of them costs one lookup.
_PENDING: dict[int, _Guarded] = {}
_CLASSES: dict[type, type] = {}
_GUARDED: set[type] = set()  # the guarded classes (values of _CLASSES)
_INPLACE_OPERATORS = frozenset(
    f"__i{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor")
) | frozenset({"__ilshift__", "__irshift__", "__setitem__", "__set__", "__delitem__"})
# Calls whose result gives access to the memory without being a tensor on it.
_EXPOSING = frozenset({"numpy", "__array__", "__dlpack__", "untyped_storage", "storage", "_typed_storage", "data_ptr"})
_NOT_WRITES = frozenset({"requires_grad_", "retain_grad"})
# Compute ops that neither write their inputs nor return memory of them: nothing to look at (the layers'
# own calls, so a guarded forward costs little more than the protocol itself).
_PURE = frozenset(
    f
    for f in (
        *(getattr(torch, f"conv{d}d", None) for d in (1, 2, 3)),
        *(getattr(torch, f"conv_transpose{d}d", None) for d in (1, 2, 3)),
        torch.layer_norm,
        torch.group_norm,
        getattr(torch._C._nn, "linear", None),
        torch.matmul,
        torch.mm,
        torch.bmm,
        torch.addmm,
        torch.prelu,
        torch.embedding,
        torch.bilinear,
        F.layer_norm,
        F.group_norm,
        getattr(F, "rms_norm", None),
    )
    if f is not None
)
# Norms with running statistics write them (in place, inside the op) in training mode (instance norm: with
# input statistics), else nothing: the flag is the sixth argument of each.
_STATISTICS = frozenset({F.batch_norm, torch.batch_norm, F.instance_norm, torch.instance_norm})
_TRAINING_KEYWORDS = ("training", "use_input_stats")


def _training(args: tuple, kwargs: dict) -> bool:
    for key in _TRAINING_KEYWORDS:
        if key in kwargs:
            return bool(kwargs[key])
    return bool(args[5]) if len(args) > 5 else False


class _Guarded:
    """One guarded parameter: its class as it came, its data as it came, and its values once written."""

    __slots__ = ("cls", "data", "data_ptr", "parameter", "requires_grad", "saved", "storage")

    def __init__(self, parameter: nn.Parameter, cls: type) -> None:
        self.parameter = parameter
        self.cls = cls
        self.data = parameter.data  # the same storage: whatever replaces p.data, this is put back
        self.storage = parameter.untyped_storage().data_ptr()
        self.data_ptr = parameter.data_ptr()
        self.requires_grad = parameter.requires_grad
        self.saved: Tensor | None = None

    def save(self) -> None:
        if _PENDING.pop(id(self.parameter), None) is not None:
            with torch._C.DisableTorchFunctionSubclass():
                self.saved = torch._C.TensorBase.detach(self.parameter).clone()


def guardable(p: nn.Parameter) -> bool:
    """Can ``p`` be guarded (rather than copied up front)?"""
    cls = type(p)
    if isinstance(p, nn.parameter.UninitializedTensorMixin) or cls in _CLASSES.values() or id(p) in _PENDING:
        return False
    handler = getattr(cls.__torch_function__, "__func__", cls.__torch_function__)
    return handler is torch._C._disabled_torch_function_impl and p.numel() > 0


def guard(p: nn.Parameter) -> _Guarded | None:
    """Start guarding ``p`` (see ``guardable``); None when its class refuses the swap."""
    record = _Guarded(p, type(p))
    try:
        p.__class__ = _guarded_class(record.cls)
    except TypeError:
        return None
    _PENDING[id(p)] = record
    return record


def release(record: _Guarded) -> None:
    """Stop guarding: the parameter gets its class back (its values are restored by the caller)."""
    _PENDING.pop(id(record.parameter), None)
    p = record.parameter
    if type(p) is not record.cls:
        p.__class__ = record.cls


def _guarded_class(cls: type) -> type:
    found = _CLASSES.get(cls)
    if found is None:
        found = type(
            cls.__name__,
            (cls,),
            {
                "__torch_function__": classmethod(_torch_function),
                "__deepcopy__": _deepcopy,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
            },
        )
        _CLASSES[cls] = found
        _GUARDED.add(found)
    return found


def _deepcopy(self: nn.Parameter, memo: dict) -> nn.Parameter:
    original = type(self).__mro__[1]
    copied = original.__deepcopy__(self, memo)
    if type(copied) is type(self):  # Parameter.__deepcopy__ builds type(self): the copy is not guarded
        copied.__class__ = original
    return copied


# Runs a call as a plain Parameter would (subclass handlers off, in C), returning plain tensors.
_run = torch._C._disabled_torch_function_impl


def _torch_function(cls: type, func: Any, types: tuple, args: tuple = (), kwargs: dict | None = None) -> Any:
    if kwargs is None:
        kwargs = {}
    if not _PENDING or func in _PURE:
        return _run(func, types, args, kwargs)
    updates_statistics = func in _STATISTICS and _training(args, kwargs)
    if func in _STATISTICS and not updates_statistics:
        return _run(func, types, args, kwargs)
    guarded = _guarded_in(args, kwargs)
    if not guarded:
        return _run(func, types, args, kwargs)
    name = getattr(func, "__name__", "")
    writes = (
        updates_statistics
        or (name.endswith("_") and not name.startswith("__") and name not in _NOT_WRITES)
        or name in _INPLACE_OPERATORS
        or name in _EXPOSING
        or kwargs.get("out") is not None
    )
    if writes:
        for record in guarded:
            record.save()
        return _run(func, types, args, kwargs)
    out = _run(func, types, args, kwargs)
    _save_aliased(guarded, out)
    return out


def _guarded_in(args: tuple, kwargs: dict) -> list[_Guarded]:
    found = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, Tensor):
            record = _PENDING.get(id(value))
            if record is not None:
                found.append(record)
        elif isinstance(value, (list, tuple)):
            for item in value:
                record = _PENDING.get(id(item)) if isinstance(item, Tensor) else None
                if record is not None:
                    found.append(record)
    return found


def _save_aliased(guarded: list[_Guarded], out: Any) -> None:
    """Copy each guarded parameter that ``out`` (a tensor or a tuple / list of them) shares memory with."""
    for value in out if isinstance(out, (tuple, list)) else (out,):
        if isinstance(value, Tensor) and value.layout == torch.strided and value.numel():
            ptr = value.untyped_storage().data_ptr()
            for record in guarded:
                if ptr == record.storage:
                    record.save()


# Stock layers whose own forward reads its parameters in one op and writes none (a norm's running
# statistics are buffers, restored by syops.state): their calls run with the guard paused.
_PURE_LAYERS = frozenset(
    {
        nn.Conv1d,
        nn.Conv2d,
        nn.Conv3d,
        nn.Linear,
        nn.BatchNorm1d,
        nn.BatchNorm2d,
        nn.BatchNorm3d,
        nn.LayerNorm,
        nn.GroupNorm,
    }
)


_LAYER_PARAMETERS = frozenset({"weight", "bias"})  # anything else (running statistics made parameters): no pause


def pause_for(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    """Pause the guard for the forward of ``module`` when it is a stock layer of ``_PURE_LAYERS`` (its exact
    class: a parametrized or subclassed layer keeps the guard) whose tensors are all plain (torch's subclass
    handlers are off while it runs, so another subclass keeps the guard on): one context instead of a
    Python handler per call on its parameters. Returns what ``resume`` takes, None when not paused."""
    if type(module) not in _PURE_LAYERS or not _PENDING or _global_forward_hooks:
        return None  # (a global forward hook runs before the module's own, inside the pause: no pause)
    for value in (*args, *kwargs.values(), *module._buffers.values()):
        if isinstance(value, Tensor) and type(value) is not Tensor:
            return None
    for name, p in module._parameters.items():
        if p is not None and (type(p) not in _GUARDED or name not in _LAYER_PARAMETERS):
            return None
    pause = torch._C.DisableTorchFunctionSubclass()
    pause.__enter__()
    return pause


def resume(pause: Any) -> None:
    """End a pause of ``pause_for`` (None: nothing paused)."""
    if pause is not None:
        pause.__exit__(None, None, None)
