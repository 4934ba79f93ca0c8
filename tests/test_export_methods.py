"""``Report.methods()``: every energy constant it states is the report's energy model's (or appears in
that model's own source line), every memory-model figure is the memory model's, and what it says about
the inputs and the counting options follows the profile that made the report."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
import torch
from report_fixtures import MEMORY_MODEL, spiking_cnn, spiking_report, with_memory
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import syops
from syops.energy import PRESETS
from syops.export.methods import DRAM_PJ, SRAM_POINTS_PJ

PJ = re.compile(r"(\d+(?:\.\d+)?)\s*(?:~)?pJ")


def _stated_pj(text: str) -> set[float]:
    return {float(x) for x in PJ.findall(text)}


def _constants(model: syops.EnergyModel) -> set[float]:
    values = (model.e_ac_pj, model.e_mac_pj, model.e_synop_pj, model.e_neuron_update_pj)
    return {v for v in values if v is not None}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_stated_constant_is_the_energy_model(preset):
    report = spiking_report(energy=preset)
    text = report.methods()
    model = report.energy_model
    stated = _stated_pj(text)
    assert _constants(model) <= stated  # every constant of the model is stated...
    assert stated <= _constants(model) | _stated_pj(model.source)  # ...and nothing else but its source's figures
    assert model.source in text and f"the {preset} energy model" in text
    if model.e_synop_pj is not None:
        assert f"a synaptic event costs {model.e_synop_pj:g} pJ" in text
        assert f"a neuron update {model.e_neuron_update_pj:g} pJ" in text


def test_changing_the_preset_changes_the_text():
    texts = {preset: spiking_report(energy=preset).methods() for preset in PRESETS}
    assert len(set(texts.values())) == len(PRESETS)
    fp32, int8 = texts["45nm-fp32"], texts["45nm-int8"]
    assert "an AC costs 0.9 pJ and a MAC 4.6 pJ" in fp32 and "an AC costs 0.03 pJ and a MAC 0.23 pJ" in int8


def test_custom_costs_without_a_source():
    text = spiking_report(energy="ac=0.5,mac=2.25").methods()
    assert "an AC costs 0.5 pJ and a MAC 2.25 pJ" in text and "no source given" in text
    assert _stated_pj(text) == {0.5, 2.25}


def test_memory_model_figures_are_the_memory_models():
    report = with_memory(spiking_report())
    text = report.methods()
    memory = MEMORY_MODEL
    assert f"accesses of {memory['bits']}-bit words under the {memory['name']} memory model" in text
    assert f"event queue of {memory['queue_words']} words" in text
    assert f"larger than {memory['dram_above']} bytes are priced as DRAM" in text
    assert "reads one weight and one input per MAC (no reuse)" in text and memory["source"] in text
    assert f"{memory['bits']}/64" in text
    # the access prices stated are the SRAM / DRAM prices of docs/contract.md §4, and only those beside the compute ones
    assert {p for _, p in SRAM_POINTS_PJ} == {10.0, 20.0, 100.0} and DRAM_PJ == 1300.0
    assert _stated_pj(text) <= _constants(report.energy_model) | _stated_pj(report.energy_model.source) | {
        10.0,
        20.0,
        100.0,
        1300.0,
    }
    ideal = with_memory(spiking_report(), {**memory, "dense_reuse": "ideal", "dram_above": None}).methods()
    assert "ideal reuse" in ideal and "DRAM" not in ideal and ideal != text
    assert "Memory accesses were not priced" in spiking_report().methods()


def test_inputs_and_counting_options_are_stated():
    text = spiking_report().methods()
    assert "1 seeded random sample of shape 2×8×8, drawn from a uniform [0, 1) distribution (seed 0)" in text
    assert "Poisson encoding" in text and "as [T, B, ...] tensors" in text and "T = 4 time steps" in text
    assert "every element is an integer" in text and "zero weights were counted like any other" in text
    assert "Neuron updates (neurons × time steps) are included" in text

    loader = DataLoader(TensorDataset((torch.rand(6, 4, 2, 8, 8) < 0.3).float()), batch_size=2)
    net = spiking_cnn()
    report = syops.profile(
        net,
        dataloader=[batch[0].transpose(0, 1) for batch in loader],
        timesteps=4,
        time_layout="TB",
        max_batches=2,
        spike_mode="binary",
        skip_zero_weights=True,
        count_neuron_updates=False,
    )
    text = report.methods()
    assert report.samples == 4
    shape = "×".join(map(str, report.input_shape))  # a [T, B, ...] batch's sample shape keeps its T
    assert f"The inputs were 4 samples of shape {shape} from a DataLoader, its first 2 batches" in text
    assert "every element is 0 or 1" in text and "only synapses with a non-zero weight were counted" in text
    assert "Neuron updates were left out" in text and "averaged over the 4 samples" in text

    direct = syops.profile(spiking_cnn(), (2, 8, 8), timesteps=3, time_layout="TB", input_encoding="direct")
    assert "standard normal" in direct.methods() and "direct encoding" in direct.methods()


def test_per_time_step_view_and_unrecorded_inputs():
    report = spiking_report()
    assert "per sample and time step" in report.per_timestep().methods()
    bare = replace(report, inputs={}, counting={})
    assert "How the inputs were given is not recorded" in bare.methods()


def test_uncounted_modules_are_named():
    class Opaque(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, -1)  # a function without a counting rule

    report = syops.profile(nn.Sequential(nn.Linear(4, 4), Opaque()), (4,))
    assert report.unsupported == ["Opaque"]
    assert "(Opaque) were counted only through the torch operations they call" in report.methods()
    assert "without a counting rule" not in spiking_report().methods()


def test_a_real_memory_model_is_stated():
    text = spiking_report(memory="sram-45nm").methods()
    assert "accesses of 32-bit words under the sram-45nm memory model" in text
    assert "ideal reuse" in text and "event queue of 1000 words" in text
    noreuse = spiking_report(memory="sram-45nm-noreuse").methods()
    assert "reads one weight and one input per MAC (no reuse)" in noreuse and "Lemaire" in noreuse
