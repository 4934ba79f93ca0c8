"""A training step's phases in the reports people read: the HTML report's stacked bar per phase, the
Markdown and LaTeX phase tables, and `syops compare` on two training steps (or a step and an inference)."""

from __future__ import annotations

import json
import math
import re
import shutil

import pytest
import torch
from latex_tools import compile_tables

pytest.importorskip("spikingjelly")

from test_training import _binary_input, _profiled_step, _snn

import syops
from syops.cli.main import main as cli


@pytest.fixture(scope="module")
def step_report() -> syops.Report:
    net, x = _snn(), _binary_input()
    return _profiled_step(net, x, torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9))


def test_html_draws_one_bar_per_phase_of_its_compute_and_memory(step_report):
    html = step_report.to_html()
    bars = re.findall(r'<g class="phase" data-phase="(\w+)" data-energy-mj="([^"]+)">(.*?)</g>', html, flags=re.S)
    assert [name for name, _, _ in bars] == ["forward", "backward", "update"]
    for name, energy, body in bars:
        row = step_report.phases[name]
        assert float(energy) == row["energy_mj"]
        parts = {p: float(v) for p, v in re.findall(r'data-part="(\w+)" data-mj="([^"]+)"', body)}
        assert parts.get("compute", 0.0) == row["compute_energy_mj"]
        assert parts.get("memory", 0.0) == row["memory_energy_mj"]
        assert math.isclose(sum(parts.values()), row["energy_mj"], rel_tol=1e-12)
    assert f"{step_report.saved_for_backward_bytes:,.0f} bytes per sample" in html


def test_an_inference_report_has_no_training_section():
    net, x = _snn(), _binary_input()
    report = syops.profile(net, inputs=x, time_layout="TB")
    assert report.phases is None
    assert "phase-chart" not in report.to_html() and "| phase |" not in report.to_markdown()
    assert "phases" not in report.to_latex()


def test_markdown_and_latex_carry_the_phase_table(step_report):
    markdown = step_report.to_markdown()
    for name in ("forward", "backward", "update"):
        row = step_report.phases[name]
        assert f"| {name} | {row['acs']:.6g} | {row['macs']:.6g} |" in markdown
    assert f"training step {step_report.training_energy_mj:.6g} mJ per sample" in markdown
    latex = step_report.to_latex()
    assert latex.count(r"\begin{table}") == 2 and "-phases}" in latex
    backward = step_report.phases["backward"]
    assert f"backward & {backward['acs']:.4g} & {backward['macs']:.4g}" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_latex_of_a_training_step_compiles(step_report, tmp_path):
    compile_tables(shutil.which("pdflatex"), tmp_path, {"step": step_report.to_latex()})


def _two_steps(tmp_path):
    paths = []
    for lr in (0.1, 0.1):
        net, x = _snn(), _binary_input()
        report = _profiled_step(
            net, x, torch.optim.Adam(net.parameters(), lr=lr) if paths else torch.optim.SGD(net.parameters(), lr=lr)
        )
        path = tmp_path / f"step{len(paths)}.json"
        path.write_text(report.to_json(), encoding="utf-8")
        paths.append((path, report))
    return paths


def test_compare_gives_each_training_figure_b_against_a(tmp_path):
    from click.testing import CliRunner

    (a_path, a), (b_path, b) = _two_steps(tmp_path)  # SGD then Adam: the same forward and backward
    result = CliRunner().invoke(cli, ["compare", str(a_path), str(b_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    training = json.loads(result.output)["training"]
    assert training["training_energy_mj"]["a"] == a.training_energy_mj
    assert training["training_energy_mj"]["b"] == b.training_energy_mj
    assert training["update.macs"]["a"] == a.phases["update"]["macs"]
    assert training["update.macs"]["b"] == b.phases["update"]["macs"] > a.phases["update"]["macs"]
    assert training["backward.acs"]["diff"] == 0  # the optimizer does not change the backward
    table = CliRunner().invoke(cli, ["compare", str(a_path), str(b_path)])
    assert "Training step, per sample (B against A):" in table.output and "update.macs" in table.output
    markdown = CliRunner().invoke(cli, ["compare", str(a_path), str(b_path), "--format", "markdown"])
    assert "- training_energy_mj:" in markdown.output


def test_compare_says_when_only_one_report_is_a_training_step(tmp_path):
    from click.testing import CliRunner

    (step_path, _), _ = _two_steps(tmp_path)
    net, x = _snn(), _binary_input()
    inference = tmp_path / "inference.json"
    inference.write_text(syops.profile(net, inputs=x, time_layout="TB").to_json(), encoding="utf-8")
    result = CliRunner().invoke(cli, ["compare", str(inference), str(step_path), "--format", "json"])
    data = json.loads(result.output)
    assert data["training"] == {}
    assert (
        "the reports differ in what was counted: B is a training step, the other inference only" in data["differences"]
    )
