"""Pricing a report again: the same counts under another energy or memory model, without running the model.

A profile's counts (operations per layer) do not depend on the energy or memory model; its energies do,
and so does its memory traffic, which the memory model counts as well as prices (``dense_reuse``, word
width, queue size). So a report keeps, per layer, the traffic terms its traffic was counted from
(``syops.traffic.TrafficTerm``: each slot's geometry and counts) and whether the layer had counts given
on the host (which carry no memory geometry). From those, ``reprice`` recounts the traffic under any
memory model with the same functions and in the same order as a profile does, so a repriced report
equals a fresh profile of the same run, field for field.

``targets`` prices one report under several (energy, memory) pairs: the side-by-side view of §
"Several targets" in docs/energy.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from .energy import EnergyModel, resolve_energy
from .errors import SyopsError
from .memory import MemoryModel, memory_for
from .slots import Counts
from .traffic import ACCESS_KINDS, TERM_KINDS, TrafficTerm

if TYPE_CHECKING:
    from .report import LayerStats, Report

EnergySpec = str | Mapping[str, Any] | EnergyModel
MemorySpec = str | Mapping[str, Any] | MemoryModel | None


@dataclass(frozen=True)
class LayerCounts:
    """What a layer's memory traffic was counted from (kept in the report for ``reprice``)."""

    terms: tuple[TrafficTerm, ...]
    host_counted: bool  # counts given on the host (custom hooks): no memory geometry, whatever the model

    @property
    def untracked(self) -> bool:
        """Some of the layer's calls carry no memory geometry (their traffic is not counted)."""
        return self.host_counted or any(kind == "untracked" for kind, _, _ in self.terms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host_counted": self.host_counted,
            "terms": [
                {"kind": kind, "geometry": None if g is None else asdict(g), "counts": list(counts)}
                for kind, g, counts in self.terms
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerCounts:
        terms = []
        for term in data["terms"]:
            geometry_cls = TERM_KINDS[term["kind"]]
            geometry = None if geometry_cls is None else geometry_cls(**term["geometry"])
            terms.append((term["kind"], geometry, tuple(float(v) for v in term["counts"])))
        return cls(tuple(terms), bool(data["host_counted"]))


def kept_counts(c: Counts, memory: MemoryModel | None) -> LayerCounts | None:
    """The part of a row's host counts that ``reprice`` needs; None where the terms were not kept."""
    if c.traffic_terms is None:
        return None
    untracked_terms = sum(counts[0] for kind, _, counts in c.traffic_terms if kind == "untracked")
    host = c.untracked_calls - (untracked_terms if memory is not None else 0.0)
    return LayerCounts(tuple(c.traffic_terms), host > 0)


def resolve_target(energy: EnergySpec | None, memory: MemorySpec) -> tuple[EnergyModel, MemoryModel | None]:
    """An (energy, memory) pair as ``syops.profile`` reads its arguments: ``memory=None`` is the energy
    model's default (none for a device preset, sram-45nm otherwise)."""
    energy_model = resolve_energy("45nm-fp32" if energy is None else energy)
    return energy_model, memory_for(energy_model, memory)


def _priced_layer(
    layer: LayerStats,
    energy: EnergyModel,
    memory: MemoryModel | None,
    old_memory: MemoryModel | None,
    samples: int,
    timesteps: int,
    count_neuron_updates: bool,
) -> LayerStats:
    # The arithmetic of syops.profiler._layer_stats, on the per-sample counts the layer keeps.
    nu_macs = layer.neuron_update_macs
    nu_acs = layer.neuron_updates - nu_macs
    compute_mj = energy.layer_energy_mj(
        layer.acs,
        layer.macs,
        layer.synops,
        nu_acs if count_neuron_updates else 0.0,
        nu_macs if count_neuron_updates else 0.0,
        dense_macs=layer.dense_macs,
        timesteps=timesteps,
    )
    if memory is None:
        accesses, by_kind, memory_mj, ann_memory_mj = None, None, 0.0, 0.0
    elif memory == old_memory:  # the same traffic, already counted and priced
        accesses = None if layer.memory is None else dict(layer.memory)
        by_kind = None if layer.memory_energy_by_kind_mj is None else dict(layer.memory_energy_by_kind_mj)
        memory_mj, ann_memory_mj = layer.memory_energy_mj, layer.ann_memory_energy_mj
    else:
        if layer.counts is None:
            raise SyopsError(
                f"cannot reprice under memory model {memory.name!r}: the report does not keep the counts its "
                "memory traffic comes from (a report merged across processes, built by hand, or read from a "
                "JSON file without 'counts'); profile again, or reprice with memory='none' or the report's own"
            )
        c = Counts()
        c.add_terms_traffic(layer.counts.terms, memory)
        per = 1.0 / samples
        accesses = {kind: getattr(c, kind) * per for kind in ACCESS_KINDS}
        by_kind = {kind: getattr(c, f"{kind}_pj") * per * 1e-9 for kind in ACCESS_KINDS}
        memory_mj = c.memory_pj * per * 1e-9
        ann_memory_mj = c.ann_memory_pj * per / timesteps * 1e-9
    return replace(
        layer,
        energy_mj=compute_mj + memory_mj,
        compute_energy_mj=compute_mj,
        memory_energy_mj=memory_mj,
        memory=accesses,
        memory_energy_by_kind_mj=by_kind,
        ann_compute_energy_mj=layer.dense_macs / timesteps * energy.e_mac_pj * 1e-9,
        ann_memory_energy_mj=ann_memory_mj,
    )


def _notes(report: Report, memory: MemoryModel | None) -> list[str]:
    """The report's notes with the untracked-traffic note as a profile under ``memory`` writes it."""
    from .pricing import UNTRACKED_NOTE

    notes = list(report.notes)
    at = next((i for i, note in enumerate(notes) if note.startswith(UNTRACKED_NOTE)), len(notes))
    if at < len(notes):
        del notes[at]
    untracked = sorted(
        {
            f"{layer.name or '(model)'} ({layer.type})"
            for layer in report.layers
            if layer.counts is not None and layer.counts.untracked
        }
    )
    if memory is not None and untracked:
        notes.insert(at, UNTRACKED_NOTE + ", ".join(untracked))
    return notes


def reprice(report: Report, energy: EnergySpec | None = None, memory: MemorySpec = None) -> Report:
    """``report`` priced under ``energy`` / ``memory`` (what they mean to ``syops.profile``), from its
    counts: equal to a fresh profile of the same run with those arguments. It carries no targets."""
    if report.per_timestep_view:
        raise SyopsError("reprice the per-sample report, then take per_timestep() of the result")
    if report.phases is not None:
        # the backward's and update's traffic terms are not kept: their energies could not follow
        raise SyopsError(
            "cannot reprice a training step's report (its backward and update are priced when counted); "
            "give the Profiler the energy and memory models wanted, or reprice an inference report"
        )
    energy_model, memory_model = resolve_target(energy, memory)
    layers = [
        _priced_layer(
            layer,
            energy_model,
            memory_model,
            report.memory_model,
            report.samples,
            report.timesteps,
            report.count_neuron_updates,
        )
        for layer in report.layers
    ]
    return replace(
        report,
        energy_model=energy_model,
        memory_model=memory_model,
        layers=layers,
        notes=_notes(report, memory_model),
        other_targets=[],
    )


def with_targets(report: Report, energies: Sequence[EnergySpec], memory: MemorySpec = None) -> Report:
    """``report`` priced under each of ``energies`` (each with ``memory``, or its own default memory model
    when ``memory`` is None): the first target's report, carrying every target in ``targets``."""
    if isinstance(energies, (str, Mapping, EnergyModel)) or not energies:
        raise SyopsError("targets: give a list of one or more energy models, e.g. ['loihi', 'spinnaker2', 'gpu']")
    priced = [reprice(report, energy, memory) for energy in energies]
    first = priced[0]
    first.other_targets = priced[1:]
    return first


def target_summary(report: Report) -> dict[str, Any]:
    """One entry of a report's ``targets``: its models and its energies per sample."""
    totals = report.totals
    return {
        "energy_model": report.energy_model.to_dict(),
        "memory_model": None if report.memory_model is None else report.memory_model.to_dict(),
        **{key: totals[key] for key in ("energy_mj", "compute_energy_mj", "memory_energy_mj", "ann_energy_mj")},
    }


# -- JSON: the counts a report read back needs to be repriced (the report's "counts" key) ------------------
_HIDDEN = (
    "neuron_updates",
    "neuron_update_macs",
    "ann_compute_energy_mj",
    "ann_memory_energy_mj",
    "memory_energy_by_kind_mj",
)


def kept_counts_dict(report: Report) -> dict[str, Any]:
    """The ``counts`` key of a JSON report: per layer (in the order of ``layers``) the counts outside the
    schema that its totals and ``reprice`` use, and the traffic terms (null where not kept)."""
    return {
        "count_neuron_updates": report.count_neuron_updates,
        "per_timestep_view": report.per_timestep_view,
        "notes": list(report.notes),
        "unsupported": list(report.unsupported),
        "inputs": dict(report.inputs),
        "counting": dict(report.counting),
        "layers": [
            {
                **{key: getattr(layer, key) for key in _HIDDEN},
                "traffic": None if layer.counts is None else layer.counts.to_dict(),
            }
            for layer in report.layers
        ],
    }


def report_from_dict(cls: type[Report], data: Mapping[str, Any]) -> Report:
    """A Report from ``Report.to_dict()``'s data (a JSON report read back)."""
    from .report import LAYER_FIELDS, LayerStats

    try:
        kept = data.get("counts") or {}
        kept_layers = kept.get("layers") or [{} for _ in data["layers"]]
        if len(kept_layers) != len(data["layers"]):
            raise SyopsError("the report's counts do not match its layers")
        layers = []
        for row, extra in zip(data["layers"], kept_layers, strict=True):
            values = {key: row[key] for key in LAYER_FIELDS}
            values.update({key: extra[key] for key in _HIDDEN if key in extra})
            traffic = extra.get("traffic")
            counts = None if traffic is None else LayerCounts.from_dict(traffic)
            layers.append(LayerStats(**values, phases=row.get("phases"), counts=counts))
        memory = data["memory_model"]
        # without 'counts' (a report written by hand or trimmed), the top-level 'counting' still says how
        counting = data.get("counting") if isinstance(data.get("counting"), dict) else {}
        report = cls(
            model=data["model"],
            input_shape=list(data["input_shape"]),
            timesteps=int(data["timesteps"]),
            samples=int(data["samples"]),
            energy_model=EnergyModel(**data["energy_model"]),
            memory_model=None if memory is None else MemoryModel(**memory),
            layers=layers,
            count_neuron_updates=bool(kept.get("count_neuron_updates", counting.get("count_neuron_updates", True))),
            notes=list(kept.get("notes", [])),
            unsupported=list(kept.get("unsupported", [])),
            syops_version=data["syops_version"],
            per_timestep_view=bool(kept.get("per_timestep_view", False)),
            inputs=dict(kept.get("inputs", {})),
            counting=dict(kept.get("counting", {k: v for k, v in counting.items() if k != "count_neuron_updates"})),
            phases=data.get("phases"),
            training_energy_mj=data.get("training_energy_mj"),
            saved_for_backward_bytes=data.get("saved_for_backward_bytes"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SyopsError(f"not a syops report (cannot read {exc})") from None
    targets = data.get("targets") or []
    if targets:
        report.other_targets = [
            reprice(
                report,
                EnergyModel(**target["energy_model"]),
                "none" if target["memory_model"] is None else MemoryModel(**target["memory_model"]),
            )
            for target in targets[1:]
        ]
    return report
