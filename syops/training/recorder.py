"""The training recorder: counts the backward passes and optimizer steps the user's own code runs.

While attached it sees the model's forward calls (forward hooks on its modules, and a
``TorchFunctionMode`` for functional ops outside counted modules, chosen as the counting engine chooses
them: the outermost module with a rule counts, nothing inside it) and turns each call made with grad
enabled into its backward cost (``syops.training.costs``) from the same forward rules. The cost is booked
when autograd computes the gradient of the call's output (a grad hook on the output that returns None, so
the gradient is untouched): a forward without a backward costs no backward, two backward passes through a
retained graph cost two. Saved tensors go through ``torch.autograd.graph.saved_tensors_hooks`` that hand
the tensor back as it came: each save made in the model's forward adds its bytes to
``saved_for_backward_bytes`` and each unpack a read of its elements to the backward's memory traffic. An
optimizer's ``register_step_pre_hook`` / ``register_step_post_hook`` book each step by the optimizer
table (``syops.training.optimizers``).

It changes no gradient and no parameter; ``detach()`` (also after an exception) removes every hook it put
on the model, the optimizer and the outputs, and leaves the saved-tensor hooks and the mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from .. import frameworks
from ..fanout import FanoutCache
from ..rules import OP_RULES, Rule, RuleContext, find_module_rule
from ..terms import Elementwise, Neuron, Part, Product, Synaptic
from . import costs
from .costs import Access, Cost
from .optimizers import check_optimizer, update_rule

Key = tuple[str, str]  # a row: (qualified module name, type), as the forward report names it


@dataclass
class _Frame:
    key: Key
    module: nn.Module
    rule: Rule | None
    kind: str | None  # "counted", "zero", "ignored" or None (no rule)
    active: bool
    terms: list | None = None


class TrainingRecorder:
    """Attach with ``attach()`` (or as a context manager), let the user's code train, ``detach()``.

    ``backward`` / ``update``: per row, the booked :class:`~syops.training.costs.Cost` of every call;
    ``saved_bytes``: the bytes autograd saved in the model's forward calls (each save counted)."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Any = None,
        *,
        spike_mode: str = "integer",
        skip_zero_weights: bool = False,
        ignore_modules: Sequence[type] = (),
        custom_rules: Mapping[type, Rule] | None = None,
    ) -> None:
        if optimizer is not None:
            check_optimizer(optimizer)
        self.model = model
        self.optimizer = optimizer
        self.spike_mode = spike_mode
        self.ctx = RuleContext(skip_zero_weights=skip_zero_weights, fanouts=FanoutCache())
        self.ignore_modules = tuple(ignore_modules)
        self.custom_rules = dict(custom_rules or {})
        self.backward: dict[Key, Cost] = {}
        self.update: dict[Key, Cost] = {}
        self.saved_bytes = 0
        self.steps = 0
        self.untracked: set[Key] = set()  # rows whose forward terms have no backward rule (custom counts)
        self.stack: list[_Frame] = []
        self.suppress = 0
        self._op_key: Key | None = None
        self._names: dict[int, str] = {}
        self._param_rows: dict[int, Key] = {}
        self._handles: list[Any] = []
        self._grad_handles: list[Any] = []
        self._pending_update: list[tuple[Key, int, Any]] = []
        self._saved_hooks: Any = None
        self._mode: _BackwardOps | None = None
        self.attached = False

    # -- attach / detach --------------------------------------------------------------------------
    def __enter__(self) -> TrainingRecorder:
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def attach(self) -> TrainingRecorder:
        try:
            named = list(self.model.named_modules())
            frameworks.adapters_for(self.model, [m for _, m in named])  # registers the neuron rules
            pre, post = self._pre_hook, self._post_hook
            for name, module in named:
                self._names.setdefault(id(module), name)
                self._handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
                self._handles.append(module.register_forward_hook(post, with_kwargs=True, always_call=True))
            self._param_rows = self._rows_of_parameters(named)
            if self.optimizer is not None:
                self._handles.append(self.optimizer.register_step_pre_hook(self._step_pre))
                self._handles.append(self.optimizer.register_step_post_hook(self._step_post))
            self._saved_hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
            self._saved_hooks.__enter__()
            self._mode = _BackwardOps(self)
            torch._C._push_on_torch_function_stack(self._mode)
            self.attached = True
        except BaseException:
            self.detach()
            raise
        return self

    def detach(self) -> None:
        """Every hook off, the saved-tensor hooks and the mode left; counts kept."""
        if self._mode is not None:
            _remove_mode(self._mode)
            self._mode = None
        if self._saved_hooks is not None:
            self._saved_hooks.__exit__(None, None, None)
            self._saved_hooks = None
        for handle in (*self._handles, *self._grad_handles):
            handle.remove()
        self._handles.clear()
        self._grad_handles.clear()
        self.stack.clear()
        self.suppress = 0
        self.attached = False

    # -- which module counts ----------------------------------------------------------------------
    def _kind(self, module: nn.Module) -> tuple[Rule | None, str | None]:
        rule = find_module_rule(module, self.custom_rules or None)
        if self.ignore_modules and isinstance(module, self.ignore_modules):
            return rule, "ignored"
        if rule is None:
            return None, None
        return rule, "zero" if rule.zero_cost else "counted"

    def _rows_of_parameters(self, named: list[tuple[str, nn.Module]]) -> dict[int, Key]:
        """Each parameter's row, as the forward report assigns it: the outermost module with a rule that
        holds it (its own parameters only where the rule lets child modules count themselves), else the
        module that holds it."""
        rows: dict[int, Key] = {}
        for name, module in named:
            rule, kind = self._kind(module)
            if kind is None:
                continue
            own_only = rule is not None and rule.children
            for p in module.parameters(recurse=not own_only):
                rows.setdefault(id(p), (name, type(module).__name__))
        for name, module in named:
            for p in module._parameters.values():
                if p is not None:
                    rows.setdefault(id(p), (name, type(module).__name__))
        return rows

    def _pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        with torch._C.DisableTorchFunction():  # the recorder's reads are no op of the model's
            self._enter_module(module, args, kwargs)

    def _post_hook(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        with torch._C.DisableTorchFunction():
            self._leave_module(module, args, kwargs, output)

    def _enter_module(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        rule, kind = self._kind(module)
        opens = bool(self.stack) and self.suppress == 1 and _opens_children(self._owner())
        active = kind == "counted" and (self.suppress == 0 or opens)
        key = (self._names.get(id(module), ""), type(module).__name__)
        frame = _Frame(key, module, rule, kind, active)
        if kind is not None:
            self.suppress += 1
        self.stack.append(frame)
        if active and torch.is_grad_enabled() and rule.phase == "pre":
            frame.terms = self._terms(rule, module, args, kwargs, None)

    def _leave_module(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        frame = None
        while self.stack:  # frames an exception caught upstream left above this one
            top = self.stack.pop()
            if top.kind is not None:
                self.suppress -= 1
            if top.module is module:
                frame = top
                break
        if frame is None or not frame.active or output is None or not torch.is_grad_enabled():
            return
        terms = frame.terms if frame.terms is not None else self._terms(frame.rule, module, args, kwargs, output)
        self._book_later(frame.key, terms, module, args, kwargs, output)

    def _owner(self) -> _Frame | None:
        return next((f for f in reversed(self.stack) if f.kind is not None), None)

    def saving_key(self) -> Key | None:
        """The row a tensor saved now belongs to: the op being counted, else the innermost counting
        module, else the innermost module (None outside the model's forward)."""
        if self._op_key is not None:
            return self._op_key
        active = next((f for f in reversed(self.stack) if f.active), None)
        if active is not None:
            return active.key
        return self.stack[-1].key if self.stack else None

    # -- forward calls → backward costs -----------------------------------------------------------
    def _terms(self, rule: Rule, target: Any, args: tuple, kwargs: dict, output: Any) -> list:
        with torch._C.DisableTorchFunction(), torch.no_grad():
            return list(rule.fn(target, args, kwargs, output, self.ctx))

    def _book_later(self, key: Key, terms: list, target: Any, args: tuple, kwargs: dict, output: Any) -> None:
        """The call's backward cost, booked when autograd reaches its output."""
        outputs = [t for t in _tensors(output) if t.requires_grad and t.grad_fn is not None]
        if not outputs:
            return  # nothing of this call is differentiated
        with torch._C.DisableTorchFunction(), torch.no_grad():
            by_row: dict[Key, Cost] = {}
            self._cost_of(key, terms, target, args, kwargs, by_row)
        if not by_row:
            return

        def booked(_grad: Any) -> None:
            for row, cost in by_row.items():
                self.backward.setdefault(row, Cost()).add(cost)

        handle = torch.autograd.graph.register_multi_grad_hook(outputs, booked, mode="any")
        self._grad_handles.append(handle)

    def _cost_of(self, key: Key, terms: list, target: Any, args, kwargs, by_row: dict[Key, Cost]) -> None:
        for term in terms:
            if isinstance(term, Part):
                name = f"{key[0]}.{term.name}" if key[0] else term.name
                self._cost_of((name, term.type_name), list(term.terms), None, args, kwargs, by_row)
                continue
            cost = self._term_cost(term, target, args, kwargs)
            if cost is None:
                self.untracked.add(key)
                continue
            by_row.setdefault(key, Cost()).add(cost)

    def _term_cost(self, term: Any, target: Any, args: tuple, kwargs: dict) -> Cost | None:
        if isinstance(term, Synaptic):
            return self._synaptic(term, target, args, kwargs)
        if isinstance(term, Neuron):
            x = next(iter(_tensors(args)), None)
            module_reset = costs.reset_path(target) if isinstance(target, nn.Module) else True
            return costs.neuron_backward(
                updates=term.updates,
                neurons=term.neurons,
                leaky=term.leaky,
                reset=module_reset,
                state_words=term.state_words,
                input_grad=bool(x is not None and x.requires_grad),
            )
        if isinstance(term, Elementwise):
            outputs = term.ops if term.outputs is None else term.outputs
            grads = sum(x.numel() for x in term.operands if x.requires_grad)
            first = term.operands[0] if term.operands else None
            return costs.elementwise_backward(
                ops=term.ops, outputs=outputs, grad_elements=grads, per_image=_per_image(first, outputs)
            )
        if isinstance(term, Product):
            needs = tuple(True if x is None else bool(x.requires_grad) for x in (term.a, term.b))
            sizes = tuple(0 if x is None else x.numel() for x in (term.a, term.b))
            return costs.product_backward(
                pairs=term.dense_macs - term.bias_adds,
                bias_adds=term.bias_adds,
                grads=needs,  # type: ignore[arg-type]
                operands=sizes,  # type: ignore[arg-type]
                outputs=term.outputs or 0,
            )
        return None  # Fixed counts (custom hooks): no backward rule

    def _synaptic(self, t: Synaptic, target: Any, args: tuple, kwargs: dict) -> Cost:
        x = t.x
        weight, bias = _weight_and_bias(target, args, kwargs)
        weight_grad = bool(weight is not None and weight.requires_grad)
        bias_grad = bool(bias is not None and bias.requires_grad)
        pairs = t.dense_macs - t.bias_adds
        events = costs.event_flag(x, self.spike_mode)
        synops = costs.event_pairs(x, t.fanout) if weight_grad and x.numel() else 0.0
        in_per_image = t.in_per_image or max(x.numel(), 1)
        images = t.images or max(x.numel() / in_per_image, 1.0)
        outputs = t.outputs or 0
        return costs.synaptic_backward(
            pairs=pairs,
            bias_adds=t.bias_adds,
            events=events,
            synops=synops,
            weight_grad=weight_grad,
            bias_grad=bias_grad,
            input_grad=bool(x.requires_grad),
            params=(t.weights or 0) + t.bias,
            operand=x.numel(),
            outputs=outputs,
            weights=t.weights or 0,
            images=images,
            in_per_image=x.numel() / images,
            out_per_image=max(outputs / images, 1.0),
        )

    # -- saved tensors ----------------------------------------------------------------------------
    def _pack(self, tensor: Tensor) -> tuple:
        key = self.saving_key()
        if key is not None:
            self.saved_bytes += tensor.numel() * tensor.element_size()
        return (key, tensor)

    def _unpack(self, packed: tuple) -> Tensor:
        key, tensor = packed
        if key is not None and not isinstance(tensor, nn.Parameter):  # weights: read by the rules above
            per_image = tensor.numel() / tensor.shape[0] if tensor.dim() > 1 and tensor.shape[0] else tensor.numel()
            read = Cost(accesses=[Access("input_reads", tensor.numel(), per_image)])
            self.backward.setdefault(key, Cost()).add(read)
        return tensor

    # -- optimizer steps --------------------------------------------------------------------------
    def _step_pre(self, optimizer: Any, args: tuple, kwargs: dict) -> None:
        self._pending_update = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue  # torch skips a parameter without a gradient
                rule = update_rule(optimizer, group, optimizer.state.get(p, {}))
                key = self._param_rows.get(id(p), ("", type(self.model).__name__))
                self._pending_update.append((key, p.numel(), rule))

    def _step_post(self, optimizer: Any, args: tuple, kwargs: dict) -> None:
        for key, n, rule in self._pending_update:
            cost = Cost(
                acs=float(n * rule.acs), macs=float(n * rule.macs), dense_macs=float(n * (rule.acs + rule.macs))
            )
            cost.accesses += [
                Access("weight_reads", n, n),
                Access("state_reads", n * (1 + rule.state_reads), n),
                Access("state_writes", n * rule.state_writes, n),
                Access("output_writes", n, n),
            ]
            self.update.setdefault(key, Cost()).add(cost)
        self._pending_update = []
        self.steps += 1


class _BackwardOps(TorchFunctionMode):
    """Functional ops with a rule, called in the model's forward outside any module with a rule."""

    def __init__(self, recorder: TrainingRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rec = self.recorder
        if rec.suppress or not rec.stack or not torch.is_grad_enabled():
            return func(*args, **kwargs)
        try:
            rule = OP_RULES.get(func)
        except TypeError:  # an unhashable callable
            rule = None
        if rule is None:
            return func(*args, **kwargs)
        key = (rec.stack[-1].key[0], rule.name)
        terms = rec._terms(rule, func, args, kwargs, None) if rule.phase == "pre" else None
        outer, rec._op_key = rec._op_key, key
        try:
            out = func(*args, **kwargs)
        finally:
            rec._op_key = outer
        if terms is None:
            terms = rec._terms(rule, func, args, kwargs, out)
        with torch._C.DisableTorchFunction():
            rec._book_later(key, terms, func, args, kwargs, out)
        return out


def _remove_mode(mode: TorchFunctionMode) -> None:
    """Take ``mode`` off torch's function-mode stack wherever it is; the modes above it stay, in order."""
    above = []
    while torch._C._len_torch_function_stack() > 0:
        top = torch._C._pop_torch_function_stack()
        if top is mode:
            break
        above.append(top)
    for other in reversed(above):
        torch._C._push_on_torch_function_stack(other)


def _opens_children(frame: _Frame | None) -> bool:
    return frame is not None and frame.active and frame.rule is not None and frame.rule.children


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _weight_and_bias(target: Any, args: tuple, kwargs: dict) -> tuple[Tensor | None, Tensor | None]:
    """The weight and bias a synaptic call used: a module's own (a recurrent layer: any of its
    parameters), or a functional call's second and third arguments."""
    if isinstance(target, nn.Module):
        weight = getattr(target, "weight", None)
        bias = getattr(target, "bias", None)
        if isinstance(weight, Tensor):
            return weight, bias if isinstance(bias, Tensor) else None
        own = [p for p in target.parameters(recurse=False)]
        any_grad = next((p for p in own if p.requires_grad), None)
        return any_grad, any_grad
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    bias = args[2] if len(args) > 2 else kwargs.get("bias")
    return (weight if isinstance(weight, Tensor) else None), (bias if isinstance(bias, Tensor) else None)


def _per_image(x: Tensor | None, fallback: int) -> float:
    if x is None or x.dim() < 2 or not x.shape[0]:
        return float(max(fallback, 1))
    return x.numel() / x.shape[0]
