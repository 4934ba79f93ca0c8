"""From a counting session's host counts to a per-sample ``Report``: each row's parameters (each parameter
counted once), its figures per sample and their energy under the energy and memory models."""

from __future__ import annotations

from torch import nn

from .accumulate import Counts
from .energy import EnergyModel
from .engine import CountingSession, Row
from .errors import SyopsError
from .memory import MemoryModel
from .report import LayerStats, Report
from .reprice import kept_counts
from .traffic import ACCESS_KINDS
from .tree import has_children

UNTRACKED_NOTE = "memory traffic is not counted for rules that give no memory geometry (custom rules or hooks): "


def _size(p: nn.Parameter, sizes: dict[int, int]) -> int:
    """A parameter's size as it was when the model ran (a lazy one that never ran has none)."""
    if id(p) in sizes:
        return sizes[id(p)]
    return 0 if isinstance(p, nn.parameter.UninitializedTensorMixin) else p.numel()


def _parameters_of(module: nn.Module, recurse: bool = True) -> list[nn.Parameter]:
    """``list(module.parameters(recurse))``, without torch's generators where the module has no children
    (most rows): its own parameters, each once."""
    if recurse and has_children(module):
        return list(module.parameters())
    own = [p for p in module._parameters.values() if p is not None]
    return own if len(own) < 2 else list({id(p): p for p in own}.values())


def _params_by_row(rows: list[Row], sizes: dict[int, int]) -> tuple[dict[int, int], set[int], dict[str, int]]:
    """Parameters of the modules that have rows, each parameter counted once (by the outermost counted,
    ignored or zero-cost module holding it). Returns params per row index, the ids of the parameters
    assigned, and the first row index of every name."""
    assigned: set[int] = set()
    by_row: dict[int, int] = {}
    first_row_of: dict[str, int] = {}
    for index, row in enumerate(rows):  # a part's parameters first: they leave their module's row
        fresh = [p for p in row.params if id(p) not in assigned]
        assigned.update(id(p) for p in fresh)
        if row.params:
            by_row[index] = sum(p.numel() for p in fresh)
    for index, row in enumerate(rows):
        first_row_of.setdefault(row.name, index)
        if not row.is_op and row.info is not None and row.info.kind is not None:
            # A rule whose child modules count themselves (a neuron's recurrent Linear) leaves their
            # parameters to their own rows.
            own_only = row.info.rule is not None and row.info.rule.children
            total = 0
            for p in _parameters_of(row.info.module, recurse=not own_only):
                if id(p) not in assigned:
                    assigned.add(id(p))
                    total += _size(p, sizes)
            by_row[index] = total
    return by_row, assigned, first_row_of


def build_report(
    model: nn.Module,
    session: CountingSession,
    results: list[tuple[Row, Counts]],
    *,
    samples: int,
    sample_shape: list[int],
    timesteps: int,
    energy_model: EnergyModel,
    count_neuron_updates: bool,
    notes: list[str],
    memory_model: MemoryModel | None = None,
    model_name: str | None = None,
) -> Report:
    if samples <= 0:
        raise SyopsError("no samples were profiled")
    rows = [row for row, _ in results]
    counts = [c for _, c in results]
    sizes = session.parameter_sizes
    params, assigned, first_row_of = _params_by_row(rows, sizes)

    # Counted modules that never ran still own their parameters (a dead branch, an unused head).
    has_row = {(row.name, row.type_name) for row in rows if not row.is_op}
    for info in session.infos.values():
        ran = (info.name, info.type_name) in has_row
        if info.kind is None or ran or all(id(p) in assigned for p in _parameters_of(info.module)):
            continue
        rows.append(Row(info.name, info.type_name, info, False, None))  # type: ignore[arg-type]
        counts.append(Counts())
        index = len(rows) - 1
        first_row_of.setdefault(info.name, index)
        params[index] = 0
        for p in _parameters_of(info.module):
            if id(p) not in assigned:
                assigned.add(id(p))
                params[index] += _size(p, sizes)
    # Parameters outside every counted module belong to the module that holds them.
    for info in session.infos.values():
        own = [p for p in _parameters_of(info.module, recurse=False) if id(p) not in assigned]
        if not own:
            continue
        index = first_row_of.get(info.name)
        if index is None:
            rows.append(Row(info.name, info.type_name, info, False, None))  # type: ignore[arg-type]
            counts.append(Counts())
            index = len(rows) - 1
            first_row_of[info.name] = index
        for p in own:
            assigned.add(id(p))
            params[index] = params.get(index, 0) + _size(p, sizes)

    layers: list[LayerStats] = []
    for index, (row, c) in enumerate(zip(rows, counts, strict=True)):
        is_zero_cost = (not row.is_op) and row.info is not None and row.info.kind == "zero"
        if is_zero_cost and not params.get(index):
            continue
        layers.append(
            _layer_stats(
                row, c, params.get(index, 0), samples, timesteps, energy_model, memory_model, count_neuron_updates
            )
        )
    untracked = sorted(
        {
            f"{c_row.name or '(model)'} ({c_row.type_name})"
            for c_row, c in zip(rows, counts, strict=True)
            if memory_model is not None and c.untracked_calls
        }
    )
    if untracked:
        notes = [*notes, UNTRACKED_NOTE + ", ".join(untracked)]

    return Report(
        model=model_name or type(model).__name__,
        input_shape=list(sample_shape),
        timesteps=timesteps,
        samples=samples,
        energy_model=energy_model,
        memory_model=memory_model,
        layers=layers,
        count_neuron_updates=count_neuron_updates,
        notes=notes,
        unsupported=list(session.unsupported),
    )


def _layer_stats(
    row: Row,
    c: Counts,
    params: int,
    samples: int,
    timesteps: int,
    energy_model: EnergyModel,
    memory_model: MemoryModel | None,
    count_neuron_updates: bool,
) -> LayerStats:
    per = 1.0 / samples
    nu = c.neuron_updates * per
    nu_macs = c.neuron_update_macs * per
    nu_acs = nu - nu_macs
    acs = c.acs * per + (nu_acs if count_neuron_updates else 0.0)
    macs = c.macs * per + (nu_macs if count_neuron_updates else 0.0)
    synops = c.synops * per
    counted_nu_acs = nu_acs if count_neuron_updates else 0.0
    counted_nu_macs = nu_macs if count_neuron_updates else 0.0
    compute_mj = energy_model.layer_energy_mj(
        acs, macs, synops, counted_nu_acs, counted_nu_macs, dense_macs=c.dense_macs * per, timesteps=timesteps
    )
    memory = memory_by_kind = None
    memory_mj = ann_memory_mj = 0.0
    if memory_model is not None:
        memory = {kind: getattr(c, kind) * per for kind in ACCESS_KINDS}
        memory_by_kind = {kind: getattr(c, f"{kind}_pj") * per * 1e-9 for kind in ACCESS_KINDS}
        memory_mj = c.memory_pj * per * 1e-9
        ann_memory_mj = c.ann_memory_pj * per / timesteps * 1e-9  # the ANN runs once, not T times
    return LayerStats(
        name=row.name,
        type=row.type_name,
        params=int(params),
        calls=int(c.calls),
        dense_macs=c.dense_macs * per,
        acs=acs,
        macs=macs,
        synops=synops,
        input_event_rate=(c.in_events / c.in_event_elems) if c.in_event_elems > 0 else None,
        neurons=c.neurons,
        output_spike_rate=(c.spikes / c.neuron_updates) if c.neuron_updates > 0 else None,
        spike_rate_per_step=_per_step_rates(c),
        energy_mj=compute_mj + memory_mj,
        compute_energy_mj=compute_mj,
        memory_energy_mj=memory_mj,
        memory=memory,
        memory_energy_by_kind_mj=memory_by_kind,
        ann_compute_energy_mj=c.dense_macs * per / timesteps * energy_model.e_mac_pj * 1e-9,
        ann_memory_energy_mj=ann_memory_mj,
        neuron_updates=nu,
        neuron_update_macs=nu_macs,
        # spikes per neuron per sample per time step (updates per neuron = samples × T)
        spike_map=c.spike_map,
        updates_per_neuron=(c.neuron_updates / c.neurons) if c.neurons else 0.0,
        counts=kept_counts(c, memory_model),  # for Report.reprice
    )


def _per_step_rates(c: Counts) -> list[float] | None:
    """Spikes per neuron at each step, averaged over samples: the step's spikes over its updates (an
    equal share of the layer's), so that their mean is the output spike rate."""
    if c.step_spikes is None or c.neuron_updates <= 0 or not c.step_spikes:
        return None
    per_step_updates = c.neuron_updates / len(c.step_spikes)
    return [spikes / per_step_updates for spikes in c.step_spikes]
