"""``syops profile`` through click's CliRunner (and one real subprocess): options reach syops.profile,
every format carries the fields of docs/contract.md §7 with numbers checked against formulas and brute force, and
every error is one line on stderr with exit status 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import syops
from helpers import brute_force_conv_synops, brute_force_linear_synops
from syops.cli import profile_command
from syops.cli.main import main as cli
from syops.report import LAYER_FIELDS, flat_fields, flatten

HERE = __name__  # factories below are named as f"{HERE}:factory"
C, H, W, F, OUT = 2, 6, 6, 4, 5


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(C, F, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(F * H * W, OUT))


def sparse_linear() -> nn.Module:
    torch.manual_seed(0)
    layer = nn.Linear(8, 4, bias=False)
    with torch.no_grad():
        layer.weight[:, ::2] = 0  # half the synapses absent
    return nn.Sequential(layer)


def spikes(n: int, shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *shape, generator=g) < 0.3).float()


def spike_loader() -> DataLoader:
    return DataLoader(TensorDataset(spikes(6, (8,)), torch.zeros(6)), batch_size=2)


def conv_spike_loader() -> DataLoader:
    return DataLoader(TensorDataset(spikes(4, (C, H, W))), batch_size=4)


def doubled_loader() -> DataLoader:
    return DataLoader(TensorDataset(2 * spikes(4, (C, H, W))), batch_size=4)


def empty_loader() -> DataLoader:
    return DataLoader(TensorDataset(torch.zeros(0, 8)), batch_size=2)


def dataset() -> TensorDataset:
    return TensorDataset(spikes(5, (8,)), torch.zeros(5))


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def tiny_dense_macs() -> float:
    conv = F * H * W * (C * 9) + F * H * W  # ptflops: every output × in-channels × kernel, plus bias
    return conv + F * H * W + F * H * W * OUT + OUT  # ReLU, then Linear with its bias


def tiny_params() -> int:
    return C * F * 9 + F + F * H * W * OUT + OUT


# -- schema ---------------------------------------------------------------------------------------------

TOP = {
    "syops_version": str,
    "model": str,
    "input_shape": list,
    "timesteps": int,
    "samples": int,
    "energy_model": dict,
    "memory_model": (dict, type(None)),
    "counting": dict,
    "totals": dict,
    "layers": list,
    "counts": dict,  # what Report.reprice / Report.from_json need
    # a training step's figures (docs/training.md); null in an inference report
    "phases": type(None),
    "training_energy_mj": type(None),
    "saved_for_backward_bytes": type(None),
}
MEMORY = {
    k: float for k in ("weight_reads", "bias_reads", "input_reads", "state_reads", "state_writes", "output_writes")
}
ENERGIES = ("energy_mj", "compute_energy_mj", "memory_energy_mj")
TOTALS = {k: float for k in ("dense_macs", "acs", "macs", "synops", "neuron_updates", *ENERGIES, "ann_energy_mj")} | {
    "params": int,
    "ann_compute_energy_mj": float,
    "memory": (dict, type(None)),
}
LAYER = {
    "name": str,
    "type": str,
    "params": int,
    "calls": int,
    "dense_macs": float,
    "acs": float,
    "macs": float,
    "synops": float,
    "input_event_rate": (float, type(None)),
    "neurons": (int, type(None)),
    "output_spike_rate": (float, type(None)),
    "spike_rate_per_step": (list, type(None)),
    "energy_mj": float,
    "compute_energy_mj": float,
    "memory_energy_mj": float,
    "memory": (dict, type(None)),
}


def check_schema(data: dict) -> None:
    """Exactly the fields of docs/contract.md §7, with their types."""

    def check(obj: dict, spec: dict, where: str) -> None:
        assert set(obj) == set(spec), f"{where}: {set(obj) ^ set(spec)}"
        for key, kind in spec.items():
            assert isinstance(obj[key], kind), f"{where}.{key} = {obj[key]!r}"

    check(data, TOP, "report")
    check(data["totals"], TOTALS, "totals")
    for i, layer in enumerate(data["layers"]):
        check(layer, LAYER, f"layers[{i}]")
    for where, obj in [("totals", data["totals"]), *((f"layers[{i}]", x) for i, x in enumerate(data["layers"]))]:
        if data["memory_model"] is None:
            assert obj["memory"] is None, where
        else:
            check(obj["memory"], MEMORY, f"{where}.memory")
        assert abs(obj["energy_mj"] - obj["compute_energy_mj"] - obj["memory_energy_mj"]) <= 1e-12 * max(
            abs(obj["energy_mj"]), 1e-30
        ), where
    assert all(isinstance(s, int) for s in data["input_shape"])
    assert isinstance(data["energy_model"]["name"], str)
    assert isinstance(data["energy_model"]["e_ac_pj"], float) and isinstance(data["energy_model"]["e_mac_pj"], float)


# -- output ---------------------------------------------------------------------------------------------


def test_json_exact_numbers():
    result = invoke("profile", f"{HERE}:tiny_net", "--input-shape", f"{C},{H},{W}", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    check_schema(data)
    totals = data["totals"]
    assert data["model"] == f"{HERE}:tiny_net" and data["input_shape"] == [C, H, W] and data["samples"] == 1
    assert totals["params"] == tiny_params()
    assert totals["dense_macs"] == totals["macs"] == tiny_dense_macs()
    assert totals["acs"] == totals["synops"] == 0
    assert totals["compute_energy_mj"] == pytest.approx(tiny_dense_macs() * 4.6e-9)
    assert [layer["name"] for layer in data["layers"]] == ["0", "1", "3"]


def test_table_csv_markdown_agree():
    args = ("profile", f"{HERE}:tiny_net", "--input-shape", f"{C},{H},{W}")
    table = invoke(*args)
    assert table.exit_code == 0
    assert "Total" in table.stdout and "as an ANN, once per sample" in table.stdout and "Conv2d" in table.stdout
    assert "\x1b[" not in table.stdout  # plain text outside a terminal
    rows = list(csv.DictReader(io.StringIO(invoke(*args, "--format", "csv").stdout)))
    layers = json.loads(invoke(*args, "--format", "json").stdout)["layers"]
    columns = flat_fields(LAYER_FIELDS)
    assert list(rows[0]) == columns and len(rows) == len(layers)
    for row, layer in zip(rows, layers, strict=True):
        for key, value in flatten(layer).items():
            assert row[key] == ("" if value is None else str(value))
    markdown = invoke(*args, "--format", "markdown").stdout
    assert "| " + " | ".join(columns) + " |" in markdown and f"| {tiny_params()} |" in markdown


def test_output_file_and_format_from_suffix(tmp_path):
    args = ("profile", f"{HERE}:tiny_net", "--input-shape", f"{C},{H},{W}")
    for name, check in (
        ("r.json", lambda text: json.loads(text)["totals"]["params"] == tiny_params()),
        ("r.csv", lambda text: text.startswith(",".join(flat_fields(LAYER_FIELDS)))),
        ("r.md", lambda text: text.startswith("<!-- written by syops ") and text.splitlines()[1].startswith("**")),
        ("r.txt", lambda text: "Total" in text and "\x1b[" not in text),
    ):
        result = invoke(*args, "-o", str(tmp_path / name))
        assert result.exit_code == 0 and result.stdout == ""
        assert result.stderr.strip() == f"syops: note: wrote {tmp_path / name}"
        assert check((tmp_path / name).read_text())
    quiet = invoke(*args, "-o", str(tmp_path / "q.json"), "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_event_input_brute_force():
    """--data with binary spikes: synops by brute force, with and without --skip-zero-weights, and a
    custom energy model."""
    model = sparse_linear()
    x = spikes(6, (8,))
    base = ("profile", f"{HERE}:sparse_linear", "--data", f"{HERE}:spike_loader", "--format", "json")
    data = json.loads(invoke(*base).stdout)
    assert data["samples"] == 6 and data["layers"][0]["calls"] == 3
    assert data["totals"]["synops"] == pytest.approx(brute_force_linear_synops(model[0], x))
    assert data["layers"][0]["input_event_rate"] == pytest.approx(float(x.mean()))
    skipped = json.loads(invoke(*base, "--skip-zero-weights", "--energy", "ac=1,mac=2").stdout)
    synops = brute_force_linear_synops(model[0], x, skip_zero_weights=True)
    assert skipped["totals"]["synops"] == pytest.approx(synops)
    assert skipped["energy_model"]["e_ac_pj"] == 1.0
    assert skipped["totals"]["compute_energy_mj"] == pytest.approx(synops * 1e-9)
    two = json.loads(invoke(*base, "--max-batches", "2").stdout)
    assert two["samples"] == 4
    assert two["totals"]["synops"] == pytest.approx(brute_force_linear_synops(model[0], x[:4]))
    # a Dataset is batched by --batch-size
    batched = invoke(
        "profile", f"{HERE}:sparse_linear", "--data", f"{HERE}:dataset", "--batch-size", "2", "--format", "json"
    )
    from_dataset = json.loads(batched.stdout)
    assert from_dataset["samples"] == 5 and from_dataset["layers"][0]["calls"] == 3


def test_conv_events_and_spike_mode():
    x = spikes(4, (C, H, W))
    model = tiny_net()
    base = ("profile", f"{HERE}:tiny_net", "--format", "json")
    data = json.loads(invoke(*base, "--data", f"{HERE}:conv_spike_loader").stdout)
    synops = brute_force_conv_synops(model[0], x)
    assert data["layers"][0]["synops"] == pytest.approx(synops)
    assert data["layers"][0]["acs"] == pytest.approx(synops + F * H * W)  # one add per output for the bias
    # Spike counts {0, 2}: events in integer mode (two each), dense values in binary mode.
    doubled = json.loads(invoke(*base, "--data", f"{HERE}:doubled_loader").stdout)
    assert doubled["layers"][0]["synops"] == pytest.approx(2 * synops)
    binary = json.loads(invoke(*base, "--data", f"{HERE}:doubled_loader", "--spike-mode", "binary").stdout)
    assert binary["layers"][0]["synops"] == 0 and binary["layers"][0]["input_event_rate"] is None
    assert binary["layers"][0]["macs"] == binary["layers"][0]["dense_macs"] == F * H * W * (C * 9 + 1)


def test_random_batch_size_is_per_sample():
    args = ("profile", f"{HERE}:tiny_net", "--input-shape", f"{C},{H},{W}", "--format", "json")
    one = json.loads(invoke(*args).stdout)
    three = json.loads(invoke(*args, "--batch-size", "3").stdout)
    assert three["samples"] == 3 and three["layers"][0]["calls"] == 1
    assert three["totals"]["dense_macs"] == one["totals"]["dense_macs"] == tiny_dense_macs()


def test_neuron_updates_option():
    """snnTorch Leaky neurons are leaky: each update is a MAC. 1010 neurons × 25 steps of them."""
    with_updates = json.loads(invoke("profile", "snntorch_mlp", "--format", "json").stdout)
    without = json.loads(invoke("profile", "snntorch_mlp", "--format", "json", "--no-neuron-updates").stdout)
    assert with_updates["timesteps"] == 25
    assert with_updates["totals"]["macs"] - without["totals"]["macs"] == pytest.approx(1010 * 25)
    assert with_updates["totals"]["synops"] == without["totals"]["synops"]


def test_plot(tmp_path):
    from syops.plot import energy_split

    path = tmp_path / "energy.png"
    result = invoke("profile", "snntorch_mlp", "--plot", str(path), "--format", "json")
    assert result.exit_code == 0 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    entry = syops.zoo.get("snntorch_mlp")
    report = syops.profile(entry.make(), entry.input_shape, timesteps=25, time_layout="loop", input_encoding="poisson")
    for split, layer in zip(energy_split(report), report.layers, strict=True):
        assert split.ac_mj + split.mac_mj == pytest.approx(layer.compute_energy_mj)
        assert split.total_mj == pytest.approx(layer.energy_mj)
        assert split.mac_mj == pytest.approx(layer.macs * 4.6e-9)


# -- options reach syops.profile ------------------------------------------------------------------------


class Spy:
    """Records the call and stops it before the (heavy) model runs."""

    def __init__(self, run: bool = False) -> None:
        self.run = run
        self.model = None
        self.kwargs: dict = {}

    def __call__(self, model, *args, **kwargs):
        self.model, self.kwargs = model, kwargs
        if self.run:
            return syops.profile(model, *args, **kwargs)
        raise syops.SyopsError("stopped by the test")


def test_spikingjelly_zoo_defaults(monkeypatch):
    from spikingjelly.activation_based import neuron

    spy = Spy()
    monkeypatch.setattr(profile_command, "profile", spy)
    invoke("profile", "spiking_resnet18")
    kw = spy.kwargs
    assert (kw["input_res"], kw["timesteps"], kw["time_layout"], kw["input_encoding"]) == (
        (3, 224, 224),
        4,
        "TB",
        "direct",
    )
    assert isinstance(spy.model.sn1, neuron.IFNode) and spy.model.sn1.step_mode == "m"
    invoke("profile", "sew_resnet18", "--step-mode", "s", "--neuron", "LIF", "-T", "2", "--kwarg", "cnf=IAND")
    kw = spy.kwargs
    assert (kw["timesteps"], kw["time_layout"]) == (2, "loop")
    assert isinstance(spy.model.sn1, neuron.LIFNode) and spy.model.sn1.step_mode == "s"
    assert spy.model.layer1[0].cnf == "IAND"


def test_zoo_model_that_bakes_in_its_timesteps():
    result = invoke("profile", "dynapcnn_nmnist", "-T", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["timesteps"] == 3 and data["samples"] == 1 and data["input_shape"] == [2, 34, 34]
    first = data["layers"][0]
    assert first["dense_macs"] == 3 * 8 * 34 * 34 * (2 * 9)  # three steps of a bias-free 3×3 conv
    assert 0 < first["input_event_rate"] < 1  # Poisson spikes, the zoo entry's encoding
    label = json.loads(invoke("profile", "sew_resnet18", "--kwarg", "cnf=IAND", "-T", "1", "--input-shape", "3,16,16",
                              "--format", "json").stdout)["model"]  # fmt: skip
    assert label == "sew_resnet18 (cnf=IAND)"


def test_options_reach_profile(monkeypatch):
    spy = Spy(run=True)
    monkeypatch.setattr(profile_command, "profile", spy)
    result = invoke(
        "profile", "snntorch_mlp", "-T", "3", "--time-layout", "loop", "--encoding", "direct",
        "--energy", "45nm-int8", "--spike-mode", "binary", "--skip-zero-weights", "--no-neuron-updates",
        "--ignore", "Leaky", "--seed", "5", "--input-shape", "1,28,28", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    kw = spy.kwargs
    assert kw["timesteps"] == 3 and kw["time_layout"] == "loop" and kw["input_encoding"] == "direct"
    assert kw["energy"].name == "45nm-int8" and kw["spike_mode"] == "binary" and kw["skip_zero_weights"]
    assert kw["count_neuron_updates"] is False and kw["seed"] == 5 and kw["input_res"] == (1, 28, 28)
    assert [t.__name__ for t in kw["ignore_modules"]] == ["Leaky"]
    data = json.loads(result.stdout)
    leaky = [layer for layer in data["layers"] if layer["type"] == "Leaky"]
    assert len(leaky) == 2 and all(layer["acs"] == layer["macs"] == layer["energy_mj"] == 0 for layer in leaky)
    assert data["timesteps"] == 3


def test_progress_bar_only_over_data_on_a_terminal(monkeypatch):
    spy = Spy(run=True)
    monkeypatch.setattr(profile_command, "profile", spy)
    monkeypatch.setattr(profile_command, "_stderr_is_terminal", lambda: True)
    base = ("profile", f"{HERE}:sparse_linear", "--format", "json")
    assert invoke(*base, "--data", f"{HERE}:spike_loader").exit_code == 0 and spy.kwargs["progress"] is True
    assert invoke(*base, "--data", f"{HERE}:spike_loader", "-q").exit_code == 0 and spy.kwargs["progress"] is False
    assert invoke(*base, "--input-shape", "8").exit_code == 0 and spy.kwargs["progress"] is False
    monkeypatch.setattr(profile_command, "_stderr_is_terminal", lambda: False)
    result = invoke(*base, "--data", f"{HERE}:spike_loader")
    assert spy.kwargs["progress"] is False and result.stderr == ""  # a log gets no bar residue


# -- checkpoints ----------------------------------------------------------------------------------------


class FileCreator:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_checkpoints(tmp_path):
    torch.manual_seed(4)
    trained = tiny_net()
    with torch.no_grad():
        trained[3].weight.zero_()  # visible with --skip-zero-weights... and in params, unchanged
    state = tmp_path / "weights.pth"
    torch.save({"epoch": 9, "state_dict": trained.state_dict()}, state)
    shape = f"{C},{H},{W}"
    ok = invoke("profile", str(state), "--arch", f"{HERE}:tiny_net", "--input-shape", shape, "--format", "json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["model"] == "weights.pth"
    whole = tmp_path / "whole.pt"
    torch.save(trained, whole)
    refused = invoke("profile", str(whole), "--input-shape", shape)
    assert refused.exit_code == 2 and "--trust-checkpoint" in refused.stderr
    trusted = invoke("profile", str(whole), "--input-shape", shape, "--trust-checkpoint", "--format", "json")
    assert trusted.exit_code == 0 and json.loads(trusted.stdout)["totals"]["params"] == tiny_params()
    victim = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": FileCreator(str(victim))}, evil)
    result = invoke("profile", str(evil), "--arch", f"{HERE}:tiny_net", "--input-shape", shape)
    assert result.exit_code == 2 and "io.open" in result.stderr and not victim.exists()


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        (["profile", "resnt18"], "unknown model 'resnt18'; did you mean resnet18"),
        (["profile", f"{HERE}:tiny_net", "--input-shape", "3,6,6"], "failed in 0 (Conv2d) on input shape [1, 3, 6, 6]"),
        (["profile", "missing.pt", "--arch", "resnet18"], "checkpoint missing.pt does not exist"),
        (["profile", "CHECKPOINT_JUNK"], "cannot read checkpoint"),
        (["profile", f"{HERE}:sparse_linear", "--data", f"{HERE}:empty_loader"], "the DataLoader is empty"),
        (["profile", "snntorch_mlp", "--energy", "45nm-fp64"], "unknown energy model '45nm-fp64'; presets: 45nm-fp32"),
        (["profile", "snntorch_mlp", "--kwarg", "beta"], "'beta' is not KEY=VALUE"),
        (["profile", f"{HERE}:tiny_net", "--neuron", "LIF", "--input-shape", "2,6,6"], "--neuron applies to zoo"),
        (["profile", f"{HERE}:tiny_net", "-T", "4", "--input-shape", "2,6,6"], "--timesteps needs --time-layout"),
        (["profile", f"{HERE}:tiny_net", "--ignore", "Conv3d", "--input-shape", "2,6,6"], "--ignore Conv3d"),
        (["profile", f"{HERE}:tiny_net"], "--input-shape C,H,W is required"),
        (["profile", f"{HERE}:tiny_nett", "--input-shape", "2,6,6"], "did you mean tiny_net"),
        (["profile", "snntorch_mlp", "--input-shape", "0,28"], "not a shape of positive sizes"),
        (["profile", "snntorch_mlp", "--format", "xml"], "Invalid value for '--format'"),
        (["dynapcnn"], "Missing argument 'MODEL'"),
    ],
)
def test_errors_are_one_line(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "CHECKPOINT_JUNK").write_text("not a checkpoint")
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("syops") and expected in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_debug_shows_the_exception():
    # the traceback, and the exit status of an input error (2), not 1 (a finding)
    for args in (("--debug", "profile", "resnt18"), ("profile", "resnt18", "--debug")):
        result = invoke(*args)
        assert result.exit_code == 2
        assert "Traceback" in result.stderr and "SyopsError: unknown model" in result.stderr


def test_cuda_absent_is_an_input_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke("profile", "snntorch_mlp", "--device", "cuda")
    assert result.exit_code == 2 and "CUDA is not available" in result.stderr


# -- the installed command ------------------------------------------------------------------------------


def test_installed_command_runs(tmp_path):
    syops_bin = Path(sys.executable).parent / "syops"
    (tmp_path / "cli_subprocess_net.py").write_text(
        "import torch.nn as nn\n"
        "def build(width=4):\n"
        "    return nn.Sequential(nn.Conv2d(2, width, 3, padding=1), nn.ReLU())\n"
    )
    run = subprocess.run(
        [str(syops_bin), "profile", "cli_subprocess_net:build", "--kwarg", "width=3", "--input-shape", "2,5,5",
         "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    check_schema(data)
    assert data["totals"]["dense_macs"] == 3 * 25 * (2 * 9) + 3 * 25 + 3 * 25  # conv + bias, ReLU
    failed = subprocess.run(
        [str(syops_bin), "profile", "cli_subprocess_net:biuld", "--input-shape", "2,5,5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and "did you mean build" in failed.stderr
