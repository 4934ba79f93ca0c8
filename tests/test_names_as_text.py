"""Names are text in every output: never rich markup, a terminal control sequence, Markdown/HTML, a
spreadsheet formula, or LaTeX that does not compile (issue 18)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import shutil

import pytest
from click.testing import CliRunner
from latex_tools import compile_tables
from report_fixtures import spiking_report, with_memory
from rich.console import Console

from syops.cli.main import main as cli
from syops.dynapcnn import DynapcnnLayerReport, DynapcnnReport
from syops.energy import EnergyModel
from syops.report import LAYER_FIELDS, flat_fields

HOSTILE = (
    "[/x]",
    "[red]fc",
    "[link=https://evil.example]click[/link]",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "two\nlines",
    "\u202egnp.exe",
    "a|b",
    "<script>alert(1)</script>",
    '=HYPERLINK("https://evil.example")',
)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # all but the newline


def hostile_report(memory: bool = False):
    report = spiking_report()
    if memory:
        report = with_memory(report)
    count = len(report.layers)
    for index, layer in enumerate(report.layers):  # every hostile name in some layer's name
        layer.name = "".join(HOSTILE[index::count])
    report.model = "[bold]net[/bold]\x1b[2J"
    return report


def printed(renderable, width: int = 400, terminal: bool = False) -> str:
    console = Console(
        file=io.StringIO(),
        width=width,
        force_terminal=terminal,
        color_system="truecolor" if terminal else None,
    )
    console.print(renderable)
    return console.file.getvalue()


def test_terminal_table_shows_names_as_written():
    report = hostile_report()
    plain = printed(report)  # today: MarkupError on "[/x]"
    assert not CONTROL.search(plain)
    for name in ("[/x]", "[red]fc", "[link=https://evil.example]click[/link]", "two\\nlines", "\\x1b[31mred"):
        assert name in plain
    assert "[bold]net[/bold]\\x1b[2J" in plain
    coloured = printed(report, terminal=True)
    assert "\x1b]8;" not in coloured  # no live hyperlink
    # the only escape sequences are rich's own styles (SGR), none from a name
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", coloured)


def test_summary_and_notes_are_text():
    report = hostile_report()
    report.notes.append("[/note] \x1b[31m")
    report.energy_model = EnergyModel(name="[/e]\x07", e_ac_pj=0.9, e_mac_pj=4.6)
    text = printed(report.summary_text())
    assert "[/note] \\x1b[31m" in text and "[/e]\\x07" in text and not CONTROL.search(text)


def test_markdown_rows_stay_rows():
    report = hostile_report()
    text = report.to_markdown()
    lines = text.splitlines()
    fields = flat_fields(LAYER_FIELDS)
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| name", "| params"))]
    assert len(rows) == len(report.layers) + 1  # the layers and the totals row; no name ended a row
    layer_rows = rows[: len(report.layers)]
    assert all(line.count("|") == len(fields) + 1 for line in layer_rows)  # no unescaped pipe
    assert "<script" not in text and "&lt;script&gt;" in text and not CONTROL.search(text)
    assert r"two\\nlines" in text  # the newline shown, escaped for Markdown


def test_csv_neutralises_formulas_and_keeps_numbers():
    report = hostile_report()
    for name, layer in zip(("+1", "-2", "@SUM(A1)", "\tx", "=1+1", "plain"), report.layers[4:], strict=False):
        layer.type = name
    report.layers[0].energy_mj = -1.5  # a negative number stays a number
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    for row, layer in zip(rows, report.layers, strict=True):
        for key in ("name", "type"):
            value = getattr(layer, key)
            expected = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
            assert row[key] == expected
    assert rows[0]["energy_mj"] == "-1.5"


def test_html_escapes_names():
    text = hostile_report().to_html()
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_methods_paragraph_is_one_plain_paragraph():
    report = hostile_report()
    report.model = "net\n\nsecond paragraph\x1b[31m"
    text = report.methods()
    assert "\n" not in text and not CONTROL.search(text)


def test_dynapcnn_table_shows_names_as_written():
    layer = DynapcnnLayerReport(
        name="[/x]\x1b[31m",
        type="[red]Conv2d",
        kernel_memory=1,
        neuron_memory=1,
        bias_memory=0,
        kernel_memory_theoretical=1,
        neuron_memory_theoretical=1,
        input_shape=[2, 4, 4],
        output_shape=[2, 4, 4],
        fits_cores=[0],
        core=0,
        violations=[],
    )
    text = printed(DynapcnnReport(True, [layer], [], ["[/n]"], model="[link=x]m"))
    assert "[/x]\\x1b[31m" in text and "[red]Conv2d" in text and "[link=x]m" in text and "[/n]" in text


def test_compare_table_and_markdown(tmp_path):
    data = hostile_report().to_dict()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(data))
    data["layers"].append({**data["layers"][0], "name": "new\n| x |"})
    b.write_text(json.dumps(data))
    table = CliRunner().invoke(cli, ["compare", str(a), str(b)])
    assert table.exit_code == 0, table.output
    assert "[/x]" in table.stdout and "[red]fc" in table.stdout and not CONTROL.search(table.stdout)
    markdown = CliRunner().invoke(cli, ["compare", str(a), str(b), "--format", "markdown"]).stdout
    assert "<script" not in markdown and "- `new\\n| x |`" in markdown


def test_cli_notes_are_one_line_of_text(capsys):
    from syops.cli.output import note

    note("layer \x1b[31m[/x]\nname")
    err = capsys.readouterr().err
    assert err == "syops: note: layer \\x1b[31m[/x] name\n"


# -- LaTeX ------------------------------------------------------------------------------------------
NAMES = ("τ_mem", "层1", "Слой", "a\x00b", "first\n\nsecond", "naïve é ß Ω", "😀 x", "\x1b[31m")


def test_latex_names_are_ascii():
    from syops.export.latex import escape

    for name in NAMES:
        assert escape(name).isascii() and "\n" not in escape(name)
        assert not CONTROL.search(escape(name))
    assert escape("τ_mem") == r"$\tau$\_mem"
    assert escape("层1") == r"\texttt{U+5C42}1"
    assert escape("é") == r"\'{e}"


ENGINE = shutil.which("pdflatex")


@pytest.mark.skipif(ENGINE is None and not os.environ.get("CI"), reason="pdflatex is not installed")
def test_latex_compiles_whatever_the_names(tmp_path):
    assert ENGINE is not None, "CI=1: pdflatex must be installed (texlive-latex-base, texlive-latex-recommended)"
    report = with_memory(spiking_report())
    for layer, name in zip(report.layers, NAMES, strict=False):
        layer.name = name
    report.model = "Слой τ_mem\n\n层1\x00"
    report.energy_model = EnergyModel(name="e\n\nτ", e_ac_pj=0.9, e_mac_pj=4.6, source="Слой\x00 source")
    report.memory_model = dataclasses.replace(report.memory_model, name="m\n\nΩ")
    # only what the output says it needs: booktabs
    assert "needs \\usepackage{booktabs}" in report.to_latex()
    tables = {"layers": report.to_latex(), "blocks": report.to_latex(granularity="block")}
    log = compile_tables(ENGINE, tmp_path, tables)
    assert "Missing character" not in log


def test_plot_labels_are_text(tmp_path):
    pytest.importorskip("matplotlib")
    from syops.plot import plot_energy

    report = with_memory(spiking_report())
    report.layers[0].name = r"$\notacommand{$"
    report.model = "$x^$ \x1b[31m"
    path = plot_energy(report, tmp_path / "e.png")  # today: mathtext fails the drawing
    assert path.stat().st_size > 1000
