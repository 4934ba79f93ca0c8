"""Memory words are as wide as the energy model's operands (fp32 / int32 32 bits, fp16 16, int8 8, a
custom model 32 unless it says), unless the memory model states its own width; reports say which."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import syops
from syops.cli.main import main as cli
from syops.energy import PRESETS
from syops.memory import MemoryModel

WIDTHS = {"45nm-fp32": 32, "45nm-fp16": 16, "45nm-int32": 32, "45nm-int8": 8}
QUEUE_WORDS = 1000


def horowitz_word_pj(size_bytes: float, bits: int) -> float:
    """One access of a ``bits`` word to an SRAM of ``size_bytes``: Horowitz's 64-bit figure (10 pJ to
    8 KiB, 10 → 20 pJ to 32 KiB, 20 → 100 pJ to 1 MiB, 100 pJ above) times bits/64."""
    kib = 1024
    if size_bytes <= 8 * kib:
        pj = 10.0
    elif size_bytes <= 32 * kib:
        pj = 10 + (size_bytes - 8 * kib) / (24 * kib) * 10
    elif size_bytes <= 1024 * kib:
        pj = 20 + (size_bytes - 32 * kib) / (992 * kib) * 80
    else:
        pj = 100.0
    return pj * bits / 64


def _events(shape, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) < 0.3).float()


@pytest.mark.parametrize("name", sorted(WIDTHS))
def test_presets_state_their_operand_width(name):
    assert PRESETS[name].operand_bits == WIDTHS[name]
    assert PRESETS[name].to_dict()["operand_bits"] == WIDTHS[name]


def test_custom_energy_models_are_32_bit_unless_they_say(tmp_path):
    assert syops.resolve_energy("ac=1,mac=2").operand_bits == 32
    assert syops.resolve_energy({"ac": 1, "mac": 2}).operand_bits == 32
    assert syops.resolve_energy("ac=1,mac=2,bits=8").operand_bits == 8
    assert syops.resolve_energy({"ac": 1, "mac": 2, "operand_bits": 16}).operand_bits == 16
    path = tmp_path / "chip.toml"
    path.write_text("ac = 0.1\nmac = 0.5\nbits = 4\n")
    assert syops.resolve_energy(path).operand_bits == 4
    for bad in ("ac=1,mac=2,bits=0", "ac=1,mac=2,bits=x", "ac=1,mac=2,bits=2.5"):
        with pytest.raises(syops.SyopsError, match="positive integer"):
            syops.resolve_energy(bad)


@pytest.mark.parametrize("name", sorted(WIDTHS))
@pytest.mark.parametrize("memory", [None, "sram-45nm", "sram-45nm-noreuse", {"dense_reuse": "none"}])
def test_memory_words_follow_the_operands(name, memory):
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU())
    report = syops.profile(net, input_res=(2, 6, 6), energy=name, memory=memory)
    assert report.memory_model.bits == WIDTHS[name]
    assert json.loads(report.to_json())["memory_model"]["bits"] == WIDTHS[name]


def test_a_memory_model_that_states_its_width_wins(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3))
    assert syops.profile(net, input_res=(4,), energy="45nm-int8", memory={"bits": 16}).memory_model.bits == 16
    model = MemoryModel("m", bits=64)
    assert syops.profile(net, input_res=(4,), energy="45nm-fp16", memory=model).memory_model is model
    path = tmp_path / "mem.toml"
    path.write_text("bits = 32\n")
    assert syops.profile(net, input_res=(4,), energy="45nm-int8", memory=path).memory_model.bits == 32
    assert syops.profile(net, input_res=(4,), energy="loihi").memory_model is None  # device: no memory


def test_int8_memory_energy_is_a_quarter_of_fp32_per_word_in_small_memories():
    """Memories of at most 8 KiB at 32 bits sit on the flat part of Horowitz's curve at both widths, so
    the same accesses cost exactly 8/32 as much."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = _events((3, 2, 6, 6))
    fp32 = syops.profile(net, inputs=x, energy="45nm-fp32")
    int8 = syops.profile(net, inputs=x, energy="45nm-int8")
    for a, b in zip(fp32.layers, int8.layers, strict=True):
        assert a.memory == b.memory  # the same accesses, priced by a narrower word
        assert b.memory_energy_mj == pytest.approx(a.memory_energy_mj * 8 / 32, rel=1e-12)
    assert int8.totals["memory_energy_mj"] == pytest.approx(fp32.totals["memory_energy_mj"] / 4, rel=1e-12)


@pytest.mark.parametrize("name", sorted(WIDTHS))
def test_word_width_prices_each_memory_by_its_size_in_bytes(name):
    """A conv on events whose weights fill 18 KiB at 32 bits: each access priced here from the memory's
    size at the preset's width (parameters, the event queue, the accumulators of one image)."""
    torch.manual_seed(2)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    x = _events((2, 16, 10, 10), seed=3)
    layer = syops.profile(nn.Sequential(conv), inputs=x, energy=name).layers[0]
    bits, m = WIDTHS[name], layer.memory
    params, state = conv.weight.numel() + conv.bias.numel(), 32 * 10 * 10
    expected_pj = (
        (m["weight_reads"] + m["bias_reads"]) * horowitz_word_pj(params * bits / 8, bits)
        + m["input_reads"] * horowitz_word_pj(QUEUE_WORDS * bits / 8, bits)
        + (m["state_reads"] + m["state_writes"]) * horowitz_word_pj(state * bits / 8, bits)
        + m["output_writes"] * horowitz_word_pj(state * bits / 8, bits)
    )
    assert m["weight_reads"] > 0 and m["output_writes"] == 0
    assert layer.memory_energy_mj == pytest.approx(expected_pj * 1e-9, rel=1e-9)


def test_reports_state_the_width():
    net = nn.Sequential(nn.Linear(4, 3))
    int8 = syops.profile(net, input_res=(4,), energy="45nm-int8")
    said = "memory words of 8 bits, as wide as the 45nm-int8 operands"
    assert said.capitalize() in int8.methods() and "an 8-bit word costing 8/64" in int8.methods()
    assert said in int8.to_html() and said in int8.to_latex()
    stated = syops.profile(net, input_res=(4,), energy="45nm-int8", memory={"bits": 32})
    assert "as the memory model states (the 45nm-int8 operands are 8-bit)" in stated.methods()
    none = syops.profile(net, input_res=(4,), energy="45nm-int8", memory="none")
    assert "memory words" not in none.methods().lower() and "memory words" not in none.to_latex()


def test_cli_json_carries_the_width():
    result = CliRunner().invoke(
        cli, ["profile", "torch.nn:Identity", "--input-shape", "4", "--energy", "45nm-fp16", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["memory_model"]["bits"] == 16 and data["energy_model"]["operand_bits"] == 16
