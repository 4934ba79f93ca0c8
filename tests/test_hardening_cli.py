"""Issue 14, the CLI, the compat APIs and energy files: one-line errors (exit status 2) instead of crashes,
tracebacks or ignored options; strict JSON on stdout; a file syops did not write left byte for byte."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import syops
from syops import SyopsError
from syops.cli.main import main as cli

HERE = __name__  # factories below are named as f"{HERE}:factory"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, *expected: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("syops"), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def strict_json(text: str):
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 50, bias=False))


def chatty() -> nn.Module:
    print("building the model...")  # a factory that talks on stdout

    class Chatty(nn.Sequential):
        def forward(self, x):
            print("forward!")
            return super().forward(x)

    return Chatty(nn.Linear(8, 4))


def recursive() -> nn.Module:
    class Recursive(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self(self.fc(x))

    return Recursive()


def nan_loader() -> DataLoader:
    spikes = (torch.rand(4, 8, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    spikes[0, 0] = float("nan")
    return DataLoader(TensorDataset(spikes), batch_size=2)


# -- stdout and JSON -------------------------------------------------------------------------------
def test_json_is_strict_even_for_non_finite_inputs():
    result = invoke("profile", f"{HERE}:linear", "--data", f"{HERE}:nan_loader", "--format", "json")
    assert result.exit_code == 0, result.output
    data = strict_json(result.stdout)
    totals = data["totals"]
    assert data["samples"] == 4 and totals["synops"] is not None
    assert totals["macs"] == pytest.approx(400 * 2 / 4)  # the batch with the NaN is dense
    assert data["layers"][0]["input_event_rate"] is not None


def test_what_a_factory_prints_stays_off_stdout():
    result = invoke("profile", f"{HERE}:chatty", "--input-shape", "8", "--format", "json")
    assert result.exit_code == 0, result.output
    assert strict_json(result.stdout)["totals"]["dense_macs"] == 8 * 4 + 4
    assert "building the model..." in result.stderr and "forward!" in result.stderr


# -- one-line errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-T", str(2**70), "--time-layout", "TB"), "--timesteps"),
        (("-T", "3"), "--timesteps needs --time-layout"),
        (("--batch-size", str(2**40)), "--batch-size"),
        (("--seed", str(2**70)), "--seed"),
        (("--batch-size", str(2**30)), "GiB"),
        (("-T", str(2**30), "--time-layout", "TB"), "GiB"),
        (("--max-batches", "2"), "--max-batches limits the batches of --data"),
    ],
)
def test_bad_sizes_are_one_line(args, expected):
    result = invoke("profile", f"{HERE}:linear", "--input-shape", "8", *args)
    message = assert_one_line_error(result, expected)
    assert "frame" not in message and "alloc" not in message.lower()


def test_huge_shapes_and_ignored_options_are_one_line():
    huge = invoke("profile", f"{HERE}:linear", "--input-shape", "100000,100000,100000")
    assert_one_line_error(huge, "GiB")
    beyond = invoke("profile", f"{HERE}:linear", "--input-shape", f"{2**40}")
    assert_one_line_error(beyond, "--input-shape")
    both = invoke("profile", f"{HERE}:linear", "--input-shape", "8", "--data", f"{HERE}:nan_loader")
    assert_one_line_error(both, "--input-shape is not used with --data")


def test_infinite_recursion_is_a_forward_error():
    result = invoke("profile", f"{HERE}:recursive", "--input-shape", "8")
    assert_one_line_error(result, "recursed without end", "RecursionError")
    assert "counting Linear" not in result.stderr


def test_plot_directory_is_created(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "nodir" / "deeper" / "p.png"
    result = invoke("profile", f"{HERE}:linear", "--input-shape", "8", "--plot", str(path), "-q")
    assert result.exit_code == 0, result.output
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_plot_directory_that_cannot_be_made_fails_before_the_table(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("profile", f"{HERE}:linear", "--input-shape", "8", "--plot", str(blocker / "p.png"))
    assert_one_line_error(result, "--plot")
    assert result.stdout == ""  # no table printed before the error


# -- zoo: a foreign file is left alone -------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "# My notes\n\nNothing generated here.\n",
        "# Half\n<!-- syops zoo: begin generated table -->\nmine\n",
        "<!-- syops zoo: end generated table -->\n<!-- syops zoo: begin generated table -->\n",
    ],
)
def test_zoo_output_refuses_a_file_it_did_not_write(tmp_path, text):
    path = tmp_path / "notes.md"
    path.write_bytes(text.encode())
    result = invoke("zoo", "--output", str(path), "--models", "snntorch_mlp")
    assert_one_line_error(result, "refusing to overwrite")
    assert path.read_bytes() == text.encode()


def test_zoo_models_naming_nothing_is_refused():
    assert_one_line_error(invoke("zoo", "--models", ","), "--models")
    assert_one_line_error(invoke("zoo", "--models", " , ,"), "--models")


# -- energy models ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"ac = 0.9\nmac = 4.6\nsynop = true\n", "synop=True is not a number"),
        (b"ac = 0.9\n[energy]\nac = 1.0\nmac = 2.0\n", "both an \\[energy\\] table and top-level keys"),
        (b"energy = 5\n", "'energy' must be a table"),
        (b"ac = 0.9\nmac = 4.6\nname = '\xff\xfe'\n", "is not UTF-8"),
        (b"ac = 0.9\ne_ac_pj = 1.0\nmac = 4.6\n", "given twice"),
    ],
)
def test_energy_files_are_refused_by_name(tmp_path, content, match):
    path = tmp_path / "model.toml"
    path.write_bytes(content)
    with pytest.raises(SyopsError, match=match):
        syops.resolve_energy(str(path))
    result = invoke("profile", f"{HERE}:linear", "--input-shape", "8", "--energy", str(path))
    assert_one_line_error(result, str(path))


def test_energy_strings_and_mappings_refuse_repeats_and_bools():
    with pytest.raises(SyopsError, match="gives ac twice"):
        syops.resolve_energy("ac=1,ac=2,mac=3")
    with pytest.raises(SyopsError, match="not a number"):
        syops.resolve_energy({"ac": True, "mac": 1.0})
    assert syops.resolve_energy("ac=1,mac=3").e_mac_pj == 3.0


# -- compat APIs -----------------------------------------------------------------------------------
def test_synops_metric_checks_its_inputs():
    from syops.metrics import SynOps

    spikes = torch.rand(4, 3, generator=torch.Generator().manual_seed(0)) < 0.5
    as_bool = SynOps(5.0)
    as_bool.update(spikes)
    as_float = SynOps(5.0)
    as_float.update(spikes.float())
    assert torch.equal(as_bool.compute()["synops"], as_float.compute()["synops"])
    assert float(as_bool.compute()["synops"]) == pytest.approx(float(spikes.sum()) * 5 / 4)
    with pytest.raises(SyopsError, match="neuron shape of the earlier updates"):
        as_bool.update(torch.ones(4, 5))
    for bad in ("x", True, None, [1, "a"]):
        with pytest.raises(SyopsError, match="fanout"):
            SynOps(bad)
    for bad in ("x", True, 0, -1.0, float("inf")):
        with pytest.raises(SyopsError, match="sample_time"):
            SynOps(1.0, sample_time=bad)
    with pytest.raises(SyopsError, match="no samples yet"):
        SynOps(1.0).compute()


def test_analysis_apis_check_dt_and_modules():
    from syops.hooks import register_synops_hooks

    net = nn.Sequential(nn.Linear(4, 2))
    for bad in ("x", 0, -1, float("nan"), True):
        with pytest.raises(SyopsError, match="dt"):
            syops.SNNAnalyzer(net, dt=bad)
    with pytest.raises(SyopsError, match="dt"):
        register_synops_hooks(net, dt=0)
    with pytest.raises(SyopsError, match="iterable of modules"):
        syops.SynOpCounter(None)
    assert not net._forward_hooks and not net[0]._forward_hooks  # nothing left attached


def test_fanout_checks_the_input_shape():
    with pytest.raises(SyopsError, match="in_features=8"):
        syops.fanout(nn.Linear(8, 4), (7,))
    assert syops.fanout(nn.Linear(8, 4), (8,)) == 4.0
    with pytest.raises(SyopsError, match="positive ints"):
        syops.fanout(nn.Conv2d(2, 3, 3), (2, -1, 5))
    with pytest.raises(SyopsError, match="in_channels=2"):
        syops.fanout(nn.Conv2d(2, 3, 3), (3, 5, 5))
    with pytest.raises(SyopsError, match="positive ints"):
        syops.fanout(nn.Conv2d(2, 3, 3), "2,5,5")
    assert syops.fanout(nn.Conv2d(2, 3, 3), (2, 5, 5)).shape == (2, 5, 5)
