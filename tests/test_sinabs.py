"""sinabs networks against sinabs' own exact synops and firing-rate hooks (``sinabs.hooks``), and the
sinabs neuron layers against brute force. Never imports ``sinabs.backend.dynapcnn``."""

from __future__ import annotations

import pytest
import sinabs.layers as sl
import torch
from sinabs.hooks import firing_rate_hook, firing_rate_per_neuron_hook, register_synops_hooks
from test_spikingjelly import Reference, assert_matches
from torch import nn

import syops
from syops.frameworks import is_neuron

B, T = 2, 5


def squeezed_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1, bias=False),
        sl.IAFSqueeze(batch_size=B, spike_threshold=0.5),
        sl.SumPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False),
        sl.LIFSqueeze(tau_mem=4.0, batch_size=B, spike_threshold=0.3),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 4, bias=False),
        sl.IAFSqueeze(batch_size=B, spike_threshold=0.5),
    ).eval()


def spike_counts(shape, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.floor(torch.rand(shape, generator=g) * 3) * (torch.rand(shape, generator=g) < 0.4)


def test_squeezed_network_matches_sinabs_hooks():
    net = squeezed_net()
    x = spike_counts((B * T, 2, 8, 8), 1)  # [B·T, C, H, W] spike counts, the first layer on events too
    report = syops.profile(net, inputs=x, batch_size=B, timesteps=T)
    assert report.samples == B and report.timesteps == T

    register_synops_hooks(net)
    for m in net:
        if isinstance(m, sl.StatefulLayer):
            m.register_forward_hook(firing_rate_hook)
            m.register_forward_hook(firing_rate_per_neuron_hook)
            m.reset_states()
    with torch.no_grad():
        net(x)
    # sinabs: synops per time step, averaged over the B·T rows of a squeezed batch -> × T per sample
    for index, synops in net.hook_data["synops_per_timestep"].items():
        assert report.layer(str(index)).synops == pytest.approx(float(synops) * T, rel=1e-6)
    assert report.totals["synops"] == pytest.approx(float(net.hook_data["total_synops_per_timestep"]) * T, rel=1e-6)
    for index, m in enumerate(net):
        if isinstance(m, sl.StatefulLayer):
            row = report.layer(str(index))
            assert row.output_spike_rate == pytest.approx(float(m.hook_data["firing_rate"]), rel=1e-6)
            per_neuron = m.hook_data["firing_rate_per_neuron"].double()
            assert row.firing_rate_map.shape == per_neuron.shape  # the neurons' shape (C, H, W)
            assert torch.allclose(row.firing_rate_map, per_neuron, rtol=1e-6)
            assert row.neurons == per_neuron.numel()
    # and against brute force, the neuron updates included (IAF: AC, LIF: MAC)
    ref = Reference(net, {sl.IAFSqueeze: False, sl.LIFSqueeze: True})
    for m in net:
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()
    ref.run(x)
    ref.remove()
    totals = ref.totals()
    assert report.totals["neuron_updates"] == pytest.approx(totals["updates"] / B)
    assert report.layer("4").neuron_update_macs == pytest.approx(T * 8 * 2 * 2)
    assert report.layer("1").neuron_update_macs == 0
    # SumPool2d is an LPPool2d: one operation per input element, on events
    assert report.layer("2").acs == pytest.approx(T * 8 * 8 * 8)


def test_unsqueezed_layers_in_batch_time_layout():
    """[B, T, ...] layers: a Linear over the last dimension, LIF / ALIF / ExpLeak neurons."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(6, 10),
        sl.LIF(tau_mem=3.0, spike_threshold=0.2),
        nn.Linear(10, 8),
        sl.ALIF(tau_mem=3.0, tau_adapt=5.0, spike_threshold=0.1),
        nn.Linear(8, 4),
        sl.ExpLeak(tau_mem=2.0),
    ).eval()
    x = spike_counts((B, T, 6), 2)
    report = syops.profile(net, inputs=x, time_layout="BT", timesteps=T)
    assert report.samples == B and report.timesteps == T
    ref = Reference(net, {sl.LIF: True, sl.ALIF: True, sl.ExpLeak: True})
    ref.run(x)
    ref.remove()
    # ExpLeak emits no spikes: its output (the membrane) is no event tensor
    ref.rows["5"]["spikes"] = 0.0
    assert_matches(report, ref, samples=B)
    assert report.layer("5").output_spike_rate == 0 and report.layer("5").neurons == 4
    assert report.layer("1").neurons == 10 and report.layer("1").neuron_updates == T * 10


def test_recurrent_layer_counts_its_connection():
    torch.manual_seed(0)
    rec = nn.Linear(6, 6, bias=False)
    net = nn.Sequential(nn.Linear(4, 6), sl.IAFRecurrent(rec_connect=rec, spike_threshold=0.3)).eval()
    x = spike_counts((B, T, 4), 3)
    report = syops.profile(net, inputs=x, time_layout="BT")
    with torch.no_grad():
        spikes = net(x)
    row = report.layer("1.rec_connect")
    assert row.calls == T  # called on the spikes of every step
    assert row.synops == pytest.approx(float(spikes.sum()) * 6 / B)
    assert report.layer("1").neuron_updates == T * 6 and report.layer("1").neuron_update_macs == 0


def test_neuromorphic_relu_is_a_neuron_and_spike_counts_are_events():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), sl.NeuromorphicReLU(fanout=3), nn.Linear(7, 3)).eval()
    x = torch.randn(4, 5) * 3
    report = syops.profile(net, inputs=x)
    assert is_neuron(net[1])
    with torch.no_grad():
        counts = net[1](net[0](x))
    assert report.layer("1").neurons == 7
    assert report.layer("2").synops == pytest.approx(float(counts.sum()) * 3 / 4)  # integer counts: events
    assert float(net[1].activity) == pytest.approx(float(counts.sum()) / 4 * 3)  # sinabs' own activity × fanout


def test_state_reset_between_batches_and_restored():
    net = squeezed_net()
    x = spike_counts((B * T, 2, 8, 8), 4)
    net(x)
    before = {name: b.clone() for name, b in net.named_buffers()}
    first = syops.profile(net, inputs=x, batch_size=B)
    after = dict(net.named_buffers())
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert syops.profile(net, inputs=x, batch_size=B).totals == first.totals
