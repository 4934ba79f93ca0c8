"""The accumulator's shortcuts keep counts exact: calls folded in batches, column sums of a neuron's output
reused by the layer that reads it (but not after an in-place change), and float32 sums flagged when they
could round."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, neuron, surrogate
from torch import nn

import syops
from helpers import brute_force_conv_synops, make_input
from syops.profiler import INEXACT_NOTE


def test_many_calls_are_folded_without_loss():
    """More calls than one fold holds (4096): every one is counted."""

    class Loop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2, bias=False)

        def forward(self, x):
            return sum(self.fc(step) for step in x)

    x = make_input("binary", (5000, 1, 3), torch.Generator().manual_seed(0))
    row = syops.profile(Loop(), inputs=x, batch_size=1).layer("fc")
    assert row.calls == 5000 and row.synops == float(x.sum()) * 2 and row.macs == 0


class SpikesThenConv(nn.Module):
    def __init__(self, in_place: bool) -> None:
        super().__init__()
        self.sn = neuron.IFNode(v_threshold=0.5, surrogate_function=surrogate.ATan(), step_mode="m")
        self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
        self.in_place = in_place

    def forward(self, x):  # x: [T, B, 2, H, W]
        spikes = self.sn(x)
        if self.in_place:
            spikes.mul_(2)  # the conv reads {0, 2}: the neuron's column sums no longer describe it
        seen = spikes.flatten(0, 1)
        self.seen = seen.clone()
        return self.conv(seen)


@pytest.mark.parametrize("in_place", [False, True])
def test_reused_neuron_sums_match_brute_force(in_place):
    torch.manual_seed(0)
    net = SpikesThenConv(in_place)
    x = torch.rand(3, 2, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    report = syops.profile(net, inputs=x, time_layout="TB")
    functional.reset_net(net)
    with torch.no_grad():
        net(x)
    expected = brute_force_conv_synops(net.conv, net.seen) * net.seen.shape[0] / 2  # per sample of B = 2
    assert report.layer("conv").synops == pytest.approx(expected)
    assert report.layer("sn").output_spike_rate == pytest.approx(float((net.seen > 0).float().mean()))


def test_float32_sums_that_could_round_are_flagged():
    big = torch.full((1, 1 << 20), 32.0)  # 2**25 events in one float32 sum
    report = syops.profile(nn.ReLU(), inputs=big)
    assert INEXACT_NOTE in report.notes
    assert syops.profile(nn.ReLU(), inputs=torch.ones(1, 1 << 20)).notes == []


def test_large_queues_are_folded_early_without_loss():
    """Calls whose queued column sums pass the fold's element budget (2**18 numbers) fold mid-profile;
    every call is still counted once."""

    class Wide(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(70_000, 3, bias=False)

        def forward(self, x):
            return sum(self.fc(step) for step in x)

    x = make_input("binary", (6, 1, 70_000), torch.Generator().manual_seed(0))
    row = syops.profile(Wide(), inputs=x, batch_size=1).layer("fc")
    assert row.calls == 6 and row.synops == float(x.sum()) * 3 and row.macs == 0 and row.acs == row.synops


def test_an_empty_operand_beside_others_in_one_fold():
    """A call with no elements queues an empty column sum; the segment sums of its neighbours stay
    aligned."""

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.empty = nn.Linear(4, 2, bias=False)
            self.full = nn.Linear(4, 5, bias=False)

        def forward(self, x):
            self.empty(x[:0])
            return self.full(x)

    x = make_input("integer", (1, 4), torch.Generator().manual_seed(1))
    report = syops.profile(Two(), inputs=x)
    assert report.layer("empty").synops == 0 and report.layer("empty").macs == 0
    assert report.layer("full").synops == float(x.abs().sum()) * 5 and report.layer("full").macs == 0
