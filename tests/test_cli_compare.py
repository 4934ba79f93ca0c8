"""``syops compare A.json B.json``: differences by layer (name + type) and in total, layers in only one
report listed, the ``--max-increase`` gate (exit 1), and broken input (one line, exit 2)."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner
from report_fixtures import spiking_cnn, spiking_report

from syops import profile
from syops.cli.main import main as cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def base() -> dict:
    return spiking_report().to_dict()


def _write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def _scaled(report: dict, factor: float, metric: str = "energy_mj") -> dict:
    out = copy.deepcopy(report)
    out["totals"][metric] *= factor
    for layer in out["layers"]:
        layer[metric] *= factor
    return out


def test_identical_reports(tmp_path, base):
    a, b = _write(tmp_path, "a.json", base), _write(tmp_path, "b.json", base)
    result = invoke("compare", a, b, "--max-increase", "0")
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and "Only in" not in result.stdout
    data = json.loads(invoke("compare", a, b, "--format", "json").stdout)
    assert data["exceeded"] == [] and data["only_in_a"] == data["only_in_b"] == []
    assert all(c["diff"] == 0 and c["pct"] == 0 for c in data["totals"].values())
    assert [(x["name"], x["type"]) for x in data["layers"]] == [(x["name"], x["type"]) for x in base["layers"]]


def test_increase_over_the_threshold_exits_1(tmp_path, base):
    a = _write(tmp_path, "a.json", base)
    b = _write(tmp_path, "b.json", _scaled(base, 1.10))
    over = invoke("compare", a, b, "--max-increase", "5")
    assert over.exit_code == 1
    lines = over.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("syops: gate: total energy_mj grew by 10.00%"), over.stderr
    assert invoke("compare", a, b, "--max-increase", "15").exit_code == 0  # within the allowance
    assert invoke("compare", a, b).exit_code == 0  # no gate without --max-increase
    data = json.loads(invoke("compare", a, b, "--format", "json", "--max-increase", "5").stdout)
    assert data["exceeded"] == ["energy_mj"]
    assert data["totals"]["energy_mj"]["pct"] == pytest.approx(10.0)
    first = data["layers"][0]["energy_mj"]
    assert first["diff"] == pytest.approx(first["b"] - first["a"]) and first["pct"] == pytest.approx(10.0)


def test_synops_gate_and_growth_from_zero(tmp_path, base):
    a = _write(tmp_path, "a.json", base)
    b = _write(tmp_path, "b.json", _scaled(base, 1.5, "synops"))
    result = invoke("compare", a, b, "--max-increase", "20")
    assert result.exit_code == 1 and "total synops grew by 50.00%" in result.stderr
    zero = _scaled(base, 0.0)
    z = _write(tmp_path, "z.json", zero)
    grown = invoke("compare", z, a, "--max-increase", "1000", "--format", "json")
    assert grown.exit_code == 1 and "grew from zero" in grown.stderr
    assert json.loads(grown.stdout)["totals"]["energy_mj"]["pct"] is None


def test_decrease_exits_0(tmp_path, base):
    a = _write(tmp_path, "a.json", base)
    b = _write(tmp_path, "b.json", _scaled(_scaled(base, 0.5), 0.5, "synops"))
    result = invoke("compare", a, b, "--max-increase", "0", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["totals"]["energy_mj"]["pct"] == pytest.approx(-50.0)


def test_mismatched_layers_are_listed(tmp_path, base):
    wider = profile(spiking_cnn(extra_layer=True), (2, 8, 8), timesteps=4, time_layout="TB", input_encoding="poisson")
    a, b = _write(tmp_path, "a.json", base), _write(tmp_path, "b.json", wider.to_dict())
    data = json.loads(invoke("compare", a, b, "--format", "json").stdout)
    assert data["only_in_b"] == [{"name": "7", "type": "Linear"}, {"name": "8", "type": "IFNode"}]
    assert data["only_in_a"] == []
    assert len(data["layers"]) == len(base["layers"])
    table = invoke("compare", a, b).stdout
    assert "Only in B:" in table and "7 (Linear)" in table and "8 (IFNode)" in table
    markdown = invoke("compare", b, a, "--format", "markdown").stdout
    assert "Only in A:" in markdown and "- `7` (Linear)" in markdown and "| energy_mj |" in markdown
    # the same name with another type is a different layer
    retyped = copy.deepcopy(base)
    retyped["layers"][0]["type"] = "Conv3d"
    data = json.loads(invoke("compare", a, _write(tmp_path, "c.json", retyped), "--format", "json").stdout)
    assert data["only_in_a"] == [{"name": "0", "type": "Conv2d"}] and data["only_in_b"] == [
        {"name": "0", "type": "Conv3d"}
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a syops JSON report"),
        ('{"model": "x"}', "not a syops JSON report"),
        ('{"syops_version": "0.1.0", "totals": {}}', "totals or layers missing"),
        ('{"syops_version": "0.1.0", "totals": {"energy_mj": "1", "synops": 2}, "layers": []}', "totals.energy_mj"),
        ('{"syops_version": "0.1.0", "totals": {"energy_mj": 1, "synops": 2}, "layers": [{"type": "x"}]}', "layers[0]"),
    ],
)
def test_broken_input_exits_2(tmp_path, base, content, expected):
    a = _write(tmp_path, "a.json", base)
    b = str(tmp_path / "missing.json") if content is None else _write(tmp_path, "b.json", content)
    for args in ((a, b), (b, a)):
        result = invoke("compare", *args)
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("syops: error:") and expected in lines[0], result.stderr
