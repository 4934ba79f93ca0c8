"""The counting engine: attach counters to a model, run inputs through it, collect, detach.

Module rules run from forward hooks; functional ops (a residual ``+``, ``F.conv2d``, ``matmul``...) are
seen through a ``TorchFunctionMode`` and attributed to the innermost module that is running. Inside a
counted module nothing else is counted, so no operation is counted twice. ``CountingSession`` is a
context manager: whatever happens inside, the model leaves it exactly as it came in.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from . import custom, frameworks
from .accumulate import Counts, Evaluator, RowAccumulator
from .callstack import CallStack, Kind, ModuleInfo
from .errors import CountingError, SyopsError, UnbatchedInputError
from .events import SpikeMode
from .fanout import FanoutCache
from .hookset import HookSet
from .inputs import Batch, model_device_dtype
from .memory import MemoryModel
from .rules import Rule, RuleContext, find_module_rule
from .rules.reshape import FREE_OP_NAMES
from .runtime import OpCounter, eval_modules, paused_gc
from .state import ModelSnapshot
from .terms import Neuron, Part
from .timing import DeclaredNeuron, SeenNeuron, declared_neurons
from .tree import ModuleTree, has_children, named_children


class ForwardError(SyopsError):
    """The model's forward pass raised while profiling; the message names the layer and its input."""


@dataclass
class Row:
    """A row of results: a counted module, or an op attributed to a module."""

    name: str
    type_name: str
    info: ModuleInfo | None
    is_op: bool
    acc: RowAccumulator
    params: tuple[Tensor, ...] = ()  # a part's own parameters (see ``syops.terms.Part``)


def _shape_of(args: Any) -> str:
    for value in args if isinstance(args, (tuple, list)) else (args,):
        if isinstance(value, Tensor):
            return str(list(value.shape))
    return "(no tensor input)"


class CountingSession(CallStack):
    """Attach → run → collect → detach, as a context manager."""

    def __init__(
        self,
        model: nn.Module,
        *,
        spike_mode: SpikeMode = "integer",
        skip_zero_weights: bool = False,
        ignore_modules: Sequence[type] = (),
        custom_rules: Mapping[type, Rule] | None = None,
        tree: ModuleTree | None = None,
        follow: bool = False,
    ) -> None:
        # follow (syops.Profiler): the model is not snapshot, put in eval mode, reset or run here
        super().__init__(follow)
        self.model = model
        # The walk of the model's tree this profile has made (syops.tree), used up to the attach and then
        # dropped: the model as it runs is walked afresh.
        self._tree = tree
        self.device, _ = model_device_dtype(model, tree)
        self.evaluator = Evaluator(self.device, spike_mode)
        self.spike_mode = spike_mode
        self.ctx = RuleContext(skip_zero_weights=skip_zero_weights, fanouts=FanoutCache())
        self.ignore_modules = tuple(ignore_modules)
        self.custom_rules = dict(custom_rules or {})
        self.rows: dict[tuple[str, str], Row] = {}
        self.root: ModuleInfo | None = None
        self.adapters: list[ModuleType] = []
        self._hooks = HookSet()
        self._snapshot: ModelSnapshot | None = None
        self._fastpath: bool | None = None
        self._raw_input_flag: Tensor | None = None
        self.unsupported: list[str] = []
        self.nonfinite: list[str] = []  # modules with a NaN or infinite parameter (read at collect)
        self.parameter_sizes: dict[int, int] = {}
        self.declared: list[DeclaredNeuron] = []  # the neuron layers and the layout each states
        self.seen: list[SeenNeuron] | None = None  # what the neurons saw in the call being observed
        self._custom_resets: list[nn.Module] = []  # modules of registered neurons with a reset (syops.custom)

    # -- attach / detach --------------------------------------------------------------------------
    def __enter__(self) -> CountingSession:
        with paused_gc():
            return self._enter()

    def _enter(self) -> CountingSession:
        tree = self._tree if self._tree is not None else ModuleTree(self.model)
        self._tree = None
        # Following the user's code, the model and its state are theirs: nothing is snapshot or switched.
        self._snapshot = None if self.follow else ModelSnapshot(self.model, tree.modules)
        try:
            self.adapters = frameworks.adapters_for(self.model, tree.modules)
            if not self.follow:
                eval_modules(self.model, tree.modules)
            self._classify_modules(tree.named)
            self._attach()
            if hasattr(torch.backends, "mha"):
                # The fused MultiheadAttention fast path runs as one op and hides the projections.
                self._fastpath = torch.backends.mha.get_fastpath_enabled()
                torch.backends.mha.set_fastpath_enabled(False)
            self._mode = OpCounter(self)
            if not self.follow:
                self._resume_ops()  # following, the mode is on only while a call of the model runs
        except BaseException:
            self._detach()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        with paused_gc():
            self._detach()

    def _detach(self) -> None:
        if self._mode is not None:
            self._suspend_ops()
            self._mode = None
        self._hooks.remove()
        if self._fastpath is not None:
            torch.backends.mha.set_fastpath_enabled(self._fastpath)
            self._fastpath = None
        if self._snapshot is not None:
            self._snapshot.restore()
            self._snapshot = None
        self.running = False

    def _classify_modules(self, named: list[tuple[str, nn.Module]]) -> None:
        extra = self.custom_rules or None
        for name, module in named:
            rule = find_module_rule(module, extra)
            if self.ignore_modules and isinstance(module, self.ignore_modules):
                kind: Kind | None = "ignored"
            elif rule is None:
                kind = None
            elif rule.zero_cost:
                kind = "zero"
            else:
                kind = "counted"
            info = ModuleInfo(
                name, type(module).__name__, module, rule, kind, kind is None and not has_children(module)
            )
            self.infos[id(module)] = info
            if custom.RESETS and type(module) in custom.RESETS:
                self._custom_resets.append(module)
            if kind == "counted" and rule.layout is not None:
                self.declared.extend(declared_neurons([(name, module)], lambda _, rule=rule: rule))
                info.layout = self.declared[-1].layout
            if module is self.model:
                self.root = info

    def _hooked_modules(self) -> list[ModuleInfo]:
        """The modules whose calls matter. A descendant of a counted (or ignored, or zero-cost) module can
        never count anything (unless the rule lets its children count themselves), so it gets no hooks;
        a module used in several places keeps them."""
        uses: dict[int, int] = {}
        for _, module in self.model.named_modules(remove_duplicate=False):
            uses[id(module)] = uses.get(id(module), 0) + 1
        keep: dict[int, ModuleInfo] = {}
        # Depth first, children in order; a stack, not a recursive closure (a closure that calls itself is
        # a reference cycle holding the session: only the cyclic collector would free it).
        pending: list[tuple[nn.Module, bool]] = [(self.model, False)]
        while pending:
            module, sealed = pending.pop()
            info = self.infos[id(module)]
            if not sealed or uses[id(module)] > 1:
                keep.setdefault(id(module), info)
            opens = info.kind == "counted" and info.rule is not None and info.rule.children
            seal = sealed or (info.kind is not None and not opens)
            pending.extend((child, seal) for _, child in reversed(named_children(module)))
        return list(keep.values())

    def _attach(self) -> None:
        pre, post, unwind = self._pre_hook(), self._post_hook(), self._unwind_hook()  # shared by every module
        for info in self._hooked_modules():
            self._hooks.add(info.module, pre, post, unwind)

    def saw_uncounted_op(self, info: ModuleInfo, func: Any) -> None:
        """A torch function with no op rule ran directly in a module without a rule. Unless it is known
        to do no arithmetic (a reshape, a view, metadata), the module may hold arithmetic syops missed:
        ``Report.unsupported`` lists its type. (A module whose work is all counted through its children
        and its ops, or that does nothing, is not listed.)"""
        if info.type_name in self.unsupported or getattr(func, "__name__", None) in FREE_OP_NAMES:
            return
        self.unsupported.append(info.type_name)
        self.uncounted_classes.setdefault(type(info.module), info.name)

    def info_named(self, name: str) -> ModuleInfo | None:
        return next((info for info in self.infos.values() if info.name == name), None)

    # -- counting ---------------------------------------------------------------------------------
    def _module_starts(self, info: ModuleInfo, module: nn.Module, args: tuple, kwargs: dict) -> None:
        row = self._row_for_module(info)
        row.acc.calls += 1
        if info.kind == "counted" and info.rule.phase == "pre":
            self._evaluate(info, row, info.rule, module, args, kwargs, None)

    def _module_returns(self, info: ModuleInfo, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if info.kind == "counted" and info.rule.phase == "post":
            self._evaluate(info, self._row_for_module(info), info.rule, module, args, kwargs, output)

    def _row_for_module(self, info: ModuleInfo) -> Row:
        key = (info.name, info.type_name)
        row = self.rows.get(key)
        if row is None:
            row = Row(info.name, info.type_name, info, False, RowAccumulator())
            self.rows[key] = row
        return row

    def _row_for_part(self, info: ModuleInfo, part: Part) -> Row:
        name = f"{info.name}.{part.name}" if info.name else part.name
        key = (name, part.type_name)
        row = self.rows.get(key)
        if row is None:
            row = Row(name, part.type_name, None, False, RowAccumulator(), part.params)
            self.rows[key] = row
        return row

    def _evaluate(self, info: ModuleInfo, row: Row, rule: Rule, target: Any, args, kwargs, output) -> None:
        # Counting is never part of the user's autograd graph (following a training step, grad is on); an
        # inference under no_grad needs no second context.
        with torch._C.DisableTorchFunction(), torch.no_grad() if torch.is_grad_enabled() else _NO_CONTEXT:
            try:
                terms = list(rule.fn(target, args, kwargs, output, self.ctx))
                if self.seen is not None and info.layout is not None:
                    # (a term in another layout, a few-spike neuron's phases, says nothing of the steps)
                    self.seen.extend(
                        SeenNeuron(row.name, row.type_name, t.layout, t.lead)
                        for t in terms
                        if isinstance(t, Neuron) and t.layout == info.layout
                    )
                parts = [t for t in terms if isinstance(t, Part)]
                if parts:
                    terms = [t for t in terms if not isinstance(t, Part)]
                self.evaluator.add(row.acc, terms)
                for part in parts:
                    sub = self._row_for_part(info, part)
                    sub.acc.calls += 1
                    self.evaluator.add(sub.acc, part.terms)
            except UnbatchedInputError as exc:
                raise UnbatchedInputError(f"{row.type_name} {info.name or '(model)'} {exc}") from None
            except SyopsError:
                raise
            except RecursionError:
                raise  # the forward recursed without end: a forward error, not a counting one
            except Exception as exc:
                where = info.name or "(model)"
                detail = f"{type(exc).__name__}: {_first_line(exc)}"
                raise CountingError(
                    f"counting {row.type_name} in {where} failed on input {_shape_of(args)}: {detail}"
                ) from exc

    def count_op(self, owner: ModuleInfo, rule: Rule, func: Any, args, kwargs, out) -> None:
        key = (owner.name, rule.name)
        row = self.rows.get(key)
        if row is None:
            row = Row(owner.name, rule.name, owner, True, RowAccumulator())
            self.rows[key] = row
        row.acc.calls += 1
        self._evaluate(owner, row, rule, func, args, kwargs, out)

    # -- running ----------------------------------------------------------------------------------
    def run(self, batch: Batch, timesteps: int = 1) -> Any:
        """One batch through the model (T calls for the loop layout), neurons reset first. ``timesteps``
        (of the samples the batch holds) tells how many images an activation tensor holds."""
        self._suspend_ops()  # the resets and checks are not the model's counted work: no mode on their ops
        frameworks.reset_states(self.model, self.adapters)
        if self._custom_resets:
            custom.reset_custom(self._custom_resets)
        self.evaluator.new_batch(batch.samples, timesteps)
        self.check_model_input(next((a for a in (*batch.args, *batch.kwargs.values()) if isinstance(a, Tensor)), None))
        calls = batch.steps if batch.steps is not None else [(batch.args, batch.kwargs)]
        output = None
        self._raised_in = None
        self.running = True
        self._resume_ops()
        try:
            with torch.no_grad(), paused_gc():
                for step, (args, kwargs) in enumerate(calls):
                    if batch.steps is not None:  # one call per time step: a single-step neuron's step
                        self.evaluator.step = step
                    output = self.model(*args, **kwargs)
        except SyopsError:
            raise
        except Exception as exc:
            raise self._forward_error(exc) from exc
        finally:
            self.running = False
            while self.stack:  # frames a raising forward left (innermost first, as they were entered)
                self._leave()
            self.suppress = 0
            self._resume_ops()
        return output

    def _forward_error(self, exc: Exception) -> ForwardError:
        frame = self._raised_in or (self.stack[-1] if self.stack else None)  # innermost running module
        if isinstance(exc, RecursionError):
            where = f" (last in {frame.info.name or '(model)'})" if frame is not None else ""
            return ForwardError(f"the model's forward pass recursed without end{where}: RecursionError: {exc}")
        if frame is not None:
            where = f"{frame.info.name or '(model)'} ({frame.info.type_name})"
            return ForwardError(
                f"the model's forward pass failed in {where} on input shape {_shape_of(frame.args)}: "
                f"{type(exc).__name__}: {_first_line(exc)}"
            )
        return ForwardError(f"the model's forward pass failed: {type(exc).__name__}: {_first_line(exc)}")

    def check_model_input(self, primary: Tensor | None) -> None:
        """Flag (on device) an integer input beyond {-1, 0, 1}: counted as events, maybe by surprise."""
        if self.spike_mode != "integer":
            return
        if primary is None or primary.numel() == 0 or primary.dtype == torch.bool:
            return
        with torch._C.DisableTorchFunction():
            off = self.evaluator.scan_input(primary)
            if off is not None and self.evaluator.early and off.item() != 0:
                return  # dense (a CPU reads the check for free): no events, raw or not
            low, high = torch.aminmax(primary)
            flag = (high > 1) | (low < -1)
            if off is not None:  # None: an integer dtype, events by definition
                flag = flag & (off == 0)
            self._raw_input_flag = flag if self._raw_input_flag is None else (self._raw_input_flag | flag)

    # -- collecting -------------------------------------------------------------------------------
    def collect(self, memory: MemoryModel | None = None) -> tuple[list[tuple[Row, Counts]], bool, bool]:
        """Every row with its host counts and the memory traffic ``memory`` prices (one device-to-host
        copy); whether the model input looked like raw integer values counted as events; whether a float32
        column sum may have rounded."""
        rows = list(self.rows.values())
        # Outside the op-counting mode and the parameters' guard: nothing here is the model's work.
        with torch._C.DisableTorchFunction(), paused_gc():
            # Parameter sizes while the model is as it ran (a lazy module is uninitialised again after).
            # (Of the modules classified on entry: a module a forward creates is gone after restore.)
            self.parameter_sizes = {
                id(p): p.numel()
                for info in self.infos.values()
                for p in info.module._parameters.values()
                if p is not None
            }
            extra = [self._raw_input_flag] if self._raw_input_flag is not None else []
            # A NaN or infinite weight makes every spike count after it meaningless (a NaN membrane never
            # crosses a threshold): one flag per module, read in the same transfer.
            checked = [
                (info.name or "(model)", [p for p in info.module._parameters.values() if _checkable(p)])
                for info in self.infos.values()
            ]
            checked = [(name, params) for name, params in checked if params]
            # A sum is NaN or infinite when a value is (one cheap read); a finite sum that overflowed is told
            # apart on the host, for the rare module whose sum is not finite.
            sums = [torch.stack([p.detach().sum() for p in params]).sum() for _, params in checked]
            counts, extras, inexact = self.evaluator.read_all((r.acc for r in rows), [*extra, *sums], memory)
            raw_input = bool(extras[0]) if extra else False
            self.nonfinite = [
                name
                for (name, params), total in zip(checked, extras[len(extra) :], strict=True)
                if not math.isfinite(total) and not all(bool(torch.isfinite(p).all()) for p in params)
            ]
        return list(zip(rows, counts, strict=True)), raw_input, inexact


_NO_CONTEXT = contextlib.nullcontext()


def _checkable(p: Tensor | None) -> bool:
    return (
        p is not None
        and p.is_floating_point()
        and not isinstance(p, nn.parameter.UninitializedTensorMixin)
        and p.numel() > 0
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
