"""RNN / LSTM / GRU (layers and cells) and MultiheadAttention with spiking and dense inputs: brute force for
the event-driven parts, ptflops for the dense conventions; spikformer-style spike attention exact."""

from __future__ import annotations

import ptflops
import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import neuron
from torch import nn

import syops
from syops.rules.attention import recompute

GATES = {nn.RNN: 1, nn.GRU: 3, nn.LSTM: 4, nn.RNNCell: 1, nn.GRUCell: 3, nn.LSTMCell: 4}
GATE_OPS = {nn.RNN: 1, nn.GRU: 7, nn.LSTM: 10, nn.RNNCell: 1, nn.GRUCell: 7, nn.LSTMCell: 10}
L, N, IN, H = 5, 3, 6, 4


def spikes(shape, seed):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.4).float()


def ptflops_macs(model: nn.Module, x: torch.Tensor) -> float:
    class Wrap(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, t):
            return self.m(t)

    macs, _ = ptflops.get_model_complexity_info(
        Wrap(model),
        tuple(x.shape[1:]),
        input_constructor=lambda _: x,
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": False},
    )
    return macs * x.shape[0]  # ptflops divides by the first dimension of the input


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_single_layer_spiking_input(cls):
    torch.manual_seed(0)
    m = cls(IN, H).eval()
    x = spikes((L, N, IN), 1)
    report = syops.profile(m, inputs=x, batch_size=N)
    row = report.layer("")
    g = GATES[cls]
    # input-to-hidden: every input event meets g·H weights (brute force: a product with ones)
    ih = float(F.linear(x, torch.ones(g * H, IN)).sum())
    assert row.synops == pytest.approx(ih / N)
    out = m(x)[0]
    previous = torch.cat([torch.zeros(1, N, H), out[:-1]])
    assert not bool((previous == previous.round()).all())  # tanh states: dense
    hh = L * N * g * H * H + L * N * g * H
    gates = GATE_OPS[cls] * H * L * N
    assert row.acs == pytest.approx((ih + L * N * g * H) / N)
    assert row.macs == pytest.approx((hh + gates) / N)
    assert row.dense_macs * N == pytest.approx(ptflops_macs(m, x))


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU, nn.LSTM])
def test_stacked_bidirectional_batch_first(cls):
    torch.manual_seed(0)
    m = cls(IN, H, num_layers=2, bidirectional=True, batch_first=True).eval()
    x = spikes((N, L, IN), 2)
    report = syops.profile(m, inputs=x)
    g = GATES[cls]
    row = report.layer("")
    # only the first layer's input-to-hidden products see events (both directions)
    ih = 2 * float(F.linear(x, torch.ones(g * H, IN)).sum())
    assert row.synops == pytest.approx(ih / N)
    assert row.acs == pytest.approx((ih + 2 * L * N * g * H) / N)
    assert row.dense_macs * N == pytest.approx(ptflops_macs(m, x))
    assert row.macs == pytest.approx(row.dense_macs - (2 * L * N * g * H * IN + 2 * L * N * g * H) / N)


def test_dense_input_is_all_macs():
    torch.manual_seed(0)
    m = nn.LSTM(IN, H, num_layers=2).eval()
    x = torch.randn(L, N, IN)
    report = syops.profile(m, inputs=x, batch_size=N)
    assert report.totals["acs"] == 0 and report.totals["macs"] == report.totals["dense_macs"]


def test_lstm_projection_is_counted():
    torch.manual_seed(0)
    m = nn.LSTM(IN, H, proj_size=2).eval()
    x = torch.randn(L, N, IN)
    report = syops.profile(m, inputs=x, batch_size=N)
    expected = L * (4 * H * IN + 4 * H * 2 + 2 * 4 * H + 10 * H + H * 2)
    assert report.totals["dense_macs"] == pytest.approx(expected)


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.GRUCell, nn.LSTMCell])
def test_cells(cls):
    torch.manual_seed(0)
    m = cls(IN, H).eval()
    x = spikes((N, IN), 3)
    g = GATES[cls]
    h = torch.randn(N, H)
    hx = (h, torch.randn(N, H)) if cls is nn.LSTMCell else h
    report = syops.profile(m, inputs=(x, hx))
    row = report.layer("")
    ih = float(F.linear(x, torch.ones(g * H, IN)).sum())
    assert row.synops == pytest.approx(ih / N)
    assert row.macs == pytest.approx(g * H * H + g * H + GATE_OPS[cls] * H)
    assert row.dense_macs * N == pytest.approx(ptflops_macs(m, x))
    # without a state the hidden part multiplies zeros: an event tensor with no events
    no_state = syops.profile(m, inputs=x).layer("")
    assert no_state.synops == pytest.approx(ih / N)
    assert no_state.macs == pytest.approx(GATE_OPS[cls] * H)
    assert no_state.dense_macs == pytest.approx(row.dense_macs)


def test_packed_sequence_is_a_clear_error():
    m = nn.GRU(IN, H).eval()
    packed = nn.utils.rnn.pack_padded_sequence(torch.randn(L, 2, IN), [5, 3])
    with pytest.raises(syops.SyopsError, match="packed sequences"):
        syops.profile(m, inputs=(packed,))


# -- attention ------------------------------------------------------------------------------------------

E, HEADS = 8, 2


class SelfAttention(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.mha = nn.MultiheadAttention(E, HEADS, **kwargs)

    def forward(self, x):
        return self.mha(x, x, x)[0]


@pytest.mark.parametrize("batch_first", [False, True])
def test_multihead_attention_spiking_input(batch_first):
    torch.manual_seed(0)
    model = SelfAttention(batch_first=batch_first).eval()
    x = spikes((N, L, E) if batch_first else (L, N, E), 4)
    report = syops.profile(model, inputs=x, batch_size=N)
    row = report.layer("mha")
    events = float(x.sum())
    # the three projections run on events: each event meets E weights, plus the in-projection bias adds
    assert row.synops == pytest.approx(3 * events * E / N)
    assert row.acs == pytest.approx((3 * events * E + 3 * L * N * E) / N)
    assert row.dense_macs * N == pytest.approx(ptflops_macs(model, x))
    assert row.macs == pytest.approx(row.dense_macs - (3 * L * N * E * E + 3 * L * N * E) / N)
    # the recomputed intermediate tensors reproduce the module's output
    _, out = recompute(model.mha, x, x, x)
    expected = model(x)
    assert torch.allclose(out.transpose(0, 1) if batch_first else out, expected, atol=1e-6)


def test_multihead_attention_dense_and_fast_path():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, HEADS, dim_feedforward=16, batch_first=True).eval()
    x = torch.randn(N, L, E)
    before = torch.backends.mha.get_fastpath_enabled()
    report = syops.profile(layer, inputs=x)
    assert torch.backends.mha.get_fastpath_enabled() == before
    row = report.layer("self_attn")
    assert row.calls == 1 and row.acs == 0
    per_sample = L * (3 * E * E + 3 * E + E) + HEADS * (2 * L * L * E // HEADS + L * L) + L * (E * E + E)
    assert row.dense_macs == pytest.approx(per_sample)
    assert report.layer("linear1").calls == 1


class SpikeSelfAttention(nn.Module):
    """Spikformer-style: spike Q, K, V from LIF neurons, attention without softmax."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(E, E), nn.Linear(E, E), nn.Linear(E, E)
        self.q_lif, self.k_lif, self.v_lif = (neuron.LIFNode(v_threshold=0.2) for _ in range(3))

    def forward(self, x):  # [B, L, E] spikes
        q = self.q_lif(self.q(x)).reshape(N, L, HEADS, E // HEADS).transpose(1, 2)
        k = self.k_lif(self.k(x)).reshape(N, L, HEADS, E // HEADS).transpose(1, 2)
        v = self.v_lif(self.v(x)).reshape(N, L, HEADS, E // HEADS).transpose(1, 2)
        attn = q @ k.transpose(-2, -1)
        return (attn * 0.125) @ v


def test_spike_attention_counts_exact_event_pairs():
    torch.manual_seed(0)
    model = SpikeSelfAttention().eval()
    x = spikes((N, L, E), 5)
    report = syops.profile(model, inputs=x)
    with torch.no_grad():
        q = model.q_lif(model.q(x)).reshape(N, L, HEADS, E // HEADS).transpose(1, 2)
        k = model.k_lif(model.k(x)).reshape(N, L, HEADS, E // HEADS).transpose(1, 2)
        v = model.v_lif(model.v(x)).reshape(N, L, HEADS, E // HEADS).transpose(1, 2)
    matmuls = [r for r in report.layers if r.type == "matmul"]
    assert len(matmuls) == 1 and matmuls[0].calls == 2
    qk_pairs = float((q.abs() @ k.abs().transpose(-2, -1)).sum())  # products of two events
    av = float(v.abs().sum()) * L  # dense (scaled) attention × spike V: each V event meets L rows
    assert qk_pairs > 0
    assert matmuls[0].synops == pytest.approx((qk_pairs + av) / N)
    assert matmuls[0].macs == 0
