"""snnTorch networks that loop over time inside forward(), against brute force; NeuroBench's
SynapticOperations definition (computed here from its source: binarised inputs and weights through a
copy of the layer, no bias) where its conventions and syops' coincide."""

from __future__ import annotations

import pytest
import snntorch as snn
import torch
from test_spikingjelly import Reference, assert_matches
from torch import nn

import syops
from syops.frameworks import is_neuron

B, T = 3, 6


class LoopNet(nn.Module):
    """fc → Leaky → fc → Synaptic → fc → Alpha, T steps inside forward (snnTorch tutorial style)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(10, 16)
        self.lif1 = snn.Leaky(beta=0.8, threshold=0.5)
        self.fc2 = nn.Linear(16, 12)
        self.lif2 = snn.Synaptic(alpha=0.7, beta=0.8, threshold=0.3)
        self.fc3 = nn.Linear(12, 4)
        self.lif3 = snn.Lapicque(beta=0.9, threshold=0.2)

    def forward(self, x):  # x: [B, 10], the same frame every step
        mem1 = self.lif1.reset_mem()
        syn2, mem2 = self.lif2.reset_mem()
        mem3 = self.lif3.reset_mem()
        out = []
        for _ in range(T):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
            spk3, mem3 = self.lif3(self.fc3(spk2), mem3)
            out.append(spk3)
        return torch.stack(out)


def test_time_loop_inside_forward_matches_brute_force():
    net = LoopNet().eval()
    x = torch.rand(B, 10, generator=torch.Generator().manual_seed(1)) * 2
    # the same frame every step: the samples are the batch dimension, which batch_size names
    report = syops.profile(net, inputs=x, timesteps=T, batch_size=B)
    assert report.samples == B and report.timesteps == T
    assert report.layer("lif1").calls == T and report.layer("fc2").calls == T
    ref = Reference(net, {snn.Leaky: True, snn.Synaptic: True, snn.Lapicque: True})
    ref.run(x)
    ref.remove()
    assert_matches(report, ref, samples=B)
    assert report.layer("lif1").neurons == 16 and report.layer("lif1").neuron_updates == T * 16
    assert report.layer("fc2").synops > 0 and report.layer("fc1").acs == 0  # dense frame in, spikes after
    assert all(is_neuron(getattr(net, n)) for n in ("lif1", "lif2", "lif3"))
    assert report.per_timestep().layer("lif1").neuron_updates == 16


class RecurrentNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(6, 8)
        self.rlif = snn.RLeaky(beta=0.9, linear_features=8, threshold=0.3)
        self.slstm = snn.SLSTM(8, 5, threshold=0.05)

    def forward(self, x):  # x: [T, B, 6]
        spk, mem = self.rlif.reset_mem()
        syn2, mem2 = self.slstm.reset_mem()
        out = []
        for step in x:
            spk, mem = self.rlif(self.fc(step), spk, mem)
            spk2, syn2, mem2 = self.slstm(spk, syn2, mem2)
            out.append(spk2)
        return torch.stack(out)


def test_recurrent_and_lstm_neurons_count_their_children():
    net = RecurrentNet().eval()
    x = (torch.rand(T, B, 6, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    report = syops.profile(net, inputs=x, batch_size=B, timesteps=T)
    # replay: the recurrent Linear sees the previous step's spikes; the LSTM cell sees this step's
    rec_in, cell_in, cell_h = [], [], []
    net.rlif.recurrent.register_forward_pre_hook(lambda m, a: rec_in.append(a[0].clone()))

    def record_cell(m, a):
        cell_in.append(a[0].clone())
        cell_h.append(a[1][0].clone())

    net.slstm.lstm_cell.register_forward_pre_hook(record_cell)
    with torch.no_grad():
        net(x)
    rec = report.layer("rlif.recurrent")
    assert rec.type == "Linear" and rec.calls == T
    assert rec.synops == pytest.approx(sum(float(s.sum()) for s in rec_in) * 8 / B)
    cell = report.layer("slstm.lstm_cell")
    assert cell.type == "LSTMCell" and cell.calls == T
    # input-to-hidden on spikes: events × 4·hidden; hidden-to-hidden on the dense hidden state: MACs
    assert cell.synops == pytest.approx(sum(float(s.sum()) for s in cell_in) * 4 * 5 / B)
    dense_hh_steps = sum(1 for h in cell_h if not bool((h == h.round()).all()))
    assert cell.macs == pytest.approx((dense_hh_steps * (4 * 5 * 5 + 4 * 5) + T * 10 * 5) * B / B)
    assert report.layer("rlif").neuron_update_macs == T * 8
    # parameters: each child's on its own row, the neuron keeps its own (threshold, beta) only
    assert rec.params == 8 * 8 + 8 and cell.params == sum(p.numel() for p in net.slstm.lstm_cell.parameters())
    assert report.layer("rlif").params == sum(p.numel() for p in net.rlif.parameters(recurse=False))
    assert report.totals["params"] == sum(p.numel() for p in net.parameters())
    assert report.layer("slstm").neuron_updates == T * 5 and report.layer("slstm").neuron_update_macs == 0


def test_conv_lstm_neuron():
    torch.manual_seed(0)
    m = snn.SConv2dLSTM(in_channels=2, out_channels=3, kernel_size=3, threshold=0.05).eval()
    x = (torch.rand(B, 2, 5, 5, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    report = syops.profile(m, inputs=x)
    conv = report.layer("conv")
    assert conv.type == "Conv2d" and conv.calls == 1
    # the conv over [input, h]: h starts at zero, so the concatenation is an event tensor here
    assert conv.synops > 0
    row = report.layer("")
    assert row.neurons == 3 * 5 * 5 and row.neuron_updates == 3 * 5 * 5
    assert row.macs == pytest.approx(6 * 3 * 5 * 5)  # the gate arithmetic


def test_state_restored_and_reset_per_batch():
    net = RecurrentNet().eval()
    net.rlif.init_hidden = False
    x = (torch.rand(T, B, 6, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    net(x)
    before = {k: v.clone() for k, v in net.rlif.named_buffers()}
    first = syops.profile(net, inputs=x, batch_size=B)
    assert all(torch.equal(before[k], v) for k, v in net.rlif.named_buffers())
    assert syops.profile(net, inputs=x, batch_size=B).totals == first.totals


# -- NeuroBench ---------------------------------------------------------------------------------------


def neurobench_synaptic_operations(model: nn.Module, run) -> dict[str, float]:
    """NeuroBench 2.3's SynapticOperations for Linear / Conv layers, as its source defines it: each
    call's input is binarised (non-zero → 1) and run through a copy of the layer whose weights are
    binarised the same way and whose bias is zeroed; the sum of that output is the call's operations,
    ACs when the input held only {-1, 0, 1}, else MACs. "Dense" runs all-ones inputs and weights."""
    totals = {"Effective_ACs": 0.0, "Effective_MACs": 0.0, "Dense": 0.0}

    def hook(m, args, out):
        x = args[0]
        spiking = bool(((x == 0) | (x == 1) | (x == -1)).all())
        w = (m.weight != 0).double()
        w_ones = torch.ones_like(w)
        xb = (x != 0).double()
        fn = (
            (lambda a, ww: nn.functional.linear(a, ww))
            if isinstance(m, nn.Linear)
            else (lambda a, ww: m._conv_forward(a, ww, None))
        )
        ops = float(fn(xb, w).sum())
        totals["Effective_ACs" if spiking else "Effective_MACs"] += ops
        totals["Dense"] += float(fn(torch.ones_like(xb), w_ones).sum())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        run()
    for h in handles:
        h.remove()
    return totals


def test_agrees_with_neurobench_synaptic_operations():
    net = LoopNet().eval()
    x = (torch.rand(B, 10, generator=torch.Generator().manual_seed(5)) < 0.5).float()  # binary input
    with torch.no_grad():
        net.fc2.weight[:, ::3] = 0  # pruned synapses: NeuroBench never counts zero weights
    nb = neurobench_synaptic_operations(net, lambda: net(x))
    report = syops.profile(net, inputs=x, skip_zero_weights=True)
    # binary input everywhere: all ACs, and the same count with zero weights skipped
    assert nb["Effective_MACs"] == 0
    assert report.totals["synops"] == pytest.approx(nb["Effective_ACs"] / B)
    # NeuroBench's Dense is syops' dense MACs of the synaptic layers without the bias adds
    synaptic = [r for r in report.layers if r.type == "Linear"]
    bias_adds = T * (16 + 12 + 4)
    assert sum(r.dense_macs for r in synaptic) - bias_adds == pytest.approx(nb["Dense"] / B)
    # with zero weights counted (syops' default) the two differ by exactly the pruned synapses reached
    default = syops.profile(net, inputs=x)
    assert default.totals["synops"] > report.totals["synops"]
