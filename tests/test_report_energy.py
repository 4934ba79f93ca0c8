"""Report schema and exports, energy presets and custom energy models."""

from __future__ import annotations

import csv
import io
import json

import pytest
import torch
from rich.console import Console
from torch import nn

import syops
from syops.energy import PRESETS, EnergyModel, resolve_energy
from syops.errors import SyopsError
from syops.report import LAYER_FIELDS, TOTAL_FIELDS, flat_fields
from syops.units import human

TOP_KEYS = [
    "syops_version",
    "model",
    "input_shape",
    "timesteps",
    "samples",
    "energy_model",
    "memory_model",
    "counting",
    "totals",
    "layers",
    "phases",  # a training step's forward / backward / update; null for inference
    "training_energy_mj",
    "saved_for_backward_bytes",
    "counts",  # what Report.reprice / Report.from_json need (docs/energy.md)
]


def _spiking_report(energy="45nm-fp32", **kwargs):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 5 * 5, 3))
    x = (torch.rand(4, 1, 5, 5) < 0.3).float()
    return syops.profile(net, inputs=x, energy=energy, **kwargs), x


def test_json_schema():
    report, _ = _spiking_report()
    data = json.loads(report.to_json())
    assert list(data) == TOP_KEYS
    assert list(data["totals"]) == list(TOTAL_FIELDS)
    assert isinstance(data["totals"]["params"], int)
    assert data["input_shape"] == [1, 5, 5] and data["samples"] == 4 and data["timesteps"] == 1
    assert {"name", "e_ac_pj", "e_mac_pj"} <= set(data["energy_model"])
    for layer in data["layers"]:
        assert list(layer) == list(LAYER_FIELDS)
        assert isinstance(layer["params"], int) and isinstance(layer["calls"], int)
    for key in TOTAL_FIELDS:
        if key in ("neuron_updates", "ann_energy_mj", "ann_compute_energy_mj"):
            continue
        if key == "memory":
            for kind, total in data["totals"]["memory"].items():
                assert total == pytest.approx(sum(layer["memory"][kind] for layer in data["layers"]))
        else:
            assert data["totals"][key] == pytest.approx(sum(layer[key] for layer in data["layers"]))


def test_csv_and_markdown_carry_the_same_fields():
    report, _ = _spiking_report()
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    layer_columns, total_columns = flat_fields(LAYER_FIELDS), flat_fields(TOTAL_FIELDS)
    assert "memory.weight_reads" in layer_columns and "memory" not in layer_columns
    assert list(rows[0]) == layer_columns and len(rows) == len(report.layers)
    assert float(rows[0]["synops"]) == report.layers[0].synops
    assert float(rows[0]["memory.weight_reads"]) == report.layers[0].memory["weight_reads"]
    md = report.to_markdown()
    assert "| " + " | ".join(layer_columns) + " |" in md and "| " + " | ".join(total_columns) + " |" in md


def test_energy_is_acs_and_macs_at_their_costs():
    report, _ = _spiking_report()
    conv, fc = report.layers
    assert conv.acs > 0 and conv.macs == 0  # spikes in
    assert fc.macs > 0 and fc.acs == 0  # the conv's real-valued output in
    assert report.totals["compute_energy_mj"] == pytest.approx(
        (report.totals["acs"] * 0.9 + report.totals["macs"] * 4.6) * 1e-9
    )
    compute_only, _ = _spiking_report(memory="none")
    assert compute_only.totals["energy_mj"] == report.totals["compute_energy_mj"]


def test_presets_and_sources():
    expected = {
        "45nm-fp32": (0.9, 4.6),
        "45nm-fp16": (0.4, 1.5),
        "45nm-int32": (0.1, 3.2),
        "45nm-int8": (0.03, 0.23),
    }
    for name, (ac, mac) in expected.items():
        assert (PRESETS[name].e_ac_pj, PRESETS[name].e_mac_pj) == (ac, mac)
        assert "Horowitz" in PRESETS[name].source
    loihi = PRESETS["loihi"]
    assert (loihi.e_synop_pj, loihi.e_neuron_update_pj) == (27.1, 81.0) and "Davies" in loihi.source


def test_loihi_costs_synaptic_events_separately():
    report, _ = _spiking_report(energy="loihi")
    conv, fc = report.layers
    bias_adds = 2 * 5 * 5  # one per output element, ordinary ACs
    assert conv.acs == pytest.approx(conv.synops + bias_adds)
    assert conv.energy_mj == pytest.approx((conv.synops * 27.1 + bias_adds * 0.9) * 1e-9)
    assert fc.energy_mj == pytest.approx(fc.macs * 4.6e-9)


def test_custom_energy_models(tmp_path):
    assert resolve_energy({"ac": 1, "mac": 2}).e_mac_pj == 2.0
    assert resolve_energy("ac=0.5, mac=3").e_ac_pj == 0.5
    path = tmp_path / "chip.toml"
    path.write_text('name = "chip"\nac = 0.2\nmac = 1.0\nsource = "datasheet"\n')
    model = resolve_energy(str(path))
    assert (model.name, model.e_ac_pj, model.source) == ("chip", 0.2, "datasheet")
    report, _ = _spiking_report(energy=EnergyModel("x", 1.0, 10.0))
    assert report.totals["compute_energy_mj"] == pytest.approx(
        (report.totals["acs"] + 10 * report.totals["macs"]) * 1e-9
    )
    for bad, match in [
        ("ac=1", "both ac and mac"),
        ("ac=x,mac=1", "not a number"),
        ({"ac": -1, "mac": 1}, "non-negative"),
        ("volts=1,ac=1,mac=1", "unknown energy model key"),
        (str(tmp_path / "no.toml"), "does not exist"),
    ]:
        with pytest.raises(SyopsError, match=match):
            resolve_energy(bad)


def test_per_timestep_view_divides_counts():
    net = nn.Linear(4, 2)
    x = (torch.rand(3, 2, 4) < 0.5).float()  # [T, B, F]
    report = syops.profile(net, inputs=x, time_layout="TB")
    assert report.timesteps == 3 and report.samples == 2
    view = report.per_timestep()
    assert view.totals["acs"] == pytest.approx(report.totals["acs"] / 3)
    assert view.totals["params"] == report.totals["params"]


def test_rich_table_has_a_totals_row_and_human_units():
    report, _ = _spiking_report()
    console = Console(file=io.StringIO(), width=200)
    console.print(report)
    text = console.file.getvalue()
    assert "Total" in text and "Energy" in text and "SynOps" in text
    assert (
        human(1_822_177_768) == "1.82 G" and human(752_640) == "752.64 K" and human(12) == "12" and human(None) == "-"
    )
