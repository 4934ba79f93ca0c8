"""NIR graphs built in code for the tests, with dyadic parameters (every float operation exact), and for
each a simulation written from the reference discretisation (docs/nir.md) that tallies the counts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from nir_oracle import Oracle, fire

DT = 2.0**-10  # a time step in which every dt/τ below is a power of two

# nir <= 1.0.4 has no CubaLI: the node of later releases, with their fields.
CubaLI: Any = getattr(nir, "CubaLI", None)
if CubaLI is None:

    @dataclass(eq=False)
    class CubaLI(nir.NIRNode):  # type: ignore[no-redef]
        tau_syn: np.ndarray
        tau_mem: np.ndarray
        r: np.ndarray
        v_leak: np.ndarray
        w_in: np.ndarray = 1.0  # type: ignore[assignment]
        metadata: dict = field(default_factory=dict)


def dyadic(rng: np.random.Generator, *shape: int, denominator: int = 4, bound: int = 4) -> np.ndarray:
    return (rng.integers(-bound, bound + 1, size=shape) / denominator).astype(np.float32)


def full(shape, value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def t64(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def graph(nodes: dict, edges: list[tuple[str, str]]) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges)


def chain(*names: str) -> list[tuple[str, str]]:
    return list(itertools.pairwise(names))


# -- A: Affine + Linear merged into a LIF, Linear, IF, Scale, I, Threshold, LI -----------------------------


def feedforward(seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(np.array([8])),
        "fc": nir.Affine(dyadic(rng, 6, 8), dyadic(rng, 6)),
        "skip": nir.Linear(dyadic(rng, 6, 8)),
        "lif": nir.LIF(tau=full(6, 4 * DT), r=full(6, 2.0), v_leak=dyadic(rng, 6, bound=1), v_threshold=full(6, 0.5)),
        "proj": nir.Linear(dyadic(rng, 4, 6)),
        "if": nir.IF(r=full(4, 0.5), v_threshold=full(4, 1.0)),
        "scale": nir.Scale(np.array([1.0, 2.0, -1.0, 0.5], dtype=np.float32)),
        "integ": nir.I(r=full(4, 0.5)),
        "thr": nir.Threshold(full(4, 0.75)),
        "li": nir.LI(tau=full(4, 2 * DT), r=full(4, 1.0), v_leak=full(4, 0.0)),
        "output": nir.Output(np.array([4])),
    }
    edges = [("input", "fc"), ("input", "skip"), ("fc", "lif"), ("skip", "lif")]
    edges += chain("lif", "proj", "if", "scale", "integ", "thr", "li", "output")
    return graph(nodes, edges)


def simulate_feedforward(g: nir.NIRGraph, x: torch.Tensor) -> tuple[Oracle, torch.Tensor]:
    n = g.nodes
    o = Oracle(x.shape[1])
    v_lif = torch.zeros(x.shape[1], 6, dtype=torch.float64)
    v_if, v_i, v_li = (torch.zeros(x.shape[1], 4, dtype=torch.float64) for _ in range(3))
    outs = []
    for xt in x.double():
        a = o.linear("fc", xt, t64(n["fc"].weight), t64(n["fc"].bias))
        cur = o.add("+add", a, o.linear("skip", xt, t64(n["skip"].weight)))
        v_lif = v_lif + (1 / 4) * (t64(n["lif"].v_leak) - v_lif + 2.0 * cur)
        z1, v_lif = fire(v_lif, 0.5)
        o.neuron("lif", v_lif, True, z1)
        v_if = v_if + 0.5 * o.linear("proj", z1, t64(n["proj"].weight))
        z2, v_if = fire(v_if, 1.0)
        o.neuron("if", v_if, False, z2)
        o.elementwise("scale", z2, ops=z2.numel())
        v_i = v_i + 0.5 * (z2 * t64(n["scale"].scale))
        o.neuron("integ", v_i, False)
        o.elementwise("thr", v_i, ops=v_i.numel())
        v_li = v_li + (1 / 2) * (0.0 - v_li + (v_i > 0.75).double())
        o.neuron("li", v_li, True)
        outs.append(v_li)
    return o, torch.stack(outs)


FEEDFORWARD_ROWS = ["fc", "skip", ("", "add"), "lif", "proj", "if", "scale", "integ", "thr", "li"]


# -- B: Conv2d (groups, "same"), IF, SumPool2d with padding, Conv2d "valid", LIF, AvgPool2d, Flatten, Delay,
#       Threshold -------------------------------------------------------------------------------------------


def convolutional(seed: int = 1) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    delays = (np.arange(12) % 3).astype(np.float32) * DT
    nodes = {
        "input": nir.Input(np.array([2, 6, 6])),
        # input_shape an array: nir 1.0.4 fails on padding "same" with a tuple
        "conv_a": nir.Conv2d(np.array([6, 6]), dyadic(rng, 4, 1, 3, 3), 1, "same", 1, 2, dyadic(rng, 4)),
        "if_a": nir.IF(r=full((4, 6, 6), 1.0), v_threshold=full((4, 6, 6), 0.5)),
        "pool": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([1, 1])),
        "conv_b": nir.Conv2d((4, 4), dyadic(rng, 3, 4, 2, 2), 1, "valid", 1, 1, dyadic(rng, 3)),
        "lif_b": nir.LIF(
            tau=full((3, 3, 3), 2 * DT), r=full((3, 3, 3), 1.0), v_leak=full((3, 3, 3), 0.0),
            v_threshold=full((3, 3, 3), 0.5),
        ),
        "avg": nir.AvgPool2d(np.array([2, 2]), np.array([1, 1]), np.array([0, 0])),
        "flat": nir.Flatten({"input": np.array([3, 2, 2])}, 0),
        "delay": nir.Delay(delays),
        "thr": nir.Threshold(full(12, 0.125)),
        "output": nir.Output(np.array([12])),
    }  # fmt: skip
    return graph(nodes, chain(*nodes))


def simulate_convolutional(g: nir.NIRGraph, x: torch.Tensor) -> tuple[Oracle, torch.Tensor]:
    n = g.nodes
    b = x.shape[1]
    o = Oracle(b)
    v_a = torch.zeros(b, 4, 6, 6, dtype=torch.float64)
    v_b = torch.zeros(b, 3, 3, 3, dtype=torch.float64)
    history: list[torch.Tensor] = []
    steps = [i % 3 for i in range(12)]
    outs = []
    for xt in x.double():
        c = o.conv("conv_a", xt, t64(n["conv_a"].weight), t64(n["conv_a"].bias), padding="same", groups=2)
        v_a = v_a + c
        z_a, v_a = fire(v_a, 0.5)
        o.neuron("if_a", v_a, False, z_a)
        o.elementwise("pool", z_a, ops=z_a.numel())
        pooled = torch.nn.functional.avg_pool2d(z_a, 2, 2, padding=1, divisor_override=1)
        v_b = v_b + 0.5 * (0.0 - v_b + o.conv("conv_b", pooled, t64(n["conv_b"].weight), t64(n["conv_b"].bias)))
        z_b, v_b = fire(v_b, 0.5)
        o.neuron("lif_b", v_b, True, z_b)
        o.elementwise("avg", z_b, ops=z_b.numel())
        flat = ((z_b[..., :2, :2] + z_b[..., 1:, :2] + z_b[..., :2, 1:] + z_b[..., 1:, 1:]) / 4).reshape(b, 12)
        history.insert(0, flat)
        zero = torch.zeros(b, dtype=torch.float64)
        delayed = torch.stack([history[k][:, i] if k < len(history) else zero for i, k in enumerate(steps)], dim=1)
        o.elementwise("thr", delayed, ops=delayed.numel())
        outs.append((delayed > 0.125).double())
    return o, torch.stack(outs)


CONVOLUTIONAL_ROWS = ["conv_a", "if_a", "pool", "conv_b", "lif_b", "avg", "thr"]


# -- C: Conv1d (stride, padding), CubaLI, Flatten, Affine on its dense output, CubaLIF --------------------


def current_based(seed: int = 2) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(np.array([2, 10])),
        "conv": nir.Conv1d(10, dyadic(rng, 3, 2, 3), 2, 1, 1, 1, dyadic(rng, 3)),
        "cli": CubaLI(
            tau_syn=full((3, 5), 2 * DT), tau_mem=full((3, 5), 4 * DT), r=full((3, 5), 2.0),
            v_leak=full((3, 5), 0.25), w_in=full((3, 5), 0.5),
        ),
        "flat": nir.Flatten({"input": np.array([3, 5])}, 0),
        "fc": nir.Affine(dyadic(rng, 4, 15), dyadic(rng, 4)),
        "clif": nir.CubaLIF(
            tau_syn=full(4, 2 * DT), tau_mem=full(4, 2 * DT), r=full(4, 1.0), v_leak=full(4, 0.0),
            v_threshold=full(4, 0.5), w_in=full(4, 2.0),
        ),
        "output": nir.Output(np.array([4])),
    }  # fmt: skip
    return graph(nodes, chain(*nodes))


def simulate_current_based(g: nir.NIRGraph, x: torch.Tensor) -> tuple[Oracle, torch.Tensor]:
    n = g.nodes
    b = x.shape[1]
    o = Oracle(b)
    i1 = torch.zeros(b, 3, 5, dtype=torch.float64)
    v1 = torch.zeros_like(i1)
    i2 = torch.zeros(b, 4, dtype=torch.float64)
    v2 = torch.zeros_like(i2)
    outs = []
    for xt in x.double():
        c = o.conv("conv", xt, t64(n["conv"].weight), t64(n["conv"].bias), stride=2, padding=1)
        i1 = i1 + 0.5 * (0.5 * c - i1)
        v1 = v1 + 0.25 * (0.25 - v1 + 2.0 * i1)
        o.neuron("cli", v1, True)
        a = o.linear("fc", v1.reshape(b, 15), t64(n["fc"].weight), t64(n["fc"].bias))
        i2 = i2 + 0.5 * (2.0 * a - i2)
        v2 = v2 + 0.5 * (0.0 - v2 + i2)
        z, v2 = fire(v2, 0.5)
        o.neuron("clif", v2, True, z)
        outs.append(z)
    return o, torch.stack(outs)


CURRENT_BASED_ROWS = ["conv", "cli", "fc", "clif"]


# -- Recurrent: Affine → CubaLIF ⇄ Affine (lif1.w_rec), Affine → CubaLIF (the Braille network's shape) ---


def recurrent(seed: int = 3) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)

    def cuba(size: int, threshold: float) -> nir.CubaLIF:
        return nir.CubaLIF(
            tau_syn=full(size, 2 * DT), tau_mem=full(size, 4 * DT), r=full(size, 2.0), v_leak=full(size, 0.0),
            v_threshold=full(size, threshold), w_in=full(size, 2.0),
        )  # fmt: skip

    nodes = {
        "input": nir.Input(np.array([6])),
        "fc1": nir.Affine(dyadic(rng, 5, 6), dyadic(rng, 5, bound=1)),
        "lif1": cuba(5, 0.25),
        "lif1.w_rec": nir.Affine(dyadic(rng, 5, 5), dyadic(rng, 5, bound=1)),
        "fc2": nir.Affine(dyadic(rng, 3, 5), dyadic(rng, 3, bound=1)),
        "lif2": cuba(3, 0.25),
        "output": nir.Output(np.array([3])),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "lif1.w_rec"), ("lif1.w_rec", "lif1")]
    edges += chain("lif1", "fc2", "lif2", "output")
    return graph(nodes, edges)


def simulate_recurrent(g: nir.NIRGraph, x: torch.Tensor) -> tuple[Oracle, torch.Tensor]:
    n = g.nodes
    b = x.shape[1]
    o = Oracle(b)
    i1, v1 = torch.zeros(b, 5, dtype=torch.float64), torch.zeros(b, 5, dtype=torch.float64)
    i2, v2 = torch.zeros(b, 3, dtype=torch.float64), torch.zeros(b, 3, dtype=torch.float64)
    feedback = None
    outs = []
    for xt in x.double():
        cur = o.linear("fc1", xt, t64(n["fc1"].weight), t64(n["fc1"].bias))
        if feedback is not None:  # the recurrent edge brings the previous step's output
            cur = o.add("+add", cur, feedback)
        i1 = i1 + 0.5 * (2.0 * cur - i1)
        v1 = v1 + 0.25 * (0.0 - v1 + 2.0 * i1)
        z1, v1 = fire(v1, 0.25)
        o.neuron("lif1", v1, True, z1)
        feedback = o.linear("lif1.w_rec", z1, t64(n["lif1.w_rec"].weight), t64(n["lif1.w_rec"].bias))
        i2 = i2 + 0.5 * (2.0 * o.linear("fc2", z1, t64(n["fc2"].weight), t64(n["fc2"].bias)) - i2)
        v2 = v2 + 0.25 * (0.0 - v2 + 2.0 * i2)
        z2, v2 = fire(v2, 0.25)
        o.neuron("lif2", v2, True, z2)
        outs.append(z2)
    return o, torch.stack(outs)


RECURRENT_ROWS = ["fc1", ("", "add"), "lif1", "lif1.w_rec", "fc2", "lif2"]


# -- Nested: a subgraph (two synapses merged into a LIF) as one node ---------------------------------------


def nested(seed: int = 4) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    sub = graph(
        {
            "input": nir.Input(np.array([8])),
            "a": nir.Linear(dyadic(rng, 6, 8)),
            "b": nir.Affine(dyadic(rng, 6, 8), dyadic(rng, 6)),
            "lif": nir.LIF(tau=full(6, 2 * DT), r=full(6, 1.0), v_leak=full(6, 0.0), v_threshold=full(6, 0.5)),
            "output": nir.Output(np.array([6])),
        },
        [("input", "a"), ("input", "b"), ("a", "lif"), ("b", "lif"), ("lif", "output")],
    )
    nodes = {
        "input": nir.Input(np.array([8])),
        "sub": sub,
        "proj": nir.Linear(dyadic(rng, 4, 6)),
        "if": nir.IF(r=full(4, 1.0), v_threshold=full(4, 1.0)),
        "output": nir.Output(np.array([4])),
    }
    return graph(nodes, chain(*nodes))


def simulate_nested(g: nir.NIRGraph, x: torch.Tensor) -> tuple[Oracle, torch.Tensor]:
    s = g.nodes["sub"].nodes
    b = x.shape[1]
    o = Oracle(b)
    v1 = torch.zeros(b, 6, dtype=torch.float64)
    v2 = torch.zeros(b, 4, dtype=torch.float64)
    outs = []
    for xt in x.double():
        a = o.linear("sub.a", xt, t64(s["a"].weight))
        cur = o.add("sub+add", a, o.linear("sub.b", xt, t64(s["b"].weight), t64(s["b"].bias)))
        v1 = v1 + 0.5 * (0.0 - v1 + cur)
        z1, v1 = fire(v1, 0.5)
        o.neuron("sub.lif", v1, True, z1)
        v2 = v2 + o.linear("proj", z1, t64(g.nodes["proj"].weight))
        z2, v2 = fire(v2, 1.0)
        o.neuron("if", v2, False, z2)
        outs.append(z2)
    return o, torch.stack(outs)


NESTED_ROWS = ["sub.a", "sub.b", ("sub", "add"), "sub.lif", "proj", "if"]
