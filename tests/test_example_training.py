"""examples/train_fewer_synops.py, short: the synops term moves the synops toward the target, its gradient
reaches the weights, and the plot of both losses is written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from syops.hooks import register_synops_hooks

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_fewer_synops.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_fewer_synops", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_synops_term_reaches_the_weights(example):
    model = example.build_model(seed=0)
    register_synops_hooks(model)
    x_train, _, _, _ = example.load_digits_tensors()
    model(x_train[:32])
    synops = model.hook_data["total_synops_per_timestep"]
    F.mse_loss(synops, torch.tensor(0.5) * synops.detach()).backward()
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    # Layer 0's synops depend on the data only; those of the later layers on every conv before them.
    for conv in convs:
        assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()
        assert conv.weight.grad.abs().sum() > 0


def test_short_training_moves_synops_toward_target(example, tmp_path):
    lines: list[str] = []
    _, history = example.train(epochs=2, train_limit=384, log=lines.append)
    initial_gap = abs(history.initial_synops - history.target)
    final_accuracy, final_synops = history.epochs[-1]
    assert abs(final_synops - history.target) < 0.6 * initial_gap
    assert final_accuracy > 0.3  # chance is 0.1
    assert len(lines) == 3 and all("accuracy" in line and "synops" in line for line in lines)
    assert len(history.model_losses) == len(history.synops_losses) == 2 * 6
    png = tmp_path / "losses.png"
    example.plot_losses(history, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
