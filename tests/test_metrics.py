"""syops.metrics.SynOps against snnmetrics' SynOps semantics. snnmetrics is not installed, so the expected
values are computed here from its definition: update(out) adds out.sum(0)·fanout per neuron and B
samples; compute() divides; batch values from metric(out); reset() starts over. The fan-out of a
convolution comes from syops.fanout and is checked against brute force."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchmetrics import Metric

import syops
from helpers import brute_force_conv_synops, make_input
from syops import SyopsError
from syops.metrics import SynOps


def snnmetrics_reference(batches: list[torch.Tensor], fanout) -> torch.Tensor:
    """snnmetrics' synops_per_neuron after updating with ``batches``."""
    fan = torch.as_tensor(fanout, dtype=torch.float64)
    total = sum(b.double().sum(0) * fan for b in batches)
    return total / sum(b.shape[0] for b in batches)


def test_snnmetrics_conv_example():
    fanout = torch.eye(3).unsqueeze(0)
    metric = SynOps(fanout=fanout)
    first = metric(torch.ones(2, 1, 3, 3))
    assert torch.equal(first["synops_per_neuron"], fanout.double()) and float(first["synops"]) == 3.0
    second = metric(torch.ones(2, 1, 3, 3) * 2)
    assert torch.equal(second["synops_per_neuron"], fanout.double() * 2) and float(second["synops"]) == 6.0
    epoch = metric.compute()
    assert torch.equal(epoch["synops_per_neuron"], fanout.double() * 1.5) and float(epoch["synops"]) == 4.5
    assert "synops/s" not in epoch


def test_snnmetrics_linear_example():
    metric = SynOps(fanout=100.0, sample_time=0.5)
    out1, out2 = torch.ones(2, 10), torch.ones(2, 10) * 2
    assert torch.equal(metric(out1)["synops_per_neuron"], out1.double().sum(0) * 100 / 2)
    metric(out2)
    epoch = metric.compute()
    assert float(epoch["synops"]) == (out1.sum() + out2.sum()) * 100 / 2 / 2
    assert float(epoch["synops/s"]) == float(epoch["synops"]) / 0.5
    metric.reset()
    metric.update(out2)
    assert float(metric.compute()["synops"]) == out2.sum() * 100 / 2


@settings(max_examples=40)
@given(
    scalar=st.booleans(),
    shape=st.sampled_from([(5,), (2, 3, 3), (3, 4)]),
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    kind=st.sampled_from(["binary", "integer"]),
    seed=st.integers(0, 2**16),
)
def test_update_compute_reset_equal_reference(scalar, shape, batches, kind, seed):
    g = torch.Generator().manual_seed(seed)
    fanout = 7.0 if scalar else torch.randint(0, 10, shape, generator=g).float()
    metric = SynOps(fanout)
    seen = []
    for b in batches:
        out = make_input(kind, (b, *shape), g)
        batch_value = metric(out)
        torch.testing.assert_close(batch_value["synops_per_neuron"], snnmetrics_reference([out], fanout))
        seen.append(out)
    expected = snnmetrics_reference(seen, fanout)
    result = metric.compute()
    torch.testing.assert_close(result["synops_per_neuron"], expected)
    torch.testing.assert_close(result["synops"], expected.sum())
    metric.reset()
    assert int(metric.samples) == 0


def test_conv_fanout_gives_exact_synops_of_the_next_layer():
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    metric = SynOps(syops.fanout(conv, (4, 9, 9)))
    spikes = [make_input("integer", (b, 4, 9, 9), torch.Generator().manual_seed(b)) for b in (3, 2)]
    for s in spikes:
        metric.update(s)
    expected = sum(brute_force_conv_synops(conv, s) * s.shape[0] for s in spikes) / 5
    assert float(metric.compute()["synops"]) == pytest.approx(expected, rel=1e-12)


def test_is_a_differentiable_torchmetrics_metric():
    metric = SynOps(fanout=3.0)
    assert isinstance(metric, Metric) and SynOps.is_differentiable
    x = torch.rand(4, 6, requires_grad=True)
    metric(x)["synops"].backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 3.0 / 4))


def test_states_sync_across_processes():
    """Two ranks' states gathered by torchmetrics' sync (gather faked in-process) give the metric of all
    the data: the states are sums that reduce by addition."""
    fanout = torch.arange(6.0).reshape(2, 3)
    g = torch.Generator().manual_seed(0)
    rank_data = [[make_input("integer", (b, 2, 3), g) for b in (2, 3)], [make_input("integer", (4, 2, 3), g)]]
    other = SynOps(fanout)
    for out in rank_data[1]:
        other.update(out)
    other_states = {"synops_sum": other.synops_sum, "samples": other.samples}

    def gather(tensor, group=None):
        name = "samples" if tensor.dtype == torch.long else "synops_sum"
        return [tensor, other_states[name]]

    metric = SynOps(fanout, dist_sync_fn=gather, distributed_available_fn=lambda: True)
    for out in rank_data[0]:
        metric.update(out)
    synced = metric.compute()
    torch.testing.assert_close(synced["synops_per_neuron"], snnmetrics_reference(rank_data[0] + rank_data[1], fanout))


def test_bad_input():
    metric = SynOps(torch.ones(2, 3))
    with pytest.raises(SyopsError, match="do not match the fan-out shape"):
        metric.update(torch.ones(4, 3, 2))
    with pytest.raises(SyopsError, match="non-negative"):
        SynOps(-1.0)
    with pytest.raises(SyopsError, match="sample_time"):
        SynOps(1.0, sample_time=0)
