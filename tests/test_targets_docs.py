"""The README's "Loihi vs SpiNNaker 2 vs a GPU" output and docs/energy.md's table of targets are the ones
syops prints for spiking_resnet18 today (measured here, not typed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import syops
from syops import zoo
from syops.cli.main import main as cli

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "profile spiking_resnet18 --energy loihi --energy spinnaker2 --energy gpu --columns layer,synops,energy"
TARGETS = ["45nm-fp32", "45nm-int8", "loihi", "spinnaker", "spinnaker2", "cpu", "gpu", "arm"]


@pytest.mark.slow
def test_readme_shows_the_commands_output():
    pytest.importorskip("spikingjelly")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(f"$ syops {COMMAND}") :]
    shown = block[: block.index("```")].splitlines()[1:]
    result = CliRunner().invoke(cli, COMMAND.split(), env={"COLUMNS": "110"}, terminal_width=110)
    assert result.exit_code == 0, result.output
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    for line in shown:
        if line != "…":
            assert line.rstrip() in printed, line


@pytest.mark.slow
def test_energy_docs_table_is_measured():
    pytest.importorskip("spikingjelly")
    from syops.export._common import energy_text

    entry = zoo.get("spiking_resnet18")
    report = syops.profile(entry.make(seed=0), entry.input_shape, timesteps=4, time_layout="TB").with_targets(TARGETS)
    text = (ROOT / "docs" / "energy.md").read_text(encoding="utf-8")
    table = text[text.index("| target | energy | of which memory |") :]
    ann = report.totals["ann_energy_mj"]
    for target in report.targets:
        name = target.energy_model.name
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}`"))
        energy = target.totals["energy_mj"]
        shown = f"{energy:,.0f} mJ" if energy >= 1000 else energy_text(energy)
        assert shown in row, (name, shown, row)
        ratio = energy / ann
        assert (f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.3g}×") in row, (name, ratio, row)
    assert f"({energy_text(ann)}: 45nm-fp32 + sram-45nm" in table
    assert re.search(r"533\.3 million synaptic events", text) and report.totals["synops"] == pytest.approx(
        533.3e6, rel=1e-3
    )
