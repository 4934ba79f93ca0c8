"""Device presets against their published per-operation costs, and Report.reprice against fresh profiles
of the same run under every preset and memory model (per layer, every field), also from a JSON report."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from report_fixtures import spiking_cnn
from torch import nn

import syops
from syops.energy import PRESETS
from syops.errors import SyopsError
from syops.memory import MEMORY_PRESETS

# Published costs in pJ, as the papers (via keras-spiking's ModelEnergy) state them.
SPIKING = {"loihi": (23.6 + 3.5, 81.0), "spinnaker": (13.3e3, 26e3), "spinnaker2": (450.0, 2.19e3)}
CONVENTIONAL = {"cpu": 8.6e3, "gpu": 0.3e3, "arm": 0.9e3}
MEMORIES = [None, *MEMORY_PRESETS, {"name": "narrow-dram", "bits": 16, "dense_reuse": "none", "dram_above": 256}]


class _Dense(nn.Module):
    """A dense network with every kind of traffic term: synaptic, elementwise, products (attention)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        seq = y.flatten(2).transpose(1, 2)
        seq = seq + self.attn(seq, seq, seq, need_weights=False)[0]
        return self.fc(seq.flatten(1))


def _spiking(**kwargs):
    options = {"timesteps": 4, "time_layout": "TB", "input_encoding": "poisson", **kwargs}
    return syops.profile(spiking_cnn(), (2, 8, 8), **options)


def _dense(**kwargs):
    return syops.profile(_Dense().eval(), (3, 6, 6), **kwargs)


MODELS = {"spiking": _spiking, "dense": _dense}


def _fields(layer) -> dict:
    values = {
        f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.name not in ("spike_map", "counts")
    }
    values["spike_map"] = None if layer.spike_map is None else layer.spike_map.tolist()
    return values


def assert_same_report(a: syops.Report, b: syops.Report) -> None:
    assert a.to_dict() == b.to_dict()
    assert a.totals == b.totals
    assert a.notes == b.notes
    assert (a.energy_model, a.memory_model) == (b.energy_model, b.memory_model)
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert _fields(la) == _fields(lb), la.name


@pytest.fixture(scope="module", params=list(MODELS))
def base(request):
    return request.param, MODELS[request.param]()  # profiled under the defaults (45nm-fp32, sram-45nm)


@pytest.mark.parametrize("energy", list(PRESETS))
def test_reprice_equals_a_fresh_profile(base, energy):
    name, report = base
    for memory in MEMORIES:
        fresh = MODELS[name](energy=energy, memory=memory)
        assert_same_report(report.reprice(energy, memory), fresh)


@pytest.mark.parametrize("energy", ["45nm-int8", "loihi", "gpu", "spinnaker2"])
def test_reprice_from_a_json_round_trip(base, energy):
    name, report = base
    back = syops.Report.from_json(report.to_json())
    assert back.to_dict() == report.to_dict()
    for memory in MEMORIES:
        fresh = MODELS[name](energy=energy, memory=memory)
        repriced = back.reprice(energy, memory)
        assert repriced.to_dict() == fresh.to_dict()
        for la, lb in zip(repriced.layers, fresh.layers, strict=True):
            assert {k: v for k, v in _fields(la).items() if k not in ("spike_map", "updates_per_neuron")} == {
                k: v for k, v in _fields(lb).items() if k not in ("spike_map", "updates_per_neuron")
            }


def test_reprice_keeps_the_untracked_note_right():
    from syops.terms import Fixed

    def rule(module, args, kwargs, output, ctx):  # counts given on the host: no memory geometry
        return [Fixed(dense_macs=output.numel(), macs=output.numel())]

    net = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
    report = syops.profile(net, (4,), custom_rules={nn.Tanh: rule})
    assert any("no memory geometry" in note for note in report.notes)
    for memory in MEMORIES:
        fresh = syops.profile(net, (4,), memory=memory, custom_rules={nn.Tanh: rule})
        assert_same_report(report.reprice("45nm-fp32", memory), fresh)
    assert not any("no memory geometry" in note for note in report.reprice("loihi").notes)


def test_spiking_presets_price_events_and_updates_at_their_published_costs():
    report = _spiking()
    totals = report.totals
    nu = totals["neuron_updates"]
    nu_macs = math.fsum(layer.neuron_update_macs for layer in report.layers)
    assert totals["synops"] > 0 and nu > 0 and nu_macs > 0
    for name, (e_syn, e_nu) in SPIKING.items():
        priced = report.reprice(name)
        assert priced.memory_model is None  # memory is in the measured costs
        other_acs = totals["acs"] - totals["synops"] - (nu - nu_macs)
        other_macs = totals["macs"] - nu_macs
        expected_pj = totals["synops"] * e_syn + nu * e_nu + other_acs * 0.9 + other_macs * 4.6
        assert priced.totals["energy_mj"] == pytest.approx(expected_pj * 1e-9, rel=1e-12)
        assert priced.totals["memory_energy_mj"] == 0


def test_conventional_presets_price_the_one_pass_ann():
    for make in MODELS.values():
        report = make()
        totals, t = report.totals, report.timesteps
        for name, cost in CONVENTIONAL.items():
            priced = report.reprice(name)
            assert priced.memory_model is None
            expected_pj = (totals["dense_macs"] / t + totals["neuron_updates"] / t) * cost
            assert priced.totals["energy_mj"] == pytest.approx(expected_pj * 1e-9, rel=1e-12)
            # the spikes do not matter on a conventional device: the same as the dense run of the same net
            assert priced.totals["energy_mj"] == pytest.approx(
                priced.totals["ann_energy_mj"] + totals["neuron_updates"] / t * cost * 1e-9
            )


def test_conventional_activations_follow_count_neuron_updates():
    report = _spiking(count_neuron_updates=False)
    priced = report.reprice("cpu")
    expected = report.totals["dense_macs"] / report.timesteps * 8.6e3 * 1e-9
    assert priced.totals["energy_mj"] == pytest.approx(expected, rel=1e-12)


def test_with_targets_in_order_and_in_json():
    report = _spiking().with_targets(["loihi", "spinnaker2", "gpu", "45nm-fp32"])
    assert [t.energy_model.name for t in report.targets] == ["loihi", "spinnaker2", "gpu", "45nm-fp32"]
    assert report.energy_model.name == "loihi" and report.targets[0] is report
    data = json.loads(report.to_json())
    assert [t["energy_model"]["name"] for t in data["targets"]] == ["loihi", "spinnaker2", "gpu", "45nm-fp32"]
    last = data["targets"][-1]
    fresh = _spiking()
    assert last["memory_model"]["name"] == "sram-45nm"
    for key in ("energy_mj", "compute_energy_mj", "memory_energy_mj", "ann_energy_mj"):
        assert last[key] == fresh.totals[key]
    back = syops.Report.from_json(report.to_json())
    assert [t.energy_model.name for t in back.targets] == ["loihi", "spinnaker2", "gpu", "45nm-fp32"]
    assert json.loads(back.to_json())["targets"] == data["targets"]
    assert "targets" not in json.loads(_spiking().to_json())


def test_without_kept_counts_reprice_says_why():
    report = _dense()
    for layer in report.layers:
        layer.counts = None  # as a report merged across processes
    with pytest.raises(SyopsError, match="does not keep the counts"):
        report.reprice("45nm-fp32", "sram-45nm-noreuse")

    # memory 'none' or the report's own memory model need no terms
    def without_counts(r):
        return {k: v for k, v in r.to_dict().items() if k != "counts"}

    assert without_counts(report.reprice("loihi", "none")) == without_counts(_dense(energy="loihi", memory="none"))
    # the same memory model and word width (int32 operands are 32 bits wide, as fp32 ones)
    assert without_counts(report.reprice("45nm-int32", "sram-45nm")) == without_counts(_dense(energy="45nm-int32"))


def test_reprice_refuses_a_per_timestep_view_and_a_bad_target():
    report = _spiking()
    with pytest.raises(SyopsError, match="per-sample"):
        report.per_timestep().reprice("loihi")
    with pytest.raises(SyopsError, match="unknown energy model"):
        report.reprice("tpu")
    with pytest.raises(SyopsError, match="list"):
        report.with_targets("loihi")


def test_a_training_step_is_refused_in_one_line_and_reads_back_whole():
    pytest.importorskip("spikingjelly")
    from test_training import _binary_input, _profiled_step, _snn

    net, x = _snn(), _binary_input()
    report = _profiled_step(net, x, torch.optim.SGD(net.parameters(), lr=0.1))
    with pytest.raises(SyopsError, match="cannot reprice a training step's report"):
        report.reprice("loihi")
    back = syops.Report.from_json(report.to_json())
    assert back.phases == report.phases and back.training_energy_mj == report.training_energy_mj
    assert back.saved_for_backward_bytes == report.saved_for_backward_bytes
    assert [layer.phases for layer in back.layers] == [layer.phases for layer in report.layers]


def test_memory_energy_by_kind_follows_the_memory_model():
    """The HTML report's memory breakdown: a repriced report's energy by access kind is a fresh profile's."""
    report = _spiking()
    for memory in ("sram-45nm-noreuse", "none"):
        fresh = _spiking(memory=memory)
        priced = report.reprice("45nm-fp32", memory)
        assert [x.memory_energy_by_kind_mj for x in priced.layers] == [x.memory_energy_by_kind_mj for x in fresh.layers]


def test_reprice_carries_counting_and_per_step_rates():
    report = _spiking(spike_mode="binary")
    repriced = report.reprice("spinnaker2", "sram-45nm")
    assert repriced.to_dict()["counting"] == report.to_dict()["counting"]
    assert repriced.counting["spike_mode"] == "binary"
    rates = [layer.spike_rate_per_step for layer in report.layers if layer.spike_rate_per_step is not None]
    assert rates and rates == [
        layer.spike_rate_per_step for layer in repriced.layers if layer.spike_rate_per_step is not None
    ]
    back = syops.Report.from_json(report.to_json())
    assert back.counting == report.counting and back.to_dict()["counting"] == report.to_dict()["counting"]


def test_per_timestep_divides_every_target():
    report = _spiking().with_targets(["loihi", "gpu"])
    view = report.per_timestep()
    assert [t.energy_model.name for t in view.targets] == ["loihi", "gpu"]
    for full, step in zip(report.targets, view.targets, strict=True):
        assert step.per_timestep_view
        assert step.totals["energy_mj"] == pytest.approx(full.totals["energy_mj"] / report.timesteps)


def test_a_report_without_counts_reads_its_counting_from_the_top_level():
    report = _spiking(spike_mode="binary", count_neuron_updates=False)
    data = {k: v for k, v in report.to_dict().items() if k != "counts"}
    back = syops.Report.from_dict(data)
    assert back.count_neuron_updates is False and back.counting["spike_mode"] == "binary"
    assert back.to_dict()["counting"] == data["counting"]
    assert (
        back.reprice("loihi", "none").totals["energy_mj"]
        == _spiking(spike_mode="binary", count_neuron_updates=False, energy="loihi").totals["energy_mj"]
    )
