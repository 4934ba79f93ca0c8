"""Memory traffic (docs/contract.md §4) against ground truth computed here, and its price on Horowitz's curve.

Synaptic events are counted by brute force: a convolution of ones (or of the non-zero mask of the
weights) over |x| gives every (event, synapse) pair; dense dataflows from the layer's shapes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import syops
from syops.memory import MemoryModel, resolve_memory, sram_access_pj
from syops.traffic import ACCESS_KINDS

NOREUSE = "sram-45nm-noreuse"


def _pairs(conv: nn.Conv2d, x: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Σ over (event, synapse) pairs: a convolution of ones (or of the weight mask) over |x|."""
    ones = torch.ones_like(conv.weight, dtype=torch.float64) if mask is None else mask.double()
    y = F.conv2d(x.abs().double(), ones, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return float(y.sum())


def _conv_report(conv: nn.Conv2d, x: torch.Tensor, **kwargs) -> syops.LayerStats:
    return syops.profile(conv, inputs=x, **kwargs).layer("")


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 3),
    out=st.integers(1, 4),
    size=st.integers(3, 9),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_conv_events_per_synaptic_event(batch, channels, out, size, kernel, stride, padding, groups, bias, seed):
    channels, out = channels * groups, out * groups
    if size + 2 * padding < kernel:
        return
    torch.manual_seed(seed)
    conv = nn.Conv2d(channels, out, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    x = (torch.rand(batch, channels, size, size) < 0.3).float()
    layer = _conv_report(conv, x)
    y = conv(x)
    synops = _pairs(conv, x) / batch
    events = float(x.sum()) / batch
    outputs_per_sample = y[0].numel()
    assert layer.synops == pytest.approx(synops, abs=1e-9)
    m = layer.memory
    assert m["weight_reads"] == pytest.approx(synops, abs=1e-9)
    assert m["state_reads"] == m["state_writes"] == pytest.approx(synops, abs=1e-9)
    assert m["input_reads"] == pytest.approx(events, abs=1e-9)
    assert m["bias_reads"] == (outputs_per_sample if bias else 0)
    assert m["output_writes"] == 0
    # the same per-sample figures from the samples one by one
    single = [_conv_report(conv, x[i : i + 1]).memory for i in range(batch)]
    for kind in ACCESS_KINDS:
        assert m[kind] == pytest.approx(sum(s[kind] for s in single) / batch, abs=1e-9)


def test_border_aware_fanout_by_hand():
    """A 3×3, stride-2, padding-1 conv of a 5×5 map, 2 output channels: a corner spike reaches one output
    position per channel, a spike at (1, 1) four (never ⌈k/s⌉² = 4 for every spike), one at (2, 2) one."""
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
    for (row, col), reached in {(0, 0): 1, (1, 1): 4, (2, 2): 1, (4, 4): 1, (0, 1): 2, (1, 4): 2}.items():
        x = torch.zeros(1, 1, 5, 5)
        x[0, 0, row, col] = 1
        m = _conv_report(conv, x).memory
        assert m["weight_reads"] == m["state_reads"] == m["state_writes"] == 2 * reached, (row, col)
        assert m["input_reads"] == 1 and m["output_writes"] == 0 and m["bias_reads"] == 0


def test_integer_events_count_their_magnitude():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1], x[0, 0, 3, 0] = 2.0, -1.0  # a spike count of 2 and a negative (ternary) spike
    m = _conv_report(conv, x).memory
    assert m["input_reads"] == 3
    assert m["weight_reads"] == 2 * 9 + 1 * 4  # interior fan-out 9, corner 4


def test_skip_zero_weights_neither_counts_nor_reads_zero_weights():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight[torch.rand_like(conv.weight) < 0.5] = 0
    x = (torch.rand(2, 2, 6, 6) < 0.4).float()
    layer = _conv_report(conv, x, skip_zero_weights=True)
    expected = _pairs(conv, x, conv.weight != 0) / 2
    assert layer.synops == pytest.approx(expected)
    assert layer.memory["weight_reads"] == pytest.approx(expected)
    assert layer.memory["state_reads"] == pytest.approx(expected)


@pytest.mark.parametrize("memory", ["sram-45nm", NOREUSE])
@pytest.mark.parametrize("batch", [1, 3])
def test_dense_conv_dataflows(memory, batch):
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, groups=1)
    x = torch.randn(batch, 3, 7, 7)
    layer = _conv_report(conv, x, memory=memory)
    outputs = conv(x)[0].numel()  # per sample: 4 × 4 × 4
    macs = outputs * 3 * 9  # per sample, without the bias adds
    m = layer.memory
    if memory == NOREUSE:  # Lemaire: a weight and an input per MAC
        assert m["weight_reads"] == m["input_reads"] == macs
        assert m["bias_reads"] == outputs
    else:  # ideal reuse: each weight once per image, each input element once
        assert m["weight_reads"] == conv.weight.numel()
        assert m["input_reads"] == 3 * 7 * 7
        assert m["bias_reads"] == 4
    assert m["output_writes"] == outputs
    assert m["state_reads"] == m["state_writes"] == 0


@pytest.mark.parametrize("memory", ["sram-45nm", NOREUSE])
def test_linear_on_time_steps_counts_images(memory):
    """[T, B, in] through a Linear: an image is one sample at one step, T·B images per call."""
    torch.manual_seed(2)
    fc = nn.Linear(6, 5)
    x = torch.randn(4, 2, 6)  # T = 4, B = 2
    layer = syops.profile(fc, inputs=x, timesteps=4, time_layout="TB", memory=memory).layer("")
    m = layer.memory
    images = 4  # per sample
    if memory == NOREUSE:
        assert m["weight_reads"] == m["input_reads"] == images * 5 * 6
        assert m["bias_reads"] == images * 5
    else:
        assert m["weight_reads"] == images * 30 and m["input_reads"] == images * 6
        assert m["bias_reads"] == images * 5
    assert m["output_writes"] == images * 5


def test_linear_events():
    torch.manual_seed(3)
    fc = nn.Linear(8, 3, bias=False)
    x = (torch.rand(5, 8) < 0.5).float()
    m = syops.profile(fc, inputs=x).layer("").memory
    events = float(x.sum()) / 5
    assert m["input_reads"] == pytest.approx(events)
    assert m["weight_reads"] == m["state_reads"] == pytest.approx(3 * events)
    assert m["bias_reads"] == 0 and m["output_writes"] == 0


def test_elementwise_reads_each_operand_by_its_kind():
    class Residual(nn.Module):
        def forward(self, spikes, dense):
            return spikes + dense, spikes * spikes

    spikes = (torch.rand(2, 10) < 0.3).float()
    dense = torch.randn(2, 10)
    report = syops.profile(Residual(), inputs=(spikes, dense))
    add, mul = report.layer("", "add"), report.layer("", "mul")
    events = float(spikes.sum()) / 2
    # spikes + dense: the spike operand's events from the queue, the dense operand's 10 elements
    assert add.memory["input_reads"] == pytest.approx(events + 10)
    assert add.memory["output_writes"] == 10
    assert mul.memory["input_reads"] == pytest.approx(2 * events) and mul.acs == 10


def test_pooling_writes_its_output():
    x = torch.randn(1, 2, 8, 8)
    m = syops.profile(nn.MaxPool2d(2), inputs=x).layer("").memory
    assert m["input_reads"] == 128 and m["output_writes"] == 32


# -- neuron layers -------------------------------------------------------------------------------------


def _neuron_memory(report: syops.Report, name: str) -> tuple[dict, syops.LayerStats]:
    layer = report.layer(name)
    return layer.memory, layer


def test_spikingjelly_neurons_one_and_two_state_words():
    from spikingjelly.activation_based import functional, neuron

    torch.manual_seed(4)
    for node, words in ((neuron.IFNode(), 1), (neuron.LIFNode(), 1), (neuron.CUBALIFNode(), 2)):
        functional.set_step_mode(node, "m")
        x = torch.rand(3, 2, 5) * 2  # T = 3, B = 2, 5 neurons
        spikes = []
        functional.reset_net(node)
        with torch.no_grad():
            spikes = node(x)
        functional.reset_net(node)
        report = syops.profile(node, inputs=x, timesteps=3, time_layout="TB")
        m, layer = _neuron_memory(report, "")
        updates = 3 * 5  # per sample
        assert layer.neuron_updates == updates
        assert m["input_reads"] == updates
        assert m["state_reads"] == m["state_writes"] == updates * words, type(node).__name__
        assert m["output_writes"] == pytest.approx(float(spikes.sum()) / 2)


def test_sinabs_and_snntorch_state_words():
    import sinabs.layers as sl
    import snntorch as snn

    x = torch.rand(2, 4, 6) * 2  # [B, T, neurons]
    for layer, words in ((sl.IAF(), 1), (sl.IAF(tau_syn=3.0), 2), (sl.LIF(tau_mem=2.0), 1)):
        m, stats = _neuron_memory(syops.profile(layer, inputs=x, timesteps=4, time_layout="BT"), "")
        assert m["state_reads"] == stats.neuron_updates * words == 4 * 6 * words

    class Loop(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell

        def forward(self, seq):
            out = []
            for step in seq:
                out.append(self.cell(step)[0])
            return torch.stack(out)

    seq = torch.rand(5, 3, 4) * 2
    for cell, words in ((snn.Leaky(beta=0.5), 1), (snn.Synaptic(alpha=0.5, beta=0.5), 2)):
        report = syops.profile(Loop(cell), inputs=seq, timesteps=5, time_layout="TB")
        m, stats = _neuron_memory(report, "cell")
        assert stats.neuron_updates == 5 * 4
        assert m["state_reads"] == m["state_writes"] == 5 * 4 * words


# -- prices --------------------------------------------------------------------------------------------


def test_horowitz_curve_breakpoints_and_interpolation():
    assert sram_access_pj(1) == sram_access_pj(8192) == 10.0
    assert sram_access_pj(32768) == 20.0 and sram_access_pj(1 << 20) == 100.0
    assert sram_access_pj(10 << 20) == 100.0
    assert sram_access_pj((8192 + 32768) / 2) == pytest.approx(15.0)
    assert sram_access_pj(32768 + (1048576 - 32768) / 4) == pytest.approx(40.0)
    words32 = MemoryModel("x")
    assert words32.access_pj(100) == 5.0  # a 32-bit word: half a 64-bit access
    assert MemoryModel("x", bits=64).access_pj(100) == 10.0
    assert MemoryModel("x", bits=8).access_pj(8192) == pytest.approx(1.25)  # 8 KiB of bytes
    dram = MemoryModel("x", dram_above=1 << 20)
    assert dram.access_pj((1 << 20) / 4) == 50.0  # exactly 1 MiB: still SRAM
    assert dram.access_pj((1 << 20) / 4 + 1) == 650.0  # larger: DRAM, 1300 pJ per 64 bits


def test_memory_energy_is_accesses_at_their_memory_price():
    """A conv on events: weights from the parameter memory, events from the queue, accumulators from the
    state memory (its output elements per image)."""
    conv = nn.Conv2d(2, 4, 3, padding=1)
    x = (torch.rand(1, 2, 6, 6) < 0.3).float()
    model = MemoryModel("m", bits=16, queue_words=256)
    layer = _conv_report(conv, x, memory=model)
    m = layer.memory
    params, state = conv.weight.numel() + 4, 4 * 6 * 6
    expected_pj = (
        (m["weight_reads"] + m["bias_reads"]) * model.access_pj(params)
        + m["input_reads"] * model.access_pj(256)
        + (m["state_reads"] + m["state_writes"]) * model.access_pj(state)
    )
    assert layer.memory_energy_mj == pytest.approx(expected_pj * 1e-9)
    assert layer.energy_mj == pytest.approx(layer.compute_energy_mj + layer.memory_energy_mj)


def test_totals_are_sums_of_layers_and_none_is_compute_only():
    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    x = (torch.rand(2, 2, 6, 6) < 0.3).float()
    report = syops.profile(net, inputs=x)
    totals = report.totals
    for name in ("energy_mj", "compute_energy_mj", "memory_energy_mj"):
        assert totals[name] == pytest.approx(math.fsum(getattr(layer, name) for layer in report.layers))
    for kind in ACCESS_KINDS:
        assert totals["memory"][kind] == pytest.approx(sum(layer.memory[kind] for layer in report.layers))
    assert totals["energy_mj"] == pytest.approx(totals["compute_energy_mj"] + totals["memory_energy_mj"])
    none = syops.profile(net, inputs=x, memory="none")
    assert none.memory_model is None and none.totals["memory"] is None
    assert none.totals["energy_mj"] == totals["compute_energy_mj"] and none.totals["memory_energy_mj"] == 0
    assert all(layer.memory is None for layer in none.layers)


def test_custom_memory_models(tmp_path):
    path = tmp_path / "chip.toml"
    path.write_text('[memory]\nname = "chip"\nbits = 16\ndense_reuse = "none"\ndram_above = 65536\nqueue_words = 64\n')
    model = resolve_memory(path)
    assert (model.name, model.bits, model.dense_reuse, model.dram_above, model.queue_words) == (
        "chip",
        16,
        "none",
        65536,
        64,
    )
    assert resolve_memory({"bits": 8}).bits == 8 and resolve_memory("none") is None
    for bad, match in [
        ({"bits": 0}, "positive integer"),
        ({"bits": True}, "positive integer"),
        ({"dense_reuse": "some"}, "ideal"),
        ({"cache": 1}, "unknown memory model key"),
        ("sram-7nm", "unknown memory model"),
        (str(tmp_path / "missing.toml"), "does not exist"),
    ]:
        with pytest.raises(syops.SyopsError, match=match):
            resolve_memory(bad)
    broken = tmp_path / "broken.toml"
    broken.write_bytes(b"\xff\xfe bits = 8")
    with pytest.raises(syops.SyopsError, match="TOML"):
        resolve_memory(broken)


def test_loihi_defaults_to_no_memory_model():
    """Loihi's per-event and per-update costs are measured on the chip, memory included."""
    conv = nn.Conv2d(1, 2, 3)
    x = (torch.rand(1, 1, 5, 5) < 0.3).float()
    assert syops.profile(conv, inputs=x, energy="loihi").memory_model is None
    assert syops.profile(conv, inputs=x, energy="loihi", memory="sram-45nm").memory_model.name == "sram-45nm"


# -- the ANN baseline ----------------------------------------------------------------------------------


def test_ann_baseline_runs_once():
    """A spiking ResNet-18 at T = 4 against torchvision's ResNet-18 on the same input size: the baseline is
    one dense pass. The architectures differ only where the spiking net has IF neurons: torchvision's
    ReLUs cost one MAC per element (ptflops), a neuron layer as an activation costs none; both read and
    write every element once."""
    import torchvision
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.model import spiking_resnet

    torch.manual_seed(0)
    snn = spiking_resnet.spiking_resnet18(spiking_neuron=neuron.IFNode)
    functional.set_step_mode(snn, "m")
    ann = torchvision.models.resnet18(weights=None)
    shape = (3, 64, 64)
    spiking = syops.profile(snn, shape, timesteps=4, time_layout="TB", input_encoding="direct")
    dense = syops.profile(ann, shape)
    relu_ops = sum(layer.dense_macs for layer in dense.layers if layer.type == "ReLU")
    assert relu_ops > 0
    expected_compute = dense.totals["compute_energy_mj"] - relu_ops * 4.6e-9
    assert spiking.ann_compute_energy_mj == pytest.approx(expected_compute, rel=1e-9)
    assert spiking.ann_energy_mj == pytest.approx(dense.totals["energy_mj"] - relu_ops * 4.6e-9, rel=1e-9)
    # not T dense passes: the old ratio's denominator was four times this compute
    assert spiking.totals["dense_macs"] * 4.6e-9 == pytest.approx(4 * expected_compute, rel=1e-9)


def test_memory_none_keeps_the_compute_energy_of_zoo_models():
    from syops import zoo

    for name in ("snntorch_mlp", "dynapcnn_nmnist", "spikformer_block"):
        entry = zoo.get(name)
        options = entry.resolve_options({})
        layout = entry.layout_for(options)
        kwargs = dict(timesteps=entry.timesteps, time_layout=layout, input_encoding=entry.encoding)
        priced = syops.profile(entry.make(options, seed=0), entry.input_shape, **kwargs)
        compute_only = syops.profile(entry.make(options, seed=0), entry.input_shape, memory="none", **kwargs)
        totals = compute_only.totals
        assert totals["energy_mj"] == priced.totals["compute_energy_mj"], name
        assert totals["energy_mj"] == pytest.approx(
            math.fsum(
                priced.energy_model.layer_energy_mj(
                    layer.acs,
                    layer.macs,
                    layer.synops,
                    layer.neuron_updates - layer.neuron_update_macs,
                    layer.neuron_update_macs,
                )
                for layer in priced.layers
            )
        )


def test_tokens_of_a_sample_form_one_image():
    """A Linear on [B, N, D] tokens (a transformer): with ideal reuse each weight is read once per sample,
    not once per token; a recurrent layer's steps ([L, N, in], not the batch's layout) are images each."""
    fc = nn.Linear(6, 4)
    tokens = torch.randn(2, 5, 6)  # B = 2 samples of 5 tokens
    m = syops.profile(fc, inputs=tokens).layer("").memory
    assert m["weight_reads"] == 24 and m["bias_reads"] == 4
    assert m["input_reads"] == 30 and m["output_writes"] == 20
    attention = nn.MultiheadAttention(6, 2, batch_first=True)
    mha = syops.profile(attention, inputs=(tokens, tokens, tokens)).layer("", "MultiheadAttention").memory
    projections = 4 * 36 + 4 * 6  # the q, k, v and output projections' weights and biases, once per sample
    assert mha["weight_reads"] + mha["bias_reads"] == projections
    for steps in (7, 2):  # also when the sequence is as long as the batch is large
        rnn = nn.RNN(6, 3, batch_first=True)
        seq = torch.randn(2, steps, 6)  # N = 2 samples of L steps
        memory = syops.profile(rnn, inputs=seq).layer("").memory
        # W_ih and W_hh each read once per step and sample: (18 + 9) weights × L steps
        assert memory["weight_reads"] == steps * (18 + 9)


def test_norse_state_words():
    """Norse's LIF keeps a membrane and a synaptic current (two words), its IAF a membrane (one)."""
    from norse.torch import IAFCell, LIFCell

    class Loop(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.cell = cell

        def forward(self, seq):
            state, out = None, []
            for step in seq:
                z, state = self.cell(step, state)
                out.append(z)
            return torch.stack(out)

    seq = torch.rand(6, 2, 5) * 3
    for cell, words in ((LIFCell(), 2), (IAFCell(), 1)):
        layer = syops.profile(Loop(cell), inputs=seq, timesteps=6, time_layout="TB").layer("cell")
        assert layer.neuron_updates == 6 * 5
        assert layer.memory["state_reads"] == layer.memory["state_writes"] == 6 * 5 * words


def test_sdpa_reads_the_attention_weights_it_computes():
    class Attention(nn.Module):
        def forward(self, x):
            return F.scaled_dot_product_attention(x, x, x)

    x = torch.randn(1, 6, 4)  # L = S = 6, E = 4
    m = syops.profile(Attention(), inputs=x).layer("").memory
    # q 24 + k 24 (the scores' product), the softmax reading its 36 scores, the weights (36) and v (24)
    assert m["input_reads"] == 24 + 24 + 36 + 36 + 24
    assert m["output_writes"] == 36 + 36 + 24  # scores, weights, the output
    noreuse = syops.profile(Attention(), inputs=x, memory="sram-45nm-noreuse").layer("").memory
    assert noreuse["input_reads"] == 2 * 144 + 36 + 2 * 144  # both operands per MAC, twice; the softmax


def test_product_event_elements_are_exact_past_float32():
    """A matmul with an event operand of 2**24 + 1 elements: its element count (for the event rate) is
    kept in the accumulator dtype, not rounded to float32."""
    a = torch.zeros(1, (1 << 24) + 1)
    a[0, 0] = 1.0
    b = torch.ones((1 << 24) + 1, 1) * 0.5

    class MatMul(nn.Module):
        def forward(self, x, y):
            return x @ y

    layer = syops.profile(MatMul(), inputs=(a, b), batch_size=1, memory="none").layer("", "matmul")
    assert layer.input_event_rate == 1 / ((1 << 24) + 1)
