"""Notebook display and DataFrames: ``Report._repr_html_`` / ``to_pandas`` on a spiking and a dense report
(rows, columns, values equal to ``to_dict``), the same for a DYNAP-CNN report, and a real notebook executed
by nbconvert whose output cell holds the table."""

from __future__ import annotations

import builtins
import json
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from report_fixtures import spiking_report
from torch import nn

import syops
from syops.errors import SyopsError
from syops.report import LAYER_FIELDS, flat_fields
from syops.traffic import ACCESS_KINDS

ROOT = Path(__file__).resolve().parent.parent


class _Cells(HTMLParser):
    """The text of every table cell, row by row, by section (thead / tbody / tfoot); every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}
        self.tags: list[str] = []
        self._section = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in self.sections:
            self._section = tag
        elif tag == "tr" and self._section:
            self.sections[self._section].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.sections[self._section][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Cells:
    parser = _Cells()
    parser.feed(html)
    return parser


def dense_report() -> syops.Report:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    return syops.profile(net, (3, 8, 8))


REPORTS = {"spiking": lambda: spiking_report(memory="sram-45nm"), "dense": dense_report}


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_repr_html_has_every_layer_and_the_totals(kind):
    report = REPORTS[kind]()
    html = report._repr_html_()
    cells = _parse(html)
    assert "script" not in cells.tags and "<script" not in html.lower()
    assert [row[0] for row in cells.sections["tbody"]] == [layer.name or "(model)" for layer in report.layers]
    assert [row[1] for row in cells.sections["tbody"]] == [layer.type for layer in report.layers]
    foot = cells.sections["tfoot"][0]
    head = cells.sections["thead"][0]
    assert foot[0] == "Total" and len(foot) == len(head)
    assert foot[head.index("Params")] == syops.units.human(report.totals["params"])
    # the summary line: energy, and each ratio to the ANN baseline worded with its direction
    text = html.replace("&#x27;", "'")
    totals = report.totals
    who = "the SNN" if kind == "spiking" else "the model"
    assert f"{who} costs {totals['energy_mj'] / totals['ann_energy_mj']:.3g}× the ANN run once" in text
    assert f"{who}'s compute costs {totals['compute_energy_mj'] / totals['ann_compute_energy_mj']:.3g}×" in text
    assert f"Energy {syops.notebook.energy_text(totals['energy_mj'])} per sample" in text
    # no colour of its own: text and backgrounds inherit the notebook theme (light or dark)
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b|rgba?\(|hsl|(?<![-\w])(white|black)(?![-\w])", style)
    assert "currentColor" in style and "color:inherit" in style


def test_repr_html_escapes_names():
    torch.manual_seed(0)
    outer = nn.Module()
    outer.add_module("<b>x&y</b>", nn.Linear(4, 3))
    outer.forward = lambda x: outer.get_submodule("<b>x&y</b>")(x)
    report = syops.profile(outer, (4,))
    html = report._repr_html_()
    assert "<b>x&y</b>" not in html and "&lt;b&gt;x&amp;y&lt;/b&gt;" in html


def _same(frame_value, dict_value) -> bool:
    if dict_value is None:
        return frame_value is None or (isinstance(frame_value, float) and math.isnan(frame_value))
    if isinstance(dict_value, list):
        return list(frame_value) == dict_value
    return frame_value == dict_value


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_to_pandas_equals_to_dict(kind):
    pytest.importorskip("pandas") if not os.environ.get("CI") else None
    report = REPORTS[kind]()
    frame = report.to_pandas()
    data = report.to_dict()
    assert list(frame.columns) == flat_fields(LAYER_FIELDS)
    assert "spike_rate_per_step" in frame.columns and all(f"memory.{k}" in frame.columns for k in ACCESS_KINDS)
    assert len(frame) == len(data["layers"])
    for (_, row), layer in zip(frame.iterrows(), data["layers"], strict=True):
        for name, value in layer.items():
            if name == "memory":
                for k in ACCESS_KINDS:
                    assert _same(row[f"memory.{k}"], None if value is None else value[k]), (layer["name"], k)
            else:
                assert _same(row[name], value), (layer["name"], name)
    assert frame.attrs["model"] == data["model"] and frame.attrs["totals"] == data["totals"]
    if kind == "spiking":
        neurons = frame[frame["neurons"].notna()]
        assert len(neurons) == 2 and all(len(rates) == report.timesteps for rates in neurons["spike_rate_per_step"])


def test_to_pandas_without_pandas_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(SyopsError, match=r"needs pandas.*pip install 'syops\[pandas\]'"):
        dense_report().to_pandas()


def _dynapcnn_report():
    import sinabs.layers as sl

    from syops.dynapcnn import dynapcnn_report

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2), nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10), sl.IAFSqueeze(batch_size=1),
    )  # fmt: skip
    return dynapcnn_report(net, (2, 16, 16))


def test_dynapcnn_report_in_notebooks():
    report = _dynapcnn_report()
    cells = _parse(report._repr_html_())
    assert [row[0] for row in cells.sections["tbody"]] == [layer.name for layer in report.layers]
    assert cells.sections["tfoot"][0][0] == "Total"
    pytest.importorskip("pandas") if not os.environ.get("CI") else None
    frame = report.to_pandas()
    data = report.to_dict()
    assert len(frame) == len(data["layers"]) and list(frame.columns) == list(data["layers"][0])
    for (_, row), layer in zip(frame.iterrows(), data["layers"], strict=True):
        assert all(_same(row[k], v) for k, v in layer.items())
    assert frame.attrs["fits"] == data["fits"] and frame.attrs["totals"] == data["totals"]


NOTEBOOK_CODE = """
import torch, syops
from torch import nn
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
report = syops.profile(net, (3, 8, 8))
report
"""


def _nbconvert_available() -> bool:
    try:
        import ipykernel  # noqa: F401
        import nbconvert  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _nbconvert_available() and not os.environ.get("CI"), reason="nbconvert/ipykernel missing")
def test_a_real_notebook_shows_the_table(tmp_path):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CODE.strip())]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "report.ipynb"
    nbformat.write(notebook, path)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "run.ipynb", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    executed = json.loads((tmp_path / "run.ipynb").read_text())
    outputs = executed["cells"][0]["outputs"]
    shown = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    html = "".join("".join(part) if isinstance(part, list) else part for part in shown)  # lines, in the file
    cells = _parse(html)
    assert [row[0] for row in cells.sections["tbody"]] == ["0", "1", "3"]
    assert cells.sections["tfoot"][0][0] == "Total" and "× the ANN run once" in html


SCREENSHOT_CODE = [
    """import torch, syops
from torch import nn
from spikingjelly.activation_based import functional, layer, neuron

torch.manual_seed(0)
net = nn.Sequential(
    layer.Conv2d(2, 8, 3, padding=1), neuron.IFNode(), layer.MaxPool2d(2),
    layer.Flatten(), layer.Linear(8 * 4 * 4, 10), neuron.LIFNode(),
)
functional.set_step_mode(net, "m")
report = syops.profile(net, (2, 8, 8), timesteps=4, time_layout="TB", input_encoding="poisson")
report""",
    """report.to_pandas()[["name", "type", "synops", "output_spike_rate", "spike_rate_per_step", "energy_mj"]]""",
]


@pytest.mark.skipif(not os.environ.get("SYOPS_SCREENSHOTS"), reason="writes docs/img (SYOPS_SCREENSHOTS=1)")
def test_write_docs_screenshot(tmp_path):
    """SYOPS_SCREENSHOTS=1: a real notebook run (nbconvert), rendered to HTML and photographed by headless
    Chromium, as docs/reports.md shows it (docs/img/notebook-report.png)."""
    import shutil

    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(code) for code in SCREENSHOT_CODE]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "report.ipynb")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "nbconvert", "--to", "html", "--execute", "--output", "run.html", "report.ipynb"]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    shot = ROOT / "docs" / "img" / "notebook-report.png"
    shot.parent.mkdir(exist_ok=True)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    profile = tmp_path / "chromium-profile"
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", f"--screenshot={shot}",
         "--window-size=1100,900", (tmp_path / "run.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
