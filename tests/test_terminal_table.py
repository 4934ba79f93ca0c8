"""The terminal table fits the width it is printed in, one line per row (issue 19); --columns picks its
columns; a very large report prints its costliest layers and sums up the rest (issue 18)."""

from __future__ import annotations

import io
import json
import math

import pytest
from click.testing import CliRunner
from report_fixtures import spiking_report, with_memory
from rich.cells import cell_len
from rich.console import Console
from torch import nn

from syops.cli.main import main as cli
from syops.report import LayerStats
from syops.report_table import REPORT_DROP_ORDER, TABLE_ROW_LIMIT, shown_layers

HERE = __name__
LONG = "encoder.stage_three.residual_block_with_a_very_long_descriptive_name"


def long_named_net() -> nn.Module:
    inner = nn.Sequential()
    inner.add_module(LONG.replace(".", "_"), nn.Linear(8, 16))
    inner.add_module("relu", nn.ReLU())
    net = nn.Sequential()
    net.add_module("encoder", inner)
    net.add_module("head", nn.Linear(16, 4))
    return net


def invoke(*args: str, columns: int | None = None):
    env = {"COLUMNS": str(columns)} if columns else {"COLUMNS": ""}
    return CliRunner().invoke(cli, list(args), env=env)


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_cli_table_fits_columns(width):
    result = invoke("profile", f"{HERE}:long_named_net", "--input-shape", "8", columns=width)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    rows = table_rows(result.stdout)
    assert len(rows) == 3 + 1  # three layers and the total, each on one line
    assert rows[-1].startswith("│ Total")
    assert any("…" in row for row in rows)  # the long name is cut in the table...
    data = json.loads(invoke("profile", f"{HERE}:long_named_net", "--input-shape", "8", "--format", "json").stdout)
    assert any(layer["name"] == f"encoder.{LONG.replace('.', '_')}" for layer in data["layers"])  # ...not here


def test_pipe_default_width_is_documented():
    from syops.cli.output import TABLE_WIDTH

    result = invoke("profile", f"{HERE}:long_named_net", "--input-shape", "8")
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= TABLE_WIDTH


@pytest.mark.parametrize("memory", [False, True])
def test_every_width_fits_and_rows_stay_whole(memory):
    report = spiking_report()
    if memory:
        report = with_memory(report)
    report.layers[2].name = "层" * 30  # wide characters count two cells
    for width in range(24, 220, 7):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(report.table())
        text = console.file.getvalue()
        assert max(cell_len(line) for line in text.splitlines()) <= width, width
        assert len(table_rows(text)) == len(report.layers) + 1


def test_columns_are_dropped_in_the_stated_order():
    report = with_memory(spiking_report())
    headers_seen = []
    for width in range(200, 30, -4):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(report.table())
        header = next(line for line in console.file.getvalue().splitlines() if line.startswith("┃"))
        headers_seen.append([cell.strip() for cell in header.strip("┃").split("┃")])
    every = headers_seen[0]
    gone = []
    for headers in headers_seen:
        for header in every:
            if header not in headers and header not in gone:
                gone.append(header)
    names = dict(zip(REPORT_DROP_ORDER, gone, strict=False))
    headers_by_key = {
        "in_events": "In events",
        "dense_macs": "Dense MACs",
        "macs": "MACs",
        "acs": "ACs",
        "params": "Params",
        "compute": "Compute",
        "memory": "Memory",
        "type": "Type",
        "spike_rate": "Spike rate",
        "synops": "SynOps",
    }
    assert [headers_by_key[k] for k in names] == gone
    assert "Layer" in headers_seen[-1] and "Energy" in headers_seen[-1]


def test_columns_option():
    args = ("profile", f"{HERE}:long_named_net", "--input-shape", "8")
    result = invoke(*args, "--columns", "layer,energy,synops", columns=200)
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["Layer", "Energy", "SynOps"]
    bad = invoke(*args, "--columns", "layer,joules")
    assert bad.exit_code == 2 and "joules" in bad.stderr and bad.stderr.strip().count("\n") == 0
    wrong_format = invoke(*args, "--columns", "layer", "--format", "json")
    assert wrong_format.exit_code == 2 and "--columns" in wrong_format.stderr


def test_compare_table_fits(tmp_path):
    data = with_memory(spiking_report()).to_dict()
    a = tmp_path / "a.json"
    a.write_text(json.dumps(data))
    for width in (80, 100, 120):
        result = invoke("compare", str(a), str(a), columns=width)
        assert result.exit_code == 0, result.output
        assert max(cell_len(line) for line in result.stdout.splitlines()) <= width
        assert len(table_rows(result.stdout)) == len(data["layers"]) + 1
    picked = invoke("compare", str(a), str(a), "--columns", "layer,energy_pct", columns=200)
    header = next(line for line in picked.stdout.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["Layer", "energy_mj Δ%"]


def test_big_report_shows_the_costliest_layers_and_sums_the_rest():
    report = spiking_report()
    n = TABLE_ROW_LIMIT * 3
    report.layers = [
        LayerStats(
            name=f"l{i}",
            type="Linear",
            params=i,
            calls=1,
            dense_macs=float(i),
            acs=0.0,
            macs=float(i),
            synops=0.0,
            input_event_rate=None,
            neurons=None,
            output_spike_rate=None,
            energy_mj=float((i * 7919) % n),  # every energy distinct, in no order
            compute_energy_mj=float((i * 7919) % n),
        )
        for i in range(n)
    ]
    shown, rest = shown_layers(report.layers)
    assert len(shown) == TABLE_ROW_LIMIT and len(rest) == n - TABLE_ROW_LIMIT
    threshold = sorted((layer.energy_mj for layer in report.layers), reverse=True)[TABLE_ROW_LIMIT - 1]
    assert all(layer.energy_mj >= threshold for layer in shown)
    assert [layer.name for layer in shown] == sorted((layer.name for layer in shown), key=lambda s: int(s[1:]))
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(report.table())
    rows = table_rows(console.file.getvalue())
    assert len(rows) == TABLE_ROW_LIMIT + 2
    summed = rows[-2]
    assert f"… {n - TABLE_ROW_LIMIT:,} more layers" in summed
    rest_energy = math.fsum(layer.energy_mj for layer in rest)
    assert f"{rest_energy:.3g} mJ" in summed
