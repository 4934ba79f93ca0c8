"""``syops profile MODEL --energy A --energy B ...``: one energy column and one summary line per target,
``targets`` in every format in the order given, each equal to a profile under that target alone; and
``syops compare`` on the targets both reports share."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from syops.cli.main import main as cli

TARGETS = ["loihi", "spinnaker2", "gpu", "45nm-fp32"]
LABELS = ["loihi", "spinnaker2", "gpu", "45nm-fp32 + sram-45nm"]
MODEL = ("report_fixtures:spiking_cnn", "--input-shape", "2,8,8", "-T", "4", "--time-layout", "TB")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def profile(*extra: str):
    result = invoke("profile", *MODEL, *extra)
    assert result.exit_code == 0, result.output
    return result


def energy_args(targets=TARGETS) -> list[str]:
    return [arg for t in targets for arg in ("--energy", t)]


@pytest.fixture(scope="module")
def alone() -> dict[str, dict]:
    """Each target's JSON report from a profile under that target alone."""
    return {t: json.loads(profile("--energy", t, "--format", "json").stdout) for t in TARGETS}


@pytest.fixture(scope="module")
def side_by_side() -> dict:
    return json.loads(profile(*energy_args(), "--format", "json").stdout)


def test_json_targets_in_order_equal_single_profiles(side_by_side, alone):
    names = [t["energy_model"]["name"] for t in side_by_side["targets"]]
    assert names == TARGETS
    for target, name in zip(side_by_side["targets"], TARGETS, strict=True):
        single = alone[name]
        assert target["energy_model"] == single["energy_model"]
        assert target["memory_model"] == single["memory_model"]
        for key in ("energy_mj", "compute_energy_mj", "memory_energy_mj", "ann_energy_mj"):
            assert target[key] == single["totals"][key], (name, key)
    # the first target is the report's own
    first = alone[TARGETS[0]]
    assert side_by_side["energy_model"] == first["energy_model"]
    assert side_by_side["totals"] == first["totals"] and side_by_side["layers"] == first["layers"]


def test_one_target_has_no_targets_key(alone):
    assert "targets" not in alone["loihi"]


def test_table_has_a_column_and_a_line_per_target(alone):
    out = profile(*energy_args()).stdout
    header = next(line for line in out.splitlines() if "Layer" in line)
    for label in ["loihi", "spinnaker2", "gpu", "45nm-fp32 + sram"]:
        assert label in header
    from syops.export._common import energy_text

    for name, label in zip(TARGETS, LABELS, strict=True):
        energy = energy_text(alone[name]["totals"]["energy_mj"])
        assert any(line.startswith(f"{label}: {energy} per sample") for line in out.splitlines()), label
    assert any(
        line.startswith("ANN baseline: the same architecture as an ANN once per sample") for line in out.splitlines()
    )


def test_csv_has_each_targets_energy_per_layer(alone):
    rows = list(csv.DictReader(io.StringIO(profile(*energy_args(), "--format", "csv").stdout)))
    for name, label in zip(TARGETS, LABELS, strict=True):
        expected = [layer["energy_mj"] for layer in alone[name]["layers"]]
        assert [float(row[f"energy_mj[{label}]"]) for row in rows] == expected


def test_markdown_latex_html_carry_the_targets(alone, tmp_path):
    markdown = profile(*energy_args(), "--format", "markdown").stdout
    table = markdown[markdown.index("| target |") :].splitlines()
    assert [line.split("|")[1].strip() for line in table[2:6]] == LABELS
    latex = profile(*energy_args(), "--format", "latex").stdout
    header = next(line for line in latex.splitlines() if line.startswith("Layer &"))
    assert [h.split(" (")[0] for h in header.rstrip(" \\").split(" & ")[-4:]] == LABELS
    # (LaTeX is written in ASCII: the umlaut as its accent command)
    assert "Davies et al." in latex and 'H\\"{o}ppner et al.' in latex and "Degnan, Marr and Hasler" in latex
    page = profile(*energy_args(), "--format", "html").stdout
    assert page.count('class="target-bar"') == len(TARGETS) + 1  # and the 45 nm ANN baseline
    for name in TARGETS:
        assert repr(alone[name]["totals"]["energy_mj"]) in page
    assert 'data-scale="log"' in page  # nJ on Loihi to µJ on a GPU
    methods = profile(*energy_args(), "--methods").stdout
    assert "Höppner" in methods and "conventional device" in methods


def test_plot_with_targets(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "energy.png"
    profile(*energy_args(), "--plot", str(path))
    assert path.stat().st_size > 0


def test_memory_option_applies_to_every_target(alone):
    data = json.loads(profile(*energy_args(["loihi", "cpu"]), "--memory", "sram-45nm", "--format", "json").stdout)
    assert [t["memory_model"]["name"] for t in data["targets"]] == ["sram-45nm", "sram-45nm"]
    assert all(t["memory_energy_mj"] > 0 for t in data["targets"])


def test_a_bad_target_is_one_line():
    result = invoke("profile", *MODEL, "--energy", "loihi", "--energy", "tpu")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "tpu" in result.stderr


def test_compare_the_shared_targets(tmp_path, side_by_side):
    a = tmp_path / "a.json"
    b = tmp_path / "b.json"
    a.write_text(json.dumps(side_by_side))
    b.write_text(profile("--energy", "gpu", "--energy", "loihi", "--format", "json", "--seed", "3").stdout)
    result = invoke("compare", str(a), str(b), "--format", "json")
    assert result.exit_code == 0, result.output
    shared = json.loads(result.stdout)["targets"]
    assert [t["target"] for t in shared] == ["loihi", "gpu"]  # A's order, only those in both
    other = json.loads(b.read_text())
    loihi = next(t for t in other["targets"] if t["energy_model"]["name"] == "loihi")
    assert shared[0]["energy_mj"]["a"] == side_by_side["targets"][0]["energy_mj"]
    assert shared[0]["energy_mj"]["b"] == loihi["energy_mj"]
    table = invoke("compare", str(a), str(b)).stdout
    assert "targets both reports carry" in " ".join(table.split())
    assert any(line.split("│")[1].strip() == "gpu" for line in table.splitlines() if line.count("│") > 2)
    assert "| loihi |" in invoke("compare", str(a), str(b), "--format", "markdown").stdout


def test_json_report_round_trips_with_targets(side_by_side):
    import syops

    back = syops.Report.from_dict(side_by_side)
    assert json.loads(back.to_json()) == side_by_side


def test_energy_models_lists_each_device_in_its_columns():
    out = invoke("energy-models").stdout
    header = next(line for line in out.splitlines() if "Preset" in line and "Synaptic event" in line)
    names = [cell.strip() for cell in header.strip("┃").split("┃")]
    for preset in ("gpu", "spinnaker2"):
        row = next(line for line in out.splitlines() if line.startswith(f"│ {preset} "))
        cells = dict(zip(names, (cell.strip() for cell in row.strip("│").split("│")), strict=True))
        if preset == "gpu":  # a conventional device: the MAC and activation cost, no synaptic event
            assert (cells["MAC"], cells["Bits"], cells["Synaptic event"]) == ("300", "32", "- (runs as an ANN)")
            assert cells["Neuron update"] == "300 (activation)" and cells["Source"].startswith("Degnan")
        else:
            assert (cells["Synaptic event"], cells["Neuron update"]) == ("450", "2190")
            assert cells["Source"].startswith("Höppner")


def test_a_custom_conventional_device_from_the_command_line(alone):
    spec = "ac=300,mac=300,neuron=300,one_pass_ann=true"
    data = json.loads(profile("--energy", spec, "--format", "json").stdout)
    assert data["energy_model"]["one_pass_ann"] is True
    assert data["totals"]["energy_mj"] == alone["gpu"]["totals"]["energy_mj"]  # the gpu preset's costs
    result = invoke("profile", *MODEL, "--energy", "ac=1,mac=1,one_pass_ann=maybe")
    assert result.exit_code == 2 and "must be true or false" in result.stderr


def test_compare_names_the_targets_one_report_lacks(tmp_path, side_by_side, alone):
    a, b, plain = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "plain.json"
    a.write_text(json.dumps(side_by_side))
    b.write_text(profile("--energy", "gpu", "--energy", "loihi", "--energy", "arm", "--format", "json").stdout)
    plain.write_text(json.dumps(alone["gpu"]))
    data = json.loads(invoke("compare", str(a), str(b), "--format", "json").stdout)
    said = [s for s in data["differences"] if "energy targets" in s]
    assert said == [
        "the reports differ in energy targets: A alone has spinnaker2, 45nm-fp32 + sram-45nm; B alone has arm "
        "(loihi, gpu compared)"
    ]
    # a plain report has one target, its own: compared with the side-by-side report's
    data = json.loads(invoke("compare", str(a), str(plain), "--format", "json").stdout)
    assert [t["target"] for t in data["targets"]] == ["gpu"]
    assert data["targets"][0]["energy_mj"]["diff"] == 0.0
    assert any("B alone" not in s and "A alone has loihi" in s for s in data["differences"])
    # two plain reports: no targets section, no targets sentence
    data = json.loads(invoke("compare", str(plain), str(plain), "--format", "json").stdout)
    assert data["targets"] == [] and not any("targets" in s for s in data["differences"])
    markdown = invoke("compare", str(a), str(b), "--format", "markdown").stdout
    assert "A alone has spinnaker2" in markdown and "| gpu |" in markdown


def test_table_columns_pick_the_targets_energy():
    out = profile(*energy_args(["loihi", "gpu"]), "--columns", "layer,synops,energy").stdout
    header = next(line for line in out.splitlines() if "Layer" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["Layer", "SynOps", "loihi", "gpu"]
