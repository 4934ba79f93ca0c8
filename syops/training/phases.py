"""The training phases priced: the recorder's counts read to the host once, divided by the samples, and
priced with the same energy and memory models as the forward pass.

A phase (``backward``, ``update``) carries the forward totals' keys: ``acs``, ``macs`` and their energy;
``dense_macs`` (the same work as MACs: every pair dense), ``synops`` (the backward's event-driven
weight-gradient accumulates), ``neuron_updates`` (neuron backward steps), ``params`` (the parameters the
update trained; the model's for the backward), ``memory`` (accesses by kind) and ``ann_energy_mj`` /
``ann_compute_energy_mj`` (None: the ANN baseline is an inference figure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..energy import EnergyModel
from ..memory import MemoryModel
from ..report import TOTAL_FIELDS
from ..traffic import ACCESS_KINDS
from .costs import Cost
from .optimizers import update_rule
from .recorder import Key, TrainingRecorder

PHASES = ("forward", "backward", "update")
# The totals' fields a phase sums over its rows (the ANN baseline and params are not sums of rows).
SUMMED = tuple(f for f in TOTAL_FIELDS if f not in ("params", "ann_energy_mj", "ann_compute_energy_mj", "memory"))


@dataclass
class HostCost:
    """A row's cost read to the host: ops and, per (kind, words), the accesses with reuse and without."""

    acs: float = 0.0
    macs: float = 0.0
    dense_macs: float = 0.0
    synops: float = 0.0
    neuron_steps: float = 0.0
    accesses: dict[tuple[str, float], list[float]] = field(default_factory=dict)


def read_costs(costs: dict[Key, Cost]) -> dict[Key, HostCost]:
    """Every device count of ``costs`` in one copy to the host."""
    pending: list[Tensor] = []

    def slot(value: Any) -> Any:
        if isinstance(value, Tensor):
            pending.append(value.detach().reshape(()).to(torch.float64))
            return len(pending) - 1, None
        return None, float(value)

    layout = []
    for key, cost in costs.items():
        items = [slot(cost.acs), slot(cost.macs), slot(cost.synops)]
        access = [
            (a.kind, a.words, slot(a.count), slot(a.count if a.count_noreuse is None else a.count_noreuse))
            for a in cost.accesses
        ]
        layout.append((key, cost, items, access))
    values: list[float] = []
    if pending:
        device = pending[0].device
        values = torch.stack([v.to(device) for v in pending]).tolist()

    def value(entry: tuple) -> float:
        index, constant = entry
        return values[index] if index is not None else constant

    out: dict[Key, HostCost] = {}
    for key, cost, (acs, macs, synops), access in layout:
        host = HostCost(value(acs), value(macs), cost.dense_macs, value(synops), cost.neuron_steps)
        for kind, words, ideal, noreuse in access:
            pair = host.accesses.setdefault((kind, float(words)), [0.0, 0.0])
            pair[0] += value(ideal)
            pair[1] += value(noreuse)
        out[key] = host
    return out


def price_row(
    host: HostCost | None, samples: int, energy: EnergyModel, memory: MemoryModel | None, params: int = 0
) -> dict[str, Any]:
    """One row of one phase, per sample, with the totals' keys."""
    host = host or HostCost()
    per = 1.0 / samples
    acs, macs = host.acs * per, host.macs * per
    compute = energy.layer_energy_mj(acs, macs, 0.0, 0.0, 0.0)  # plain ACs and MACs: no synaptic events
    accesses = None
    memory_mj = 0.0
    if memory is not None:
        accesses = dict.fromkeys(ACCESS_KINDS, 0.0)
        column = 1 if memory.dense_reuse == "none" else 0
        pj = 0.0
        for (kind, words), counts in host.accesses.items():
            count = counts[column] * per
            accesses[kind] += count
            pj += count * memory.access_pj(max(words, 1.0))
        memory_mj = pj * 1e-9
    return {
        "params": int(params),
        "dense_macs": host.dense_macs * per,
        "acs": acs,
        "macs": macs,
        "synops": host.synops * per,
        "neuron_updates": host.neuron_steps * per,
        "energy_mj": compute + memory_mj,
        "compute_energy_mj": compute,
        "memory_energy_mj": memory_mj,
        "ann_energy_mj": None,
        "ann_compute_energy_mj": None,
        "memory": accesses,
    }


def sum_rows(rows: list[dict[str, Any]], params: int, memory: MemoryModel | None) -> dict[str, Any]:
    """A phase's totals: the sums of its rows."""
    total: dict[str, Any] = {"params": int(params)}
    for name in SUMMED:
        total[name] = math.fsum(row[name] for row in rows)
    total["ann_energy_mj"] = total["ann_compute_energy_mj"] = None
    memories = [row["memory"] for row in rows if row["memory"] is not None]
    total["memory"] = None if memory is None else {k: math.fsum(m[k] for m in memories) for k in ACCESS_KINDS}
    return total


@dataclass
class TrainingFigures:
    """What a report carries of the training step: per row and in total, per sample."""

    backward: dict[Key, dict[str, Any]]
    update: dict[Key, dict[str, Any]]
    backward_total: dict[str, Any]
    update_total: dict[str, Any]
    saved_for_backward_bytes: float
    steps: int


def training_figures(
    recorder: TrainingRecorder,
    samples: int,
    energy: EnergyModel,
    memory: MemoryModel | None,
    params_by_row: dict[Key, int] | None = None,
) -> TrainingFigures:
    """The recorder's counts priced per sample. ``params_by_row``: the forward report's parameters per row
    (the backward's ``params``); the update's are the parameters it trained."""
    if samples <= 0:
        raise ValueError("no samples")
    params_by_row = params_by_row or {}
    backward_host = read_costs(recorder.backward)
    update_host = read_costs(recorder.update)
    trained: dict[Key, int] = {}
    for key, cost in recorder.update.items():
        trained[key] = int(sum(a.count for a in cost.accesses if a.kind == "output_writes") / max(recorder.steps, 1))
    keys = list(dict.fromkeys([*params_by_row, *backward_host, *update_host]))
    backward = {k: price_row(backward_host.get(k), samples, energy, memory, params_by_row.get(k, 0)) for k in keys}
    update = {k: price_row(update_host.get(k), samples, energy, memory, trained.get(k, 0)) for k in keys}
    return TrainingFigures(
        backward=backward,
        update=update,
        backward_total=sum_rows(list(backward.values()), sum(params_by_row.values()), memory),
        update_total=sum_rows(list(update.values()), sum(trained.values()), memory),
        saved_for_backward_bytes=recorder.saved_bytes / samples,
        steps=recorder.steps,
    )


def attach_to_report(report: Any, figures: TrainingFigures, optimizer: Any = None) -> None:
    """Put the training step on ``report``: ``phases`` (the forward is the report's own totals),
    ``training_energy_mj``, ``saved_for_backward_bytes``, and each layer's backward and update. A row the
    forward report lacks (the backward of a tensor saved outside any counted module) is added with zero
    forward counts."""
    from ..report import LayerStats

    rows = {(layer.name, layer.type): layer for layer in report.layers}
    for key in figures.backward:
        if key not in rows:
            layer = LayerStats(key[0], key[1], 0, 0, 0.0, 0.0, 0.0, 0.0, None, None, None, 0.0)
            if report.memory_model is not None:
                layer.memory = dict.fromkeys(ACCESS_KINDS, 0.0)
            report.layers.append(layer)
            rows[key] = layer
    for key, layer in rows.items():
        params = layer.params
        layer.phases = {
            "backward": {
                **figures.backward.get(key, price_row(None, 1, report.energy_model, report.memory_model)),
                "params": params,
            },
            "update": figures.update.get(key) or price_row(None, 1, report.energy_model, report.memory_model),
        }
    forward = report.totals
    report.phases = {"forward": forward, "backward": figures.backward_total, "update": figures.update_total}
    report.training_energy_mj = (
        forward["energy_mj"] + figures.backward_total["energy_mj"] + figures.update_total["energy_mj"]
    )
    report.saved_for_backward_bytes = figures.saved_for_backward_bytes
    report.counting = {**report.counting, "training": _describe(optimizer, figures.steps)}


def _describe(optimizer: Any, steps: int) -> dict[str, Any]:
    if optimizer is None:
        return {"optimizer": None, "steps": 0}
    group = optimizer.param_groups[0]
    rule = update_rule(optimizer, group, {"momentum_buffer": True})
    shown = ("lr", "momentum", "dampening", "nesterov", "weight_decay", "betas", "eps", "amsgrad", "maximize")
    settings = ", ".join(f"{k}={group[k]}" for k in shown if k in group)
    return {"optimizer": f"{type(optimizer).__name__}({settings})", "source": rule.source, "steps": steps}


def methods_sentence(report: Any) -> str:
    """The training step's conventions and figures, for ``Report.methods()``; empty for inference."""
    if report.phases is None:
        return ""
    training = report.counting.get("training", {})
    phases = report.phases
    if training.get("optimizer"):
        steps = training["steps"]
        update = (
            f"the update of each parameter element costs the operations of torch's reference implementation "
            f"of {training['optimizer']} ({training['source']}; a multiply-add, multiply, division or square root "
            f"as a MAC, an addition, comparison or negation as an AC), over {steps} step{'s' if steps != 1 else ''}, "
            "divided by the samples trained on"
        )
    else:
        update = "no optimizer step was counted"
    return (
        "The training step was counted beside the forward pass, per sample. In the backward pass a synaptic "
        "layer's weight-and-bias gradient costs what its forward cost (one AC per (event, output, weight) pair "
        "and per bias add on an event input, one MAC on a dense one), its input's gradient, where autograd "
        "computes one, one MAC per (input, output, weight) pair; a spiking neuron per step a MAC for the "
        "surrogate derivative, a MAC (leaky) or an AC (integrator) for the membrane recurrence and a MAC for "
        "the reset path unless its framework detaches it; every other op its forward's dense count, as MACs; "
        "backward memory reads the incoming gradient and each tensor autograd saved once, the weights an input "
        f"gradient uses, and read-modify-writes the gradient accumulators; {update}. The step costs "
        f"{_mj(report.training_energy_mj)} per sample (forward {_mj(phases['forward']['energy_mj'])}, backward "
        f"{_mj(phases['backward']['energy_mj'])}, update {_mj(phases['update']['energy_mj'])}); autograd saved "
        f"{report.saved_for_backward_bytes:,.0f} bytes per sample for backward in the model's forward (each save "
        "counted, measured with torch's saved-tensor hooks)."
    )


def _mj(value: float) -> str:
    return f"{value:.4g} mJ"
