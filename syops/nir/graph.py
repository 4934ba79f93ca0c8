"""Running a NIR graph: the schedule of its nodes and the modules that step through it.

Every node runs once per time step, in an order where each edge goes forward, except the edges that
close a cycle (a recurrent connection): those carry the source's output of the previous step (nothing
at the first step), so recurrent feedback is one step late and the recurrent synapses run at every
step, the last included. Several edges into one node are summed (an elementwise add, counted like any
other, attributed to the graph that holds the node). A nested graph is a node that runs its own
schedule within the step.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import SyopsError
from ..validate import check_bytes
from .modules import OutputTooBig


@dataclass(frozen=True)
class Schedule:
    input: str
    output: str
    order: tuple[str, ...]  # every node but the Input, the Output last
    sources: Mapping[str, tuple[tuple[str, bool], ...]]  # node -> (source, recurrent) per incoming edge
    fed_back: tuple[str, ...]  # sources of recurrent edges: their outputs are kept for the next step


def schedule(name: str, kinds: Mapping[str, str], edges: Sequence[tuple[str, str]]) -> Schedule:
    """The schedule of a graph whose nodes have the NIR types ``kinds``; ``name`` (the graph's dotted
    name, "" at the top) is for messages."""
    where = f"NIR graph {name!r}" if name else "the NIR graph"
    inputs = [n for n, k in kinds.items() if k == "Input"]
    outputs = [n for n, k in kinds.items() if k == "Output"]
    if len(inputs) != 1:
        found = f"{len(inputs)} Input nodes ({', '.join(inputs)})" if inputs else "no Input node"
        raise SyopsError(f"{where} has {found}; syops runs graphs with exactly one Input")
    if len(outputs) != 1:
        found = f"{len(outputs)} Output nodes ({', '.join(outputs)})" if outputs else "no Output node"
        raise SyopsError(f"{where} has {found}; syops runs graphs with exactly one Output")
    successors: dict[str, list[str]] = {n: [] for n in kinds}
    for src, dst in edges:
        for end in (src, dst):
            if end not in kinds:
                raise SyopsError(f"{where} has an edge {src} -> {dst} to a node it does not have ({end!r})")
        if kinds[dst] == "Input" or kinds[src] == "Output":
            raise SyopsError(f"{where} has an edge {src} -> {dst} into its Input or out of its Output")
        successors[src].append(dst)

    # Depth-first from the Input; reverse post-order makes every edge but a back edge go forward.
    post: list[str] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack = [(inputs[0], iter(successors[inputs[0]]))]
    state[inputs[0]] = 1
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            state[node] = 2
            post.append(node)
        elif child not in state:
            state[child] = 1
            stack.append((child, iter(successors[child])))
    unreached = [n for n in kinds if n not in state]
    if unreached:
        raise SyopsError(f"{where}: no path from its Input to {', '.join(unreached)}")
    position = {n: i for i, n in enumerate(post[::-1])}
    sources: dict[str, list[tuple[str, bool]]] = {n: [] for n in kinds}
    for src, dst in edges:
        sources[dst].append((src, position[dst] <= position[src]))
    # Ties broken by first appearance in the edge list, which a .nir file keeps (its nodes come back
    # sorted by name), so a graph and its file list their layers alike.
    appearance = list(dict.fromkeys([inputs[0], *(end for edge in edges for end in edge), *kinds]))
    order = _in_declared_order(appearance, sources)
    if not any(not recurrent for _, recurrent in sources[outputs[0]]):
        raise SyopsError(f"{where}: its Output is reached only through a recurrent edge")
    fed_back = tuple(dict.fromkeys(src for srcs in sources.values() for src, rec in srcs if rec))
    order.remove(inputs[0])
    order.remove(outputs[0])
    order.append(outputs[0])
    return Schedule(inputs[0], outputs[0], tuple(order), {n: tuple(s) for n, s in sources.items()}, tuple(fed_back))


def _in_declared_order(names: list[str], sources: Mapping[str, list[tuple[str, bool]]]) -> list[str]:
    """A topological order of the forward edges that keeps the order of ``names`` where it can (so
    reports list layers as the graph declares them)."""
    index = {n: i for i, n in enumerate(names)}
    waiting = {n: sum(1 for _, rec in sources[n] if not rec) for n in names}
    users: dict[str, list[str]] = {n: [] for n in names}
    for dst, srcs in sources.items():
        for src, rec in srcs:
            if not rec:
                users[src].append(dst)
    ready = [(index[n], n) for n in names if waiting[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, node = heapq.heappop(ready)
        order.append(node)
        for user in users[node]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (index[user], user))
    return order


def _shape(value: Tensor) -> tuple[int, ...]:
    return tuple(value.shape[1:])


class GraphStep(nn.Module):
    """One time step of a NIR graph on ``[B, *shape]``: ``forward(x, state) -> (output, state)``.

    Its nodes are submodules under their NIR names exactly (dots included), so they are the layer names
    of a report: a node named like a module attribute (``forward``, ``training``) keeps its name, and the
    runner reaches its nodes through ``_modules``, never by attribute."""

    stateful = True

    def __init__(
        self, nodes: Mapping[str, nn.Module], plan: Schedule, input_shape: Sequence[int], name: str = ""
    ) -> None:
        super().__init__()
        self.plan = plan
        self.input_shape = tuple(int(s) for s in input_shape)
        self.graph_name = name
        self.expects: tuple[int, ...] | None = self.input_shape  # as a node of an enclosing graph
        self.declared_output: tuple[int, ...] | None = None  # the Output node's shape, where it has one
        # in the order they run (what a chain reader such as syops.dynapcnn walks), then any others
        ordered = [n for n in plan.order if n in nodes] + [n for n in nodes if n not in plan.order]
        for node in ordered:
            self._modules[node] = nodes[node]  # add_module would refuse the dots of NIR names (lif1.w_rec)

    # The nodes are never attributes: ``getattr(step, "training")`` or a probe such as
    # ``getattr(model, "operand_bits", 32)`` must not find a node of that name.
    def __getattr__(self, name: str) -> object:
        modules = self.__dict__.get("_modules", {})
        own = (self.__dict__.get("_parameters", {}), self.__dict__.get("_buffers", {}))
        if name in modules and not any(name in d for d in own):
            raise AttributeError(f"{type(self).__name__} keeps its NIR nodes in _modules (get_submodule({name!r}))")
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: object) -> None:
        # A plain attribute named like a node (``self.training = False`` in eval(), with a node
        # "training") is an attribute: nn.Module would refuse it, or drop the node for None.
        modules = self.__dict__.get("_modules")
        if modules is not None and name in modules and not isinstance(value, nn.Module):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def get_submodule(self, target: str) -> nn.Module:
        """The node (or a node of a nested graph) whose report row is ``target``: NIR names may hold dots."""
        if target in self._modules:
            return self._modules[target]
        if target == "":
            return self
        for name in sorted(self._modules, key=len, reverse=True):
            if target.startswith(name + "."):
                return self._modules[name].get_submodule(target[len(name) + 1 :])
        raise AttributeError(f"{self._where()} has no node {target!r}")

    def _where(self) -> str:
        return f"NIR graph {self.graph_name!r}" if self.graph_name else "the NIR graph"

    def _describe(self, node: str) -> str:
        return f"NIR node {self.graph_name + '.' if self.graph_name else ''}{node!r}"

    def _gather(self, node: str, outputs: dict[str, Tensor], previous: dict[str, Tensor]) -> Tensor:
        pairs = [(s, previous.get(s) if rec else outputs[s]) for s, rec in self.plan.sources[node]]
        pairs = [(s, v) for s, v in pairs if v is not None]  # a recurrent edge brings nothing at the first step
        if len({_shape(v) for _, v in pairs}) > 1:
            edges = ", ".join(f"{s} {list(_shape(v))}" for s, v in pairs)
            raise SyopsError(f"shape mismatch: {self._describe(node)} receives edges of different shapes: {edges}")
        total = pairs[0][1]
        for _, value in pairs[1:]:
            total = total + value
        return total

    def forward(self, x: Tensor, state: tuple[dict, dict] | None = None) -> tuple[Tensor, tuple[dict, dict]]:
        states, previous = state if state is not None else ({}, {})
        outputs: dict[str, Tensor] = {self.plan.input: x}
        new_states: dict[str, object] = {}
        for node in self.plan.order:
            value = self._gather(node, outputs, previous)
            if node == self.plan.output:
                if self.declared_output and _shape(value) != self.declared_output:
                    raise SyopsError(
                        f"the Output {node!r} of {self._where()} declares shape {list(self.declared_output)}, "
                        f"but the graph produces {list(_shape(value))} per sample"
                    )
                outputs[node] = value
                break
            module = self._modules[node]
            expects = getattr(module, "expects", None)
            if expects is not None and _shape(value) != expects:
                sources = ", ".join(s for s, _ in self.plan.sources[node])
                raise SyopsError(
                    f"shape mismatch: {self._describe(node)} ({type(module).__name__}) expects input of shape "
                    f"{list(expects)} per sample, got {list(_shape(value))} from {sources}"
                )
            try:
                if getattr(module, "stateful", False):
                    value, new_states[node] = module(value, states.get(node))
                else:
                    value = module(value)
            except OutputTooBig as exc:
                raise SyopsError(f"{self._describe(node)} ({type(module).__name__}): {exc}") from None
            except SyopsError:
                raise
            except Exception as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise SyopsError(
                    f"{self._describe(node)} ({type(module).__name__}) failed on input shape "
                    f"{list(_shape(value))} per sample: {type(exc).__name__}: {detail}"
                ) from exc
            outputs[node] = value
        return outputs[self.plan.output], (new_states, {s: outputs[s] for s in self.plan.fed_back})


class NIRGraphModule(GraphStep):
    """A NIR graph over time: ``forward(x)`` takes ``[T, B, *input shape]`` and returns
    ``[T, B, *output shape]``. Each call starts from rest (state 0), so batches are independent."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        if not isinstance(x, Tensor) or x.dim() != len(self.input_shape) + 2 or _shape(x)[1:] != self.input_shape:
            got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise SyopsError(
                f"the NIR graph's Input {self.plan.input!r} expects [T, B, {', '.join(map(str, self.input_shape))}] "
                f"(time, batch, then its shape {list(self.input_shape)}), got {got}"
            )
        out = getattr(self, "output_shape", None)  # known once to_torch has run its probe
        if out is not None:
            size = 2 * x.shape[0] * x.shape[1] * math.prod(out) * x.element_size()  # the steps and their stack
            check_bytes(f"the NIR graph's output [{x.shape[0]}, {x.shape[1]}, *{list(out)}]", size, x.device)
        state = None
        steps = []
        for t in range(x.shape[0]):
            y, state = super().forward(x[t], state)
            steps.append(y)
        return torch.stack(steps)
