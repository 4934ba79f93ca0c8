"""``syops zoo``, ``syops energy-models``, help and version through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from syops import PRESETS, __version__, zoo
from syops.cli.main import main as cli

SMALL = "snntorch_mlp,dynapcnn_nmnist"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_energy_models():
    everything = json.loads(invoke("energy-models", "--format", "json").stdout)
    data = everything["energy_models"]
    assert [m["name"] for m in data] == list(PRESETS)
    memories = {m["name"]: m for m in everything["memory_models"]}
    assert list(memories) == ["sram-45nm", "sram-45nm-noreuse", "none"]
    # bits null: words as wide as the energy model's operands (operand_bits: 8 for 45nm-int8)
    assert (memories["sram-45nm"]["bits"], memories["sram-45nm"]["dense_reuse"]) == (None, "ideal")
    assert (
        memories["sram-45nm-noreuse"]["dense_reuse"] == "none" and "Lemaire" in memories["sram-45nm-noreuse"]["source"]
    )
    assert "Horowitz" in memories["sram-45nm"]["source"]
    by_name = {m["name"]: m for m in data}
    assert (by_name["45nm-fp32"]["e_ac_pj"], by_name["45nm-fp32"]["e_mac_pj"]) == (0.9, 4.6)
    assert (by_name["loihi"]["e_synop_pj"], by_name["loihi"]["e_neuron_update_pj"]) == (27.1, 81.0)
    widths = [by_name[n]["operand_bits"] for n in ("45nm-fp32", "45nm-fp16", "45nm-int32", "45nm-int8")]
    assert widths == [32, 16, 32, 8]
    table = invoke("energy-models")
    assert table.exit_code == 0
    for model in PRESETS.values():
        assert model.name in table.stdout
    assert "Horowitz" in table.stdout and "Davies" in table.stdout
    assert "sram-45nm-noreuse" in table.stdout and "Dense reuse" in table.stdout


def test_zoo_list():
    result = invoke("zoo", "--list")
    assert result.exit_code == 0
    for name in ("spiking_resnet18", "sew_resnet18", "dynapcnn_nmnist", "snntorch_mlp", "vit_b_16"):
        assert name in result.stdout


def test_zoo_generate_and_check(tmp_path):
    path = tmp_path / "model_zoo_results.md"
    missing = invoke("zoo", "--check", "--output", str(path), "--models", SMALL)
    assert missing.exit_code == 2 and "does not exist" in missing.stderr

    written = invoke("zoo", "--output", str(path), "--models", SMALL)
    assert written.exit_code == 0, written.output
    text = path.read_text()
    rows = zoo.parse_table(text)
    assert list(rows) == ["dynapcnn_nmnist", "snntorch_mlp"]  # table order
    assert "random" in text and "seed" in text  # the file says how the numbers were obtained
    # Printed without --output: the same document.
    assert invoke("zoo", "--models", SMALL, "-q").stdout == text

    ok = invoke("zoo", "--check", "--output", str(path), "--models", SMALL)
    assert ok.exit_code == 0 and "up to date" in ok.stderr

    cell = rows["snntorch_mlp"]["SynOps (G)"]
    path.write_text(text.replace(f"| {cell} |", "| 9.999 |", 1))
    stale = invoke("zoo", "--check", "--output", str(path), "--models", SMALL)
    assert stale.exit_code == 1
    assert stale.stdout.strip() == f"snntorch_mlp / SynOps (G): file has '9.999', recomputed '{cell}'"
    assert "is stale" in stale.stderr and stale.stderr.count("\n") == stale.stderr.count("syops: ")

    # Regenerating one row keeps the other row and the text outside the table.
    path.write_text(text.replace(f"| {cell} |", "| 9.999 |", 1) + "\nhand-written notes\n")
    assert invoke("zoo", "--output", str(path), "--models", "snntorch_mlp", "-q").exit_code == 0
    regenerated = path.read_text()
    assert "hand-written notes" in regenerated and zoo.parse_table(regenerated) == rows


def test_zoo_unknown_row():
    result = invoke("zoo", "--models", "resnet81")
    assert result.exit_code == 2 and "did you mean" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("command", ["profile", "dynapcnn", "zoo", "energy-models"])
def test_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and "Usage: syops" in result.stdout and "--debug" in result.stdout


def test_version_and_no_command():
    assert invoke("--version").stdout.strip() == f"syops, version {__version__}"
    bare = invoke()
    assert bare.exit_code == 2 and "Usage: syops" in bare.output  # the help, as a usage error
