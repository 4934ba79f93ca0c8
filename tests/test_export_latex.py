"""``Report.to_latex()``: checked structurally always (column count, booktabs rules, escaping, a totals
row that sums the rows, units in the header, the caption), and compiled where a TeX engine exists."""

from __future__ import annotations

import math
import re
import shutil

import pytest
from latex_tools import compile_tables
from report_fixtures import spiking_report, with_memory

from syops import SyopsError
from syops.export.latex import escape

SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "mJ": 1.0, r"$\mu$J": 1e-3, "nJ": 1e-6, "pJ": 1e-9}


def _table(text: str) -> tuple[str, list[str], list[list[str]], list[str]]:
    """Column spec, header cells, body rows and the totals row of the first tabular in ``text``."""
    spec = re.search(r"\\begin\{tabular\}\{(.*)\}\n", text).group(1)
    body = text.split("\\begin{tabular}", 1)[1].split("\\end{tabular}", 1)[0]
    assert body.count(r"\toprule") == 1 and body.count(r"\bottomrule") == 1 and body.count(r"\midrule") == 2
    rows = [line.removesuffix(r" \\") for line in body.splitlines() if line.endswith(r" \\")]
    cells = [_split(row) for row in rows]
    return spec, cells[0], cells[1:-1], cells[-1]


def _split(row: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)&", row)]


def _columns(spec: str) -> int:
    return len(re.sub(r"@\{[^}]*\}", "", spec))


def _number(cell: str) -> float:
    """A printed number; "<0.01" (a value below the column's resolution) reads as half of it."""
    if cell.startswith("$<$"):
        return float(cell[3:]) / 2
    return float(cell.replace(r"\,", ""))


def _check_sums(header: list[str], rows: list[list[str]], total: list[str]) -> None:
    """Every numeric column's total is the sum of its rows (to the rounding of the printed digits)."""
    for index, title in enumerate(header):
        if "rate" in title or index < 2:
            continue
        values = [_number(r[index]) for r in rows]
        digits = max((len(c.split(".")[1]) if "." in c else 0) for c in [*[r[index] for r in rows], total[index]])
        assert _number(total[index]) == pytest.approx(math.fsum(values), abs=len(rows) * 0.5 * 10**-digits), title


def test_layer_table_structure_totals_and_units():
    report = spiking_report()
    text = report.to_latex()
    spec, header, rows, total = _table(text)
    n = _columns(spec)
    assert n == len(header) == 9 and all(len(r) == n for r in [*rows, total])
    assert [r[0] for r in rows] == [x.name for x in report.layers] and [r[1] for r in rows] == [
        x.type for x in report.layers
    ]
    assert total[0] == "Total"
    _check_sums(header, rows, total)
    # units in the header, and the printed totals are the report's totals in those units
    for title, key in (("Params", "params"), ("SynOps", "synops"), ("ACs", "acs"), ("Energy", "energy_mj")):
        column = next(i for i, h in enumerate(header) if h.split(" (")[0] == title)
        unit = re.search(r"\((.*)\)", header[column]).group(1) if "(" in header[column] else ""
        expected = report.totals[key] / SCALE[unit]
        assert _number(total[column]) == pytest.approx(expected, rel=0.01, abs=0.006), title
    assert "Spike rate (\\%)" in header
    rate = report.mean_spike_rate
    assert _number(total[header.index("Spike rate (\\%)")]) == pytest.approx(100 * rate, abs=0.006)
    caption = re.search(r"\\caption\{(.*)\}\n", text).group(1)
    for part in ("Sequential", r"2$\times$8$\times$8", "$T = 4$", "45nm-fp32", "AC 0.9~pJ", "MAC 4.6~pJ", "Horowitz"):
        assert part in caption, part


def test_small_values_never_print_as_zero():
    report = spiking_report()
    report.layers[0].params = 2_000_000  # the column is in M with two decimals; the Linear's 650 are not 0
    _, header, rows, total = _table(report.to_latex())
    column = header.index("Params (M)")
    linear = next(i for i, x in enumerate(report.layers) if x.type == "Linear")
    assert rows[linear][column] == "$<$0.01" and rows[0][column] == "2.00" and total[column] == "2.00"
    assert rows[linear + 1][column] == "0"  # a neuron layer has no parameters: a true zero


def test_block_rows_sum_their_layers():
    report = spiking_report()
    report.layers[0].name, report.layers[1].name = "stem.conv", "stem.bn"
    spec, header, rows, total = _table(report.to_latex(granularity="block"))
    assert header[:2] == ["Block", "Layers"] and rows[0][:2] == ["stem", "2"]
    assert len(rows) == len(report.layers) - 1 and all(len(r) == _columns(spec) for r in rows)
    _check_sums(header, rows, total)
    layer_total = _table(report.to_latex())[3]
    assert total[2:] == layer_total[2:]  # grouping moves nothing between columns


def test_memory_columns():
    report = with_memory(spiking_report())
    spec, header, rows, total = _table(report.to_latex())
    assert [h.split(" (")[0] for h in header[-3:]] == ["Compute", "Memory", "Energy"] and _columns(spec) == 11
    _check_sums(header, rows, total)
    assert "memory model sram-test (16-bit words, dense reuse none)" in report.to_latex()


ODD = "we_ird&name%$#{x}~^\\<>"


def test_special_characters_are_escaped():
    assert escape(ODD) == (
        r"we\_ird\&name\%\$\#\{x\}\textasciitilde{}\textasciicircum{}\textbackslash{}\textless{}\textgreater{}"
    )
    report = spiking_report()
    report.model = "net_v2 & 50% #1"
    report.layers[0].name = ODD
    text = report.to_latex()
    _, header, rows, _ = _table(text)
    assert rows[0][0] == escape(ODD) and len(rows[0]) == len(header)
    assert r"\texttt{net\_v2 \& 50\% \#1}" in text and "\\label{tab:syops-net-v2-50-1}" in text
    unescaped = re.sub(r"\\[&%$#_{}]|\\text\w+\{\}|\$\\(times|mu)\$", "", text.split("\\begin{tabular}")[1])
    assert not re.search(r"[%$#_~^]", unescaped.replace(r"\\", "").replace("@{}", ""))


def test_bad_options():
    report = spiking_report()
    with pytest.raises(SyopsError, match="granularity"):
        report.to_latex(granularity="module")
    with pytest.raises(SyopsError, match="block_depth"):
        report.to_latex(granularity="block", block_depth=0)


ENGINE = next((e for e in ("pdflatex", "lualatex", "xelatex") if shutil.which(e)), None)


@pytest.mark.skipif(ENGINE is None, reason="no TeX engine installed (pdflatex, lualatex or xelatex)")
def test_compiles(tmp_path):
    report = with_memory(spiking_report())
    report.model = "net_v2 & 50% #1"
    report.layers[0].name = ODD
    tables = {"layers": report.to_latex(), "blocks": report.to_latex(granularity="block")}
    compile_tables(ENGINE, tmp_path, tables, preamble="\\usepackage[margin=1cm,landscape]{geometry}\n")
    assert (tmp_path / "doc.pdf").stat().st_size > 1000
