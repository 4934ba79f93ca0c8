"""The HTML report's sections beyond the totals and the table: the memory breakdown by access kind (its
energies checked against the memory model's prices), compute beside memory on a log axis, ratios worded
with their direction, silent layers, NeuroBench's figures, the per-step spike-rate strip and the
firing-rate maps; and the page rendered in headless Chromium shows them."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from report_fixtures import spiking_report
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

import syops
from syops.memory import MemoryModel
from syops.traffic import ACCESS_KINDS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXTERNAL = re.compile(r"https?:|//[a-z0-9]|@import|url\(|<link|\bsrc=|\bhref=|\bsrcset=|<iframe|<object", re.I)
ROOT = Path(__file__).resolve().parent.parent


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(document: str) -> _Elements:
    parser = _Elements()
    parser.feed(document)
    return parser


def memory_report() -> syops.Report:
    return spiking_report(memory="sram-45nm")


def test_memory_energy_by_kind_adds_up_and_is_priced_by_the_memory_model():
    report = memory_report()
    model = report.memory_model
    for row in report.layers:
        kinds = row.memory_energy_by_kind_mj
        assert set(kinds) == set(ACCESS_KINDS)
        assert math.fsum(kinds.values()) == pytest.approx(row.memory_energy_mj, rel=1e-12, abs=1e-18)
    linear = report.layer("5")  # a Linear on spikes: every weight read from its parameters' memory
    words = linear.params  # weights and bias, one word each
    assert linear.memory_energy_by_kind_mj["weight_reads"] == pytest.approx(
        linear.memory["weight_reads"] * model.access_pj(words) * 1e-9, rel=1e-12
    )
    halved = report.per_timestep().layer("5")
    assert halved.memory_energy_by_kind_mj["weight_reads"] == pytest.approx(
        linear.memory_energy_by_kind_mj["weight_reads"] / report.timesteps
    )


def test_memory_breakdown_section():
    report = memory_report()
    page = _parse(report.to_html())
    kinds = {a["data-kind"]: float(a["data-mj"]) for tag, a in page.elements if tag == "rect" and "data-kind" in a}
    for kind, mj in kinds.items():  # the model-wide bar: each kind's memory energy over all layers
        assert mj == pytest.approx(math.fsum(x.memory_energy_by_kind_mj[kind] for x in report.layers), rel=1e-12)
    assert set(kinds) == {k for k in ACCESS_KINDS if any(x.memory_energy_by_kind_mj[k] for x in report.layers)}
    table_rows = [a["data-name"] for tag, a in page.elements if tag == "tr" and a.get("class") == "mem"]
    assert [x.name for x in report.layers if x.memory_energy_mj > 0] == table_rows
    text = "".join(page.text)
    assert "weight reads" in text and "state writes" in text and "output writes" in text
    compute_only = spiking_report()  # memory="none": said so, no bar
    assert "No memory model priced this profile" in compute_only.to_html()


def test_log_chart_keeps_compute_visible():
    report = memory_report()
    page = _parse(report.to_html())
    inside = False
    widths: dict[str, dict[str, float]] = {}
    for tag, a in page.elements:
        if tag == "svg":
            inside = a.get("id") == "log-chart"
        elif inside and tag == "g":
            current = widths.setdefault(a["data-layer"], {})
        elif inside and tag == "rect" and a.get("class") in ("compute", "memory"):
            current[a["class"]] = float(a["width"])
    assert set(widths) == {x.name for x in report.layers if x.energy_mj > 0}
    values = [v for x in report.layers for v in (x.compute_energy_mj, x.memory_energy_mj) if v > 0]
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    for name, bars in widths.items():  # each bar's length: its energy's decades above the axis' start
        row = report.layer(name)
        for kind, mj in (("compute", row.compute_energy_mj), ("memory", row.memory_energy_mj)):
            assert bars[kind] == pytest.approx(520 * (math.log10(mj) - low) / (high - low), abs=0.01), (name, kind)
    # compute 20× below memory is still a bar of its own (on a linear chart it would be a sliver)
    row = report.layer("0")
    assert row.memory_energy_mj > 10 * row.compute_energy_mj and widths["0"]["compute"] > 0.3 * widths["0"]["memory"]


def test_ratios_say_which_way():
    report = memory_report()
    document = report.to_html().replace("&#x27;", "'")
    totals = report.totals
    energy = totals["energy_mj"] / totals["ann_energy_mj"]
    compute = totals["compute_energy_mj"] / totals["ann_compute_energy_mj"]
    assert f"The SNN (energy per sample) costs {energy:.3g}× the ANN run once" in document
    assert f"The SNN's compute costs {compute:.3g}× the ANN's compute" in document
    assert f"the SNN costs {energy:.3g}× this" in document  # the card
    if compute < 1:
        assert f"{1 / compute:.3g}× less" in document


def test_silent_layers_are_called_out():
    report = memory_report()
    silent = [x for x in report.layers if x.output_spike_rate == 0]
    assert silent, "the fixture's last LIF layer does not fire"
    page = _parse(report.to_html())
    callout = next(a for tag, a in page.elements if a.get("id") == "silent-layers")
    assert callout is not None
    text = "".join(page.text)
    assert all(f"{x.name} ({x.type})" in text for x in silent)
    firing = spiking_report(memory="none")
    for row in firing.layers:  # a report without a silent layer has no callout
        if row.output_spike_rate == 0:
            row.output_spike_rate = 0.5
    assert 'id="silent-layers"' not in firing.to_html()


def test_neurobench_block():
    report = memory_report()
    document = report.to_html()
    figures = report.neurobench()
    block = document[document.index('id="neurobench"') :]
    for name in figures:
        assert f"<dt>{name}</dt>" in block
    assert f"Effective_ACs {syops.units.human(figures['synaptic_operations']['Effective_ACs'])}" in block


def test_per_step_strip_and_rate_maps():
    report = memory_report()
    page = _parse(report.to_html())
    cells = [(a, float(a["data-rate"])) for tag, a in page.elements if tag == "svg" and a.get("class") == "step"]
    expected = [r for x in report.layers if x.spike_rate_per_step for r in x.spike_rate_per_step]
    assert [rate for _, rate in cells] == expected and len(expected) == 2 * report.timesteps
    maps = [a["data-layer"] for tag, a in page.elements if tag == "figure"]
    assert maps == [x.name for x in report.layers if x.output_spike_rate is not None]


def test_large_maps_are_averaged_down():
    from syops.export.html_sections import MAP_CELLS, _grid

    rates = torch.rand(3, 70, 50, generator=torch.Generator().manual_seed(0))
    grid, what = _grid(rates)
    assert len(grid) <= MAP_CELLS and len(grid[0]) <= MAP_CELLS
    mean = rates.double().mean(0)
    assert grid[0][0] == pytest.approx(float(mean[:3, :2].mean()))  # 3×2 blocks
    assert "3×2 blocks averaged" in what
    vector, what = _grid(torch.arange(10.0))
    assert len(vector) == 4 and math.isnan(vector[3][3]) and vector[2][1] == 9.0 and "rows of 4" in what


def test_page_stays_offline():
    assert EXTERNAL.search(memory_report().to_html()) is None


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile_dir = tmp_path / "chromium-profile"
    profile_dir.mkdir(exist_ok=True)
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile_dir}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_rendered_page_shows_the_breakdown_and_per_step_charts(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing on a CI machine")
        pytest.skip("chromium is not installed")
    report = memory_report()
    page = tmp_path / "report.html"
    page.write_text(report.to_html(), encoding="utf-8")
    run = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    dom = _parse(run.stdout)
    ids = {a.get("id") for _, a in dom.elements}
    assert {"memory-kinds", "memory-table", "log-chart", "per-step", "rate-maps", "neurobench", "ratios"} <= ids
    assert len([a for tag, a in dom.elements if tag == "svg" and a.get("class") == "step"]) == 2 * report.timesteps


def _issue_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1), neuron.IFNode(), layer.MaxPool2d(2),
        layer.Conv2d(8, 8, 3, padding=1), neuron.LIFNode(v_threshold=0.25), layer.Flatten(),
        layer.Linear(8 * 4 * 4, 10), neuron.LIFNode(v_threshold=4.0),
    )  # fmt: skip
    functional.set_step_mode(net, "m")
    return net


@pytest.mark.skipif(not os.environ.get("SYOPS_SCREENSHOTS"), reason="writes docs/img (SYOPS_SCREENSHOTS=1)")
def test_write_docs_screenshot(tmp_path):
    """SYOPS_SCREENSHOTS=1: the screenshot docs/reports.md shows (docs/img/html-report.png)."""
    report = syops.profile(
        _issue_net(), (2, 8, 8), timesteps=6, time_layout="TB", input_encoding="poisson", memory="sram-45nm"
    )
    report.model = "spiking CNN"
    page = tmp_path / "report.html"
    page.write_text(report.to_html(), encoding="utf-8")
    shot = ROOT / "docs" / "img" / "html-report.png"
    shot.parent.mkdir(exist_ok=True)
    assert _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1100,3300", page.as_uri()).returncode == 0


def test_hand_built_memory_model_without_kinds_says_so():
    report = spiking_report()
    report.memory_model = MemoryModel("custom")
    for row in report.layers:
        row.memory = dict.fromkeys(ACCESS_KINDS, 1.0)
        row.memory_energy_mj = 1e-6
    assert "does not carry its memory energy by access kind" in report.to_html()
