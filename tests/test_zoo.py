"""The zoo: every table model builds from its seed, small ones run on their natural input, options are
checked, and the zoo table is written, updated and checked cell by cell."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import syops
from syops import SyopsError, zoo

# The VGGs outside the table share other entries' code paths; building them adds seconds, not coverage.
HEAVY = {"vgg11", "vgg16", "spiking_vgg11_bn", "spiking_vgg16", "spiking_vgg16_bn"}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", [n for n in zoo.ZOO if n not in HEAVY])
def test_entries_build_from_their_seed(name):
    entry = zoo.get(name)
    state = torch.random.get_rng_state()
    a, b = entry.make(seed=3), entry.make(seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is left alone
    assert not a.training
    pa, pb = list(a.parameters()), list(b.parameters())
    assert len(pa) == len(pb) > 0 and all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert len(entry.input_shape) in (1, 3)
    assert (entry.timesteps is None) == (entry.time_layout is None)


def test_table_rows_name_zoo_models():
    labels = [row.label for row in zoo.ZOO_TABLE]
    assert len(labels) == len(set(labels))
    for row in zoo.ZOO_TABLE:
        zoo.get(row.model).resolve_options(row.options)
    issue6 = {"spiking_resnet18", "spiking_resnet34", "sew_resnet18", "spiking_vgg11", "resnet18", "resnet34"}
    issue6 |= {"resnet50", "mobilenet_v2", "vit_b_16", "spikformer_block", "dynapcnn_nmnist", "snntorch_mlp"}
    assert issue6 <= {row.model for row in zoo.ZOO_TABLE}
    assert {row.options.get("cnf") for row in zoo.ZOO_TABLE if row.model == "sew_resnet18"} == {"ADD", "IAND"}


@pytest.mark.parametrize("name", ["dynapcnn_nmnist", "snntorch_mlp", "spikformer_block"])
def test_small_models_run_on_their_natural_input(name):
    entry = zoo.get(name)
    report = syops.profile(
        entry.make(),
        entry.input_shape,
        timesteps=entry.timesteps,
        time_layout=entry.time_layout,
        input_encoding=entry.encoding,
    )
    assert report.timesteps == entry.timesteps and report.samples == 1
    assert report.totals["params"] == n_params(entry.make())


def test_spikingjelly_options():
    from spikingjelly.activation_based import neuron

    entry = zoo.get("sew_resnet18")
    assert entry.resolve_options(None) == {"neuron": "IF", "step_mode": "m", "cnf": "ADD"}
    model = entry.make({"neuron": "PLIF", "step_mode": "s", "cnf": "IAND"})
    nodes = [m for m in model.modules() if isinstance(m, neuron.BaseNode)]
    assert nodes and all(isinstance(m, neuron.ParametricLIFNode) and m.step_mode == "s" for m in nodes)
    assert model.layer1[0].cnf == "IAND"
    assert entry.layout_for({"step_mode": "s"}) == "loop" and entry.layout_for({"step_mode": "m"}) == "TB"
    with pytest.raises(SyopsError, match="not one of IF, LIF, PLIF"):
        entry.make({"neuron": "Izhikevich"})
    with pytest.raises(SyopsError, match="has no option 'neuron'"):
        zoo.get("resnet18").make({"neuron": "IF"})


def test_lookup():
    with pytest.raises(SyopsError, match="did you mean spiking_resnet18"):
        zoo.get("spiking_resnet_18")
    # any torchvision classification model, with its natural input
    assert zoo.get("squeezenet1_0").input_shape == (3, 224, 224)
    assert zoo.get("inception_v3").input_shape == (3, 299, 299)
    assert zoo.select_rows(["sew_resnet18"]) == [r for r in zoo.ZOO_TABLE if r.model == "sew_resnet18"]
    with pytest.raises(SyopsError, match="no zoo table row 'resnet81'; did you mean"):
        zoo.select_rows(["resnet81"])


@pytest.fixture(scope="module")
def small_cells():
    rows = zoo.select_rows(["snntorch_mlp", "dynapcnn_nmnist"])
    return [zoo.table_cells(row) for row in rows]


def test_table_cells(small_cells):
    cells = {c["Model"]: c for c in small_cells}
    mlp = cells["snntorch_mlp"]
    assert mlp["Input"] == "1×28×28" and mlp["T"] == "25"
    assert mlp["Params (M)"] == f"{(784 * 1000 + 1000 + 1000 * 10 + 10) / 1e6:.4g}"
    # every cell is the report's total, formatted
    entry = zoo.get("snntorch_mlp")
    report = syops.profile(
        entry.make(), entry.input_shape, timesteps=25, time_layout="loop", input_encoding="poisson", seed=0
    )
    assert mlp["SynOps (G)"] == f"{report.totals['synops'] / 1e9:.4g}"
    assert mlp["Energy vs ANN"] == f"{report.totals['energy_mj'] / report.ann_energy_mj:.3f}×"
    compute_ratio = report.totals["compute_energy_mj"] / report.ann_compute_energy_mj
    assert mlp["Compute vs ANN"] == f"{compute_ratio:.3f}×"
    assert float(mlp["Compute (mJ)"]) == pytest.approx(report.totals["compute_energy_mj"], rel=1e-3)
    assert float(mlp["Memory (mJ)"]) == pytest.approx(report.totals["memory_energy_mj"], rel=1e-3)
    assert "loop layout, poisson input" in mlp["Notes"]
    assert "fits DYNAP-CNN (cores 0, 1, 2, 3)" in cells["dynapcnn_nmnist"]["Notes"]
    assert set(mlp) == set(zoo.TABLE_COLUMNS)


def test_document_update_and_check(small_cells):
    document = zoo.render_document(small_cells)
    assert zoo.parse_table(document) == {c["Model"]: c for c in small_cells}
    assert zoo.stale_cells(document, small_cells) == []
    # A hand-written section outside the markers survives; a row not recomputed keeps its cells.
    edited = document + "\n## Compared with syops-counter\n\nhand-written\n"
    mlp, dyn = small_cells[1], small_cells[0]
    assert mlp["Model"] == "snntorch_mlp"
    changed = dict(mlp, **{"SynOps (G)": "1.234"})
    updated = zoo.update_document(edited, [changed])
    assert "hand-written" in updated and updated.startswith(zoo.DOCUMENT_HEAD)
    table = zoo.parse_table(updated)
    assert table["snntorch_mlp"]["SynOps (G)"] == "1.234" and table["dynapcnn_nmnist"] == dyn
    # --check lists exactly the differing cell, a missing row and a row no longer in the table
    stale = zoo.stale_cells(updated, small_cells)
    assert stale == [f"snntorch_mlp / SynOps (G): file has '1.234', recomputed {mlp['SynOps (G)']!r}"]
    only_dyn = zoo.render_document([dyn])
    assert zoo.stale_cells(only_dyn, small_cells) == ["snntorch_mlp: row missing from the file"]
    assert zoo.stale_cells(document, [dyn], all_rows=True) == ["snntorch_mlp: row no longer in the zoo table"]
    with pytest.raises(SyopsError, match="no generated table"):
        zoo.parse_table("# empty\n")


def test_calibrate_batchnorm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=0.3))
    x = torch.randn(5, 2, 8, 8)
    resets = []
    zoo.calibrate_batchnorm(net, x, resets.append)
    y = net[0](x).detach()
    assert torch.allclose(net[1].running_mean, y.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(net[1].running_var, y.var(dim=(0, 2, 3), unbiased=True), atol=1e-5)
    assert net[1].momentum == 0.3 and not net.training and resets == [net]


def test_spikformer_block_spikes_after_calibration():
    entry = zoo.get("spikformer_block")
    report = syops.profile(entry.make(), entry.input_shape, timesteps=4, time_layout="TB")
    rates = [layer.output_spike_rate for layer in report.layers if layer.output_spike_rate is not None]
    assert len(rates) >= 8 and all(0 < rate < 1 for rate in rates[:4])  # the stem's neurons all fire
    assert report.layer("blocks.0.attn", "matmul").synops > 0  # attention over spikes: events, not MACs


def _fake_cells(label: str, acs: str) -> dict[str, str]:
    cells = {column: "-" for column in zoo.TABLE_COLUMNS}
    cells.update({"Model": label, "ACs (G)": acs, "MACs (G)": "0.5", "SynOps (G)": "0.4"})
    cells.update({"Compute (mJ)": "2.0", "Mean spike rate": "9.00%"})
    return cells


def test_syops_counter_comparison_is_derived_from_the_table():
    rows = [_fake_cells("spiking_resnet18", "0.5471"), _fake_cells("resnet18", "0")]
    document = zoo.render_document(rows)
    marks = (zoo.COMPARISON_BEGIN_MARK, zoo.COMPARISON_END_MARK)
    comparison = zoo.parse_table(document, marks)
    assert list(comparison) == ["spiking_resnet18", "resnet18"]  # only rows the table holds
    row = comparison["spiking_resnet18"]
    assert (row["syops-counter ACs (G)"], row["syops-counter MACs (G)"], row["syops-counter energy (mJ)"]) == (
        "0.10",
        "0.14",
        "0.734",
    )
    assert row["syops ACs (G)"] == "0.5471" and row["syops mean spike rate"] == "9.00%"
    assert zoo.stale_cells(document, rows) == []
    # a hand edit of the comparison is stale; recomputing a table row updates the comparison too
    edited = document.replace("| 0.5471 | 0.5 | 0.4 | 2.0 | 9.00% |", "| 0.9999 | 0.5 | 0.4 | 2.0 | 9.00% |")
    assert zoo.stale_cells(edited, rows) == [
        "comparison spiking_resnet18 / syops ACs (G): file has '0.9999', recomputed '0.5471'"
    ]
    updated = zoo.update_document(document, [_fake_cells("spiking_resnet18", "0.6")])
    assert zoo.parse_table(updated, marks)["spiking_resnet18"]["syops ACs (G)"] == "0.6"
    # a document written before the comparison existed gets it appended
    legacy = document[: document.index("\n## syops-counter")] + "\n"
    assert zoo.COMPARISON_BEGIN_MARK in zoo.update_document(legacy, rows)


def test_check_tolerates_only_the_last_digit():
    rows = [_fake_cells("resnet18", "1.823")]
    document = zoo.render_document(rows)
    assert zoo.stale_cells(document, [_fake_cells("resnet18", "1.824")]) == []  # 0.05 %: a flipped spike
    assert zoo.stale_cells(document, [_fake_cells("resnet18", "1.83")]) != []  # 0.4 %: stale


def test_dsnn18_counts_its_accumulation_pathway():
    entry = zoo.get("dsnn18")
    model = entry.make()
    report = syops.profile(model, (3, 64, 64), timesteps=2, time_layout="TB")
    rows = {(r.name, r.type): r for r in report.layers}
    # every block adds its spikes to the running sum and applies an IAND shortcut: x · (1 - s)
    for index in range(8):
        assert ("blocks." + str(index), "add") in rows and ("blocks." + str(index), "mul") in rows
        assert rows[("blocks." + str(index), "sub")].calls == 1
    # the accumulated sum of spikes is integer-valued until a ReLU'd BatchNorm makes it dense
    first = rows[("blocks.0", "add")]
    assert first.input_event_rate is not None and first.acs == first.dense_macs
    assert report.totals["params"] == n_params(model)
