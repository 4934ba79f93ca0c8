"""``input_shape`` is one sample at one time step in every input path, and the methods paragraph says it."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import syops

T, B, SAMPLE = 4, 3, (2, 6, 6)


def net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode(), layer.Flatten(), layer.Linear(144, 3))
    functional.set_step_mode(model, "m")
    return model


def shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


def check(report: syops.Report) -> None:
    assert report.input_shape == list(SAMPLE)
    assert f"shape {shape_text(SAMPLE)}" in report.methods()


def test_random_input():
    check(syops.profile(net(), SAMPLE, timesteps=T, time_layout="TB", input_encoding="direct"))


def test_tensor_in_each_layout():
    seq = (torch.rand(T, B, *SAMPLE) < 0.5).float()
    check(syops.profile(net(), inputs=seq, time_layout="TB"))
    check(syops.profile(net(), inputs=seq))  # the layout read off the neurons
    single = net()
    functional.set_step_mode(single, "s")
    check(syops.profile(single, inputs=seq, time_layout="loop"))


def test_static_tensor_encoded():
    frames = torch.rand(B, *SAMPLE)
    check(syops.profile(net(), inputs=frames, timesteps=T, time_layout="TB", input_encoding="poisson"))


@pytest.mark.parametrize("encoding", [None, "direct"])
def test_dataloader_with_and_without_encoding(encoding):
    if encoding is None:
        data = DataLoader(
            TensorDataset((torch.rand(T * 2, *SAMPLE) < 0.5).float().reshape(2, T, *SAMPLE)), batch_size=2
        )
        loader = [batch[0].transpose(0, 1).contiguous() for batch in data]  # [T, B, ...]
        check(syops.profile(net(), dataloader=loader, time_layout="TB"))
    else:
        frames = DataLoader(TensorDataset(torch.rand(5, *SAMPLE)), batch_size=2)
        check(syops.profile(net(), dataloader=frames, timesteps=T, time_layout="TB", input_encoding=encoding))


def test_nir_graph():
    nir = pytest.importorskip("nir")
    import numpy as np

    graph = nir.NIRGraph.from_list(
        nir.Affine(np.ones((3, 5), dtype=np.float32), np.zeros(3, dtype=np.float32)), nir.IF(np.ones(3), np.ones(3))
    )
    report = syops.profile(graph, (5,), timesteps=T, dt=1.0)
    assert report.input_shape == [5]
    assert "shape 5" in report.methods()
