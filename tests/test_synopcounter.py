"""syops.SynOpCounter and syops.layers.NeuromorphicReLU against sinabs' own (sinabs.synopcounter.SynOpCounter,
sinabs.layers.NeuromorphicReLU): outputs, gradients, activities and counts on the same inputs."""

from __future__ import annotations

import copy

import pytest
import sinabs.layers as sl
import torch
from sinabs.synopcounter import SynOpCounter as SinabsCounter
from torch import nn

import syops
from syops import SynOpCounter, SyopsError
from syops.frameworks import is_neuron
from syops.layers import NeuromorphicReLU


def ann(relu) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, bias=False),
        relu(fanout=4 * 9),
        nn.Conv2d(4, 6, 3, bias=False),
        relu(fanout=6 * 10),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10),
        relu(fanout=0),  # fanout 0: not counted
    )


@pytest.mark.parametrize(
    "options", [{}, {"quantize": False}, {"stochastic_rounding": True}, {"fanout": 3, "quantize": True}]
)
@pytest.mark.parametrize("training", [True, False])
def test_neuromorphic_relu_equals_sinabs(options, training):
    theirs, ours = sl.NeuromorphicReLU(**options), NeuromorphicReLU(**options)
    theirs.train(training), ours.train(training)
    x = (torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 3).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    torch.manual_seed(7)
    expected = theirs(x)
    torch.manual_seed(7)  # the same draws for stochastic rounding
    got = ours(x2)
    assert torch.equal(got, expected)
    assert torch.equal(ours.activity, theirs.activity)
    (expected * torch.arange(expected.numel()).reshape(expected.shape)).sum().backward()
    (got * torch.arange(got.numel()).reshape(got.shape)).sum().backward()
    assert torch.equal(x2.grad, x.grad)


def test_quantized_output_is_integer_with_relu_gradient():
    x = torch.tensor([-1.5, -0.2, 0.0, 0.4, 1.0, 2.7], requires_grad=True)
    relu = NeuromorphicReLU(fanout=2)
    y = relu(x)
    assert y.tolist() == [0, 0, 0, 0, 1, 2]
    y.sum().backward()
    assert x.grad.tolist() == [0, 0, 0, 1, 1, 1]  # straight through the floor, ReLU's own gradient
    assert float(relu.activity.detach()) == pytest.approx(3 / 6 * 2)


@pytest.mark.parametrize("sum_activations", [True, False])
def test_counter_matches_sinabs(sum_activations):
    theirs_model = ann(sl.NeuromorphicReLU)
    ours_model = ann(NeuromorphicReLU)
    ours_on_sinabs = copy.deepcopy(theirs_model)
    theirs = SinabsCounter(theirs_model.modules(), sum_activations=sum_activations)
    ours = SynOpCounter(ours_model.modules(), sum_activations=sum_activations)
    ours_sinabs = SynOpCounter(ours_on_sinabs.modules(), sum_activations=sum_activations)
    assert len(ours.modules) == len(theirs.modules) == 2
    for seed in range(3):  # several batches: the counter reads the last forward pass
        x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 8
        theirs_model(x), ours_model(x), ours_on_sinabs(x)
        expected = theirs()
        for got in (ours(), ours_sinabs()):
            if sum_activations:
                assert torch.equal(got, expected)
            else:
                assert [float(v.detach()) for v in got] == [float(v.detach()) for v in expected]
    if sum_activations:
        expected.backward()
        ours().backward()
        for a, b in zip(ours_model.parameters(), theirs_model.parameters(), strict=True):
            assert (a.grad is None) == (b.grad is None)
            if a.grad is not None:
                torch.testing.assert_close(a.grad, b.grad)
        assert ours_model[0].weight.grad.abs().sum() > 0


def test_counter_counts_spikes_times_fanout():
    model = ann(NeuromorphicReLU)
    counter = SynOpCounter(model.modules())
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 8
    with torch.no_grad():
        h1 = torch.floor(torch.relu(model[0](x)))
        h2 = torch.floor(torch.relu(model[2](h1)))
    model(x)
    expected = (h1.sum() * 36 + h2.sum() * 60) / 3
    assert float(counter().detach()) == pytest.approx(float(expected), rel=1e-6)


def test_counter_errors():
    with pytest.raises(SyopsError, match="no NeuromorphicReLU"):
        SynOpCounter(nn.Sequential(nn.Linear(2, 2), nn.ReLU()).modules())
    counter = SynOpCounter(ann(NeuromorphicReLU).modules())
    with pytest.raises(SyopsError, match="forward pass"):
        counter()


def test_profile_counts_syops_relu_like_sinabs_relu():
    """The profiler treats syops' NeuromorphicReLU as it treats sinabs' (a non-leaky neuron layer)."""
    assert is_neuron(NeuromorphicReLU())
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 8
    ours = syops.profile(ann(NeuromorphicReLU), inputs=x)
    theirs = syops.profile(ann(sl.NeuromorphicReLU), inputs=x)
    assert ours.totals == theirs.totals
