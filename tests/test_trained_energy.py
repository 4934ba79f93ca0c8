"""examples/trained_energy.py, short: it trains, saves a checkpoint that `syops profile --arch --data`
reads, and compares the trained network with its random initialisation; the training is deterministic."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from syops.cli.main import main as cli
from syops.models import digits

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "trained_energy.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("trained_energy", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_example_trains_saves_and_compares(example, tmp_path, capsys):
    assert example.main(["--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ckpt = tmp_path / "digits_scnn.pt"
    assert ckpt.exists() and f"syops profile {ckpt} --arch digits_scnn" in out
    assert "random init" in out and "firing rate 1 (LIFNode)" in out and "compute (nJ, 45nm-fp32)" in out

    # The command line's profile of the checkpoint is the example's, figure for figure.
    args = ["profile", str(ckpt), "--arch", "digits_scnn", "--data", "syops.models.digits:held_out_digits"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    cli_report = json.loads(result.stdout)
    net = digits.digits_scnn()
    net.load_state_dict(torch.load(ckpt, weights_only=True))
    report = example.profile_held_out(net.eval())
    assert cli_report["samples"] == report.samples == 359 and cli_report["timesteps"] == digits.TIMESTEPS
    for key in ("synops", "acs", "macs", "energy_mj"):
        assert cli_report["totals"][key] == pytest.approx(report.totals[key], rel=1e-12), key

    # One epoch already makes the near-silent random network fire: more synops, more energy.
    untrained = example.profile_held_out(digits.digits_scnn(seed=0).eval())
    assert report.mean_spike_rate > 10 * (untrained.mean_spike_rate or 0.0)
    assert report.totals["synops"] > untrained.totals["synops"]
    assert report.totals["dense_macs"] == untrained.totals["dense_macs"]  # the same architecture


def test_training_is_deterministic():
    a = digits.train_digits_scnn(epochs=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads // 2, 1) if threads > 1 else 2)
    try:
        b = digits.train_digits_scnn(epochs=1)
    finally:
        torch.set_num_threads(threads)
    assert torch.get_num_threads() == threads
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    assert all(p.dtype == torch.float32 for p in a.parameters()) and not a.training
