"""The README's Python examples run as printed: the spiking ResNet-18 is seeded to the CLI's weights and
gives its 53.4 mJ, and the NIR snippets write a net.nir that the next snippet and the CLI profile."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import syops
from syops import zoo
from syops.cli.main import main as cli

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (block,) = [b for b in blocks if containing in b]
    return block


def _run(code: str, namespace: dict) -> dict:
    exec(compile(code, str(README), "exec"), namespace)
    return namespace


def test_spiking_example_builds_the_clis_weights():
    pytest.importorskip("spikingjelly")
    block = python_block("spiking_resnet18")
    assert block.index("torch.manual_seed(0)") < block.index("spiking_resnet18(")
    building = block.split("report = syops.profile")[0]
    snn = _run(building, {"torch": torch, "syops": syops})["snn"]
    cli_model = zoo.get("spiking_resnet18").make(seed=0)  # what `syops profile spiking_resnet18` builds
    mine, theirs = snn.state_dict(), cli_model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)


@pytest.mark.slow
def test_spiking_example_prints_the_clis_energy():
    pytest.importorskip("spikingjelly")
    block = python_block("spiking_resnet18")
    report = _run(block, {"torch": torch, "syops": syops})["report"]
    energy, ann, rate = report.totals["energy_mj"], report.ann_energy_mj, report.mean_spike_rate
    assert f"{energy:.1f} mJ, {ann:.2f} mJ, {rate:.3f}" in block  # the figures the comment states
    assert f"{energy:.1f}" == "53.4"


def test_nir_snippets_write_and_profile_net_nir(tmp_path, monkeypatch):
    pytest.importorskip("nir")
    monkeypatch.chdir(tmp_path)
    _run(python_block("nir.write("), {})
    assert (tmp_path / "net.nir").is_file()
    namespace = _run(python_block('nir.read("net.nir")'), {"syops": syops})
    report = namespace["report"]
    assert [layer.name for layer in report.layers] == ["fc1", "lif1", "fc2"]
    assert 0 < report.layer("lif1").output_spike_rate < 1  # the neurons fire, and not always
    assert isinstance(namespace["module"], torch.nn.Module)
    result = CliRunner().invoke(cli, ["profile", "net.nir", "--timesteps", "10", "--dt", "1e-4", "--encoding",
                                      "poisson", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "syops profile net.nir --timesteps 10 --dt 1e-4 --encoding poisson" in README.read_text(encoding="utf-8")


def test_zoo_document_says_what_each_ratio_divides():
    for sentence in (
        "*Compute vs ANN* divides the model's compute energy by the ANN's compute energy",
        "*Energy vs ANN*\n  divides the model's energy (compute + memory) by the ANN's energy (compute + memory)",
        "Above 1× the\n  model costs more than the ANN",
    ):
        assert sentence in zoo.DOCUMENT_HEAD
    checked_in = (README.parent / "model_zoo_results.md").read_text(encoding="utf-8")
    assert checked_in.startswith(zoo.DOCUMENT_HEAD)  # the file's explanation is the generator's


def _blocks_with_output() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"```python\n((?:(?!```).)*)```\n\nprints\n\n```\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks_with_output())))
def test_python_blocks_print_what_the_readme_says(index, capsys):
    """Each README example followed by "prints" prints exactly that (its figures are measured, not typed)."""
    pytest.importorskip("spikingjelly")
    code, printed = _blocks_with_output()[index]
    _run(code, {"__name__": "readme"})
    assert capsys.readouterr().out == printed
