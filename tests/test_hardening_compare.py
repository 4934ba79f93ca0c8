"""The CI gate cannot be switched off, compare says what differs before the numbers, and files that are
not reports (non-numeric totals, huge integers, devices, pipes) are one clear line; energy and memory
specs with non-finite or overflowing numbers too."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from report_fixtures import spiking_report

import syops
from syops import SyopsError
from syops.cli.main import main as cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def base() -> dict:
    return spiking_report().to_dict()


def write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@pytest.mark.parametrize("threshold", ["nan", "NaN", "inf", "-inf", "1e400", "-1", "1e16", "ten"])
def test_a_threshold_that_is_no_finite_percentage_is_a_usage_error(tmp_path, base, threshold):
    grown = json.loads(json.dumps(base))
    grown["totals"]["energy_mj"] *= 10
    a, b = write(tmp_path, "a.json", base), write(tmp_path, "b.json", grown)
    result = invoke("compare", a, b, "--max-increase", threshold)
    assert result.exit_code == 2, (threshold, result.output)
    assert "--max-increase" in result.output


def test_memory_models_that_differ_are_said_before_the_numbers(tmp_path):
    default = spiking_report(memory="sram-45nm").to_dict()
    compute_only = spiking_report().to_dict()
    a, b = write(tmp_path, "a.json", compute_only), write(tmp_path, "b.json", default)
    result = invoke("compare", a, b, "--max-increase", "5")
    assert result.exit_code == 1
    first = result.stdout.strip().splitlines()[0]
    assert "memory model: none (A), sram-45nm (B)" in first
    assert "also differ in memory model" in result.stderr
    data = json.loads(invoke("compare", a, b, "--format", "json").stdout)
    assert list(data).index("differences") < list(data).index("totals")
    assert any("memory model" in d for d in data["differences"])
    markdown = invoke("compare", a, b, "--format", "markdown").stdout
    assert markdown.index("memory model") < markdown.index("| metric |")


@pytest.mark.parametrize(
    ("field", "value_a", "value_b", "said"),
    [
        ("timesteps", 4, 8, "time steps (T): 4 (A), 8 (B)"),
        ("samples", 3, 30, "samples averaged over: 3 (A), 30 (B)"),
        ("input_shape", [2, 8, 8], [2, 16, 16], "input shape: 2×8×8 (A), 2×16×16 (B)"),
        ("syops_version", "0.1.0", "0.2.0", "syops version: 0.1.0 (A), 0.2.0 (B)"),
    ],
)
def test_every_field_of_the_context_is_compared(tmp_path, base, field, value_a, value_b, said):
    a_data, b_data = json.loads(json.dumps(base)), json.loads(json.dumps(base))
    a_data[field], b_data[field] = value_a, value_b
    result = invoke("compare", write(tmp_path, "a.json", a_data), write(tmp_path, "b.json", b_data))
    assert said in result.stdout.splitlines()[0] or said in result.stdout


def test_counting_options_and_energy_values_are_compared(tmp_path):
    a = spiking_report().to_dict()
    b = spiking_report(spike_mode="binary", energy={"ac": 0.9, "mac": 4.6, "name": "45nm-fp32"}).to_dict()
    out = invoke("compare", write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)).stdout
    assert "spike mode: integer (A), binary (B)" in out
    assert "energy model: 45nm-fp32 (its values) (A), 45nm-fp32 (other values) (B)" in out


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda d: d["totals"].__setitem__("macs", "12"), "totals.macs is not a finite number"),
        (lambda d: d["totals"].__setitem__("acs", [1]), "totals.acs is not a finite number"),
        (lambda d: d["totals"].__setitem__("synops", 10**500), "totals.synops"),
        (lambda d: d["layers"][0].__setitem__("acs", 10**500), "layers[0].acs"),
    ],
)
def test_a_total_that_is_no_number_is_an_error_naming_key_and_file(tmp_path, base, edit, said):
    data = json.loads(json.dumps(base))
    edit(data)
    b = write(tmp_path, "b.json", data)
    result = invoke("compare", write(tmp_path, "a.json", base), b)
    assert result.exit_code == 2 and said in result.output and "b.json" in result.output


def test_json_literals_nan_and_huge_integers(tmp_path, base):
    text = json.dumps(base).replace(f'"energy_mj": {json.dumps(base["totals"]["energy_mj"])}', '"energy_mj": NaN', 1)
    result = invoke("compare", write(tmp_path, "a.json", base), write(tmp_path, "b.json", text))
    assert result.exit_code == 2 and "energy_mj" in result.output
    huge = json.dumps(base).replace('"params": ', '"params": ' + "9" * 5000 + ', "x": ', 1)
    result = invoke("compare", write(tmp_path, "a.json", base), write(tmp_path, "c.json", huge))
    assert result.exit_code == 2 and "c.json" in result.output and len(result.output.strip().splitlines()) == 1


def test_devices_and_pipes_are_not_read(tmp_path, base):
    a = write(tmp_path, "a.json", base)
    result = invoke("compare", a, "/dev/zero")
    assert result.exit_code == 2 and "not a regular file" in result.output
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result = invoke("compare", a, str(fifo))
    assert result.exit_code == 2 and "not a regular file" in result.output
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(SyopsError, match="not a regular file"):
        syops.resolve_energy(str(link))
    with pytest.raises(SyopsError, match="not a regular file"):
        syops.resolve_memory(str(link))


def test_an_oversized_toml_is_refused(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("ac = 0.9\nmac = 4.6\n" + "# pad\n" * 300_000)
    with pytest.raises(SyopsError, match="more than the 1 MiB"):
        syops.resolve_energy(str(big))


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"bits": float("inf")}, "bits=inf"),
        ({"bits": float("nan")}, "bits=nan"),
        ({"bits": 10**400}, "401-digit"),
        ({"queue_words": 2**70}, "queue_words"),
        ({"dram_above": -1}, "dram_above"),
    ],
)
def test_memory_specs_with_non_finite_or_huge_numbers(spec, said):
    with pytest.raises(SyopsError, match=said):
        syops.resolve_memory(spec)


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"ac": 10**400, "mac": 1}, "ac is too large"),
        ({"ac": float("nan"), "mac": 1}, "ac=nan"),
        ({"ac": 1, "mac": float("inf")}, "mac=inf"),
    ],
)
def test_energy_specs_with_non_finite_or_huge_numbers(spec, said):
    with pytest.raises(SyopsError, match=said):
        syops.resolve_energy(spec)


def test_toml_files_name_the_key_and_the_file(tmp_path):
    memory = tmp_path / "mem.toml"
    memory.write_text("bits = inf\n")
    with pytest.raises(SyopsError, match=r"mem\.toml.*bits=inf"):
        syops.resolve_memory(str(memory))
    energy = tmp_path / "en.toml"
    energy.write_text("ac = " + "9" * 500 + "\nmac = 1\n")
    with pytest.raises(SyopsError, match=r"en\.toml.*ac is too large"):
        syops.resolve_energy(str(energy))
    memory.write_text("bits = " + "9" * 5000 + "\n")
    with pytest.raises(SyopsError, match=r"mem\.toml"):
        syops.resolve_memory(str(memory))
