"""From a NIR graph to syops' runnable module: every node built with syops' own reference module from
its parameters (not nirtorch's defaults), the graph scheduled (syops.nir.graph), and the whole checked
by running two steps on zeros, so that a shape that does not match fails here, naming the node."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import SyopsError
from . import limits
from . import modules as m
from . import neurons as n
from . import rules as _rules  # noqa: F401  (registers the counting rules of the modules built here)
from .graph import GraphStep, NIRGraphModule, schedule

# The node parameters that are time constants: a node with any makes dt necessary.
TIME_CONSTANTS: dict[str, tuple[str, ...]] = {
    "LI": ("tau",),
    "LIF": ("tau",),
    "CubaLI": ("tau_syn", "tau_mem"),
    "CubaLIF": ("tau_syn", "tau_mem"),
    "Delay": ("delay",),
}


def _get(node: Any, name: str, default: Any = None) -> Any:
    return getattr(node, name, default)


def _declared_shape(node: Any, field: str, port: str, what: str) -> tuple[int, ...] | None:
    """An Input's, Output's or Flatten's shape: ``input_type["input"]`` (``output_type["output"]``) of a
    nir node; ``shape`` / ``input_type`` as a file stores them. Whole numbers >= 1, or refused."""
    declared = _get(node, field)
    shape = declared.get(port) if isinstance(declared, dict) else declared
    if shape is None:
        shape = _get(node, "shape")
    return None if shape is None else limits.shape(shape, what)


def _input_shape(node: Any, what: str = "NIR node") -> tuple[int, ...] | None:
    return _declared_shape(node, "input_type", "input", what)


def _affine(node: Any, dt: float | None) -> nn.Module:
    if np.ndim(node.weight) != 2:
        raise SyopsError(f"Affine weights of shape {np.shape(node.weight)} are not supported (expected (N_out, N_in))")
    return m.Affine(node.weight, node.bias)


def _linear(node: Any, dt: float | None) -> nn.Module:
    if np.ndim(node.weight) != 2:
        raise SyopsError(f"Linear weights of shape {np.shape(node.weight)} are not supported (expected (N_out, N_in))")
    return m.Linear(node.weight)


def _conv(cls: type) -> Callable[[Any, float | None], nn.Module]:
    def build(node: Any, dt: float | None) -> nn.Module:
        return cls(node.weight, _get(node, "bias"), node.stride, node.padding, node.dilation, node.groups)

    return build


def _pool(cls: type) -> Callable[[Any, float | None], nn.Module]:
    def build(node: Any, dt: float | None) -> nn.Module:
        return cls(node.kernel_size, node.stride, node.padding)

    return build


BUILDERS: dict[str, Callable[[Any, float | None], nn.Module]] = {
    "Affine": _affine,
    "Linear": _linear,
    "Conv1d": _conv(m.Conv1d),
    "Conv2d": _conv(m.Conv2d),
    "SumPool2d": _pool(m.SumPool2d),
    "AvgPool2d": _pool(m.AvgPool2d),
    "Flatten": lambda node, dt: m.Flatten(node.start_dim, node.end_dim, _input_shape(node, "its input_type")),
    "Scale": lambda node, dt: m.Scale(node.scale),
    "Threshold": lambda node, dt: m.Threshold(node.threshold),
    "Delay": lambda node, dt: m.Delay(node.delay, dt),
    "I": lambda node, dt: n.I(node.r),
    "IF": lambda node, dt: n.IF(node.r, node.v_threshold, _get(node, "v_reset")),
    "LI": lambda node, dt: n.LI(node.tau, node.r, node.v_leak, dt),
    "LIF": lambda node, dt: n.LIF(node.tau, node.r, node.v_leak, node.v_threshold, dt, _get(node, "v_reset")),
    "CubaLI": lambda node, dt: n.CubaLI(node.tau_syn, node.tau_mem, node.r, node.v_leak, dt, _get(node, "w_in", 1.0)),
    "CubaLIF": lambda node, dt: n.CubaLIF(
        node.tau_syn, node.tau_mem, node.r, node.v_leak, node.v_threshold, dt, _get(node, "w_in", 1.0),
        _get(node, "v_reset"),
    ),
}  # fmt: skip
PORTS = ("Input", "Output")
KNOWN = (*PORTS, "NIRGraph", *BUILDERS)


def kind(node: Any) -> str:
    """A node's NIR type: its class name (so the node classes of any nir release are read alike), or the
    type a file stores (syops.nir.io.StoredNode)."""
    return getattr(node, "nir_type", None) or type(node).__name__


def timed_nodes(graph: Any, prefix: str = "") -> list[str]:
    """The dotted names of the nodes that have a time constant (a Delay only when it delays)."""
    found = []
    for name, node in graph.nodes.items():
        if kind(node) == "NIRGraph":
            found += timed_nodes(node, f"{prefix}{name}.")
        elif kind(node) == "Delay":
            if np.any(np.asarray(node.delay) != 0):
                found.append(f"{prefix}{name}")
        elif kind(node) in TIME_CONSTANTS:
            found.append(f"{prefix}{name}")
    return found


def check_dt(graph: Any, dt: float | None) -> float | None:
    if dt is not None:
        if isinstance(dt, bool) or not isinstance(dt, numbers.Real) or not math.isfinite(dt) or dt <= 0:
            raise SyopsError(f"dt must be a positive number (the time step, in the graph's time unit), got {dt!r}")
        return float(dt)
    timed = timed_nodes(graph)
    if timed:
        shown = ", ".join(timed[:8]) + (f" and {len(timed) - 8} more" if len(timed) > 8 else "")
        raise SyopsError(
            f"the NIR graph has time constants (nodes {shown}) but no dt: give the time step, e.g. dt=1e-4 "
            "(--dt 1e-4), in the unit of its time constants"
        )
    return None


def _build(graph: Any, dt: float | None, name: str, top: bool, names: dict[str, str] | None = None) -> GraphStep:
    where_graph = "NIR graph " + repr(name) if name else "the NIR graph"
    names = {} if names is None else names  # every row name of the whole graph -> the node it names
    if name.count(".") >= limits.MAX_DEPTH:
        raise SyopsError(f"{where_graph} is nested more than {limits.MAX_DEPTH} graphs deep")
    kinds = {}
    for node_name, node in graph.nodes.items():
        k = kind(node)
        where = f"{name}.{node_name}" if name else node_name
        if k not in KNOWN:
            raise SyopsError(f"unknown NIR node type {k!r} (node {where!r}); syops runs {', '.join(KNOWN)}")
        if not isinstance(node_name, str):
            raise SyopsError(f"{where_graph} has a node named {node_name!r}, not a string")
        if k not in PORTS:
            _claim(names, where, f"{name}[{node_name!r}]" if name else repr(node_name))
        kinds[node_name] = k
    plan = schedule(name, kinds, limits.edges(graph.edges, where_graph))
    shape = _input_shape(graph.nodes[plan.input], f"the Input {plan.input!r} of {where_graph}")
    if shape is None:
        raise SyopsError(f"the Input {plan.input!r} of {where_graph} has no shape")
    built: dict[str, nn.Module] = {}
    for node_name, node in graph.nodes.items():
        k = kinds[node_name]
        where = f"{name}.{node_name}" if name else node_name
        if k in PORTS:
            continue
        if k == "NIRGraph":
            built[node_name] = _build(node, dt, where, top=False, names=names)
            continue
        limits.check_parameters(node, where)
        try:
            built[node_name] = BUILDERS[k](node, dt)
        except SyopsError as exc:
            raise SyopsError(f"NIR node {where!r} ({k}): {exc}") from None
        except Exception as exc:
            raise SyopsError(
                f"NIR node {where!r} ({k}) has parameters syops cannot use: {type(exc).__name__}: "
                + (str(exc).strip().splitlines() or [""])[0]
            ) from exc
    module = (NIRGraphModule if top else GraphStep)(built, plan, shape, name)
    output = graph.nodes[plan.output]
    what = f"the Output {plan.output!r} of {where_graph}"
    module.declared_output = _declared_shape(output, "output_type", "output", what)
    return module


def _claim(names: dict[str, str], row: str, node: str) -> None:
    """A report row carries its node's dotted name: two nodes with one row name (a node "a.b" beside a
    graph "a" holding "b"), or a top-level node named "" (the graph's own row), cannot be told apart."""
    if row == "":
        raise SyopsError("the NIR graph has a node named '' (the empty name): its row would be the graph's own")
    if row in names:
        raise SyopsError(f"NIR nodes {names[row]} and {node} would both be reported as {row!r}: rename one")
    names[row] = node


def to_torch(graph: Any, dt: float | None = None) -> NIRGraphModule:
    """The runnable module of ``graph`` (a ``nir.NIRGraph`` or the path of a ``.nir`` file): forward takes
    ``[T, B, *input shape]`` and returns ``[T, B, *output shape]``, one Euler step of ``dt`` per time step
    (the reference discretisation in syops.nir.neurons). ``dt`` is required when a node has a time
    constant."""
    from .io import read

    if not hasattr(graph, "nodes"):
        graph = read(graph)
    if kind(graph) != "NIRGraph":
        raise SyopsError(f"expected a nir.NIRGraph, got {kind(graph)}")
    dt = check_dt(graph, dt)
    module = _build(graph, dt, "", top=True)
    module.eval()
    # Two steps on zeros: every edge, recurrent ones included, checked against the node it reaches.
    limits.check_probe(module.input_shape, f"the NIR graph's Input {module.plan.input!r}")
    token = m.PROBE_COPIES.set(4)
    try:
        with torch.no_grad():
            y = module(torch.zeros(2, 1, *module.input_shape))
    finally:
        m.PROBE_COPIES.reset(token)
    module.output_shape = tuple(y.shape[2:])
    return module
