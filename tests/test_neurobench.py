"""Report.neurobench(): NeuroBench 2.x's metrics from syops' counts, against brute force computed here
and against the neurobench package itself (2.3.0) on an snnTorch and a spikingjelly model."""

from __future__ import annotations

import pytest
import snntorch as snn
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from snntorch import utils as snn_utils
from torch import nn

import syops
from helpers import brute_force_conv_synops, brute_force_linear_synops
from syops.neurobench import footprint_bytes

B, T = 3, 5


def snntorch_net(bias: bool = True) -> nn.Sequential:
    """Conv → Leaky → Linear (a fifth of its weights zero) → Leaky, one step per call."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=bias),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 10, bias=bias),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[3].weight[:, :50] = 0
    return net.eval()


def spikingjelly_net() -> nn.Sequential:
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 6, 3, stride=2, padding=1),
        neuron.IFNode(),
        layer.Conv2d(6, 8, 3, padding=1, bias=False),
        neuron.LIFNode(),
        layer.Flatten(),
        layer.Linear(8 * 5 * 5, 10),
        neuron.IFNode(),
    )
    functional.set_step_mode(net, "m")
    return net.eval()


def snntorch_input() -> torch.Tensor:
    return torch.rand(2 * B, T, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 3  # [B, T, ...], dense


def spike_input() -> torch.Tensor:
    return (torch.rand(2 * B, T, 2, 10, 10, generator=torch.Generator().manual_seed(2)) < 0.3).float()


def batches(x: torch.Tensor) -> list[tuple[torch.Tensor]]:
    """Two batches, time first ([T, B, ...]) as syops' loop and TB layouts take them."""
    return [(x[:B].transpose(0, 1),), (x[B:].transpose(0, 1),)]


class Recorder:
    """Forward hooks kept in the test: every input of the synaptic layers, every output of the neurons."""

    def __init__(self, net: nn.Module, neuron_types: tuple[type, ...]) -> None:
        self.inputs: dict[nn.Module, list[torch.Tensor]] = {}
        self.outputs: list[torch.Tensor] = []
        self.handles = []
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                self.inputs[m] = []
                self.handles.append(m.register_forward_pre_hook(lambda mod, a: self.inputs[mod].append(a[0])))
            elif isinstance(m, neuron_types):
                self.handles.append(m.register_forward_hook(self._output))

    def _output(self, mod, args, out) -> None:
        self.outputs.append((out[0] if isinstance(out, tuple) else out).detach())

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def brute_force_metrics(net: nn.Module, record: Recorder, samples: int) -> dict:
    """NeuroBench's definitions worked out from the recorded tensors (binarised inputs for the
    effective counts, all-ones inputs for Dense), per sample."""
    acs = macs = dense = 0.0
    for layer, inputs in record.inputs.items():
        count = brute_force_conv_synops if isinstance(layer, nn.Conv2d) else brute_force_linear_synops
        for x in inputs:
            if isinstance(layer, nn.Conv2d):
                x = x.flatten(0, x.dim() - 4)  # spikingjelly's multi-step [T, B, C, H, W]
            binary = (x != 0).float()
            ops = count(layer, binary, skip_zero_weights=True) * x.shape[0]
            spiking = bool(((x == 0) | (x == 1) | (x == -1)).all())
            acs, macs = (acs + ops, macs) if spiking else (acs, macs + ops)
            dense += count(layer, torch.ones_like(x)) * x.shape[0]
    outputs = sum(o.numel() for o in record.outputs)
    nonzero = sum(int((o != 0).sum()) for o in record.outputs)
    zeros = sum(int((m.weight == 0).sum()) for m in record.inputs)
    weights = sum(m.weight.numel() for m in record.inputs)
    return {
        "connection_sparsity": zeros / weights,
        "activation_sparsity": 1 - nonzero / outputs,
        "synaptic_operations": {
            "Effective_MACs": macs / samples,
            "Effective_ACs": acs / samples,
            "Dense": dense / samples,
        },
        "membrane_updates": outputs / samples,
    }


def assert_close(ours: dict, theirs: dict) -> None:
    for key, value in theirs.items():
        if isinstance(value, dict):
            assert_close(ours[key], value)
        else:
            assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_snntorch_metrics_match_brute_force():
    net = snntorch_net()
    x = snntorch_input()
    report = syops.profile(net, dataloader=batches(x), time_layout="loop", timesteps=T, skip_zero_weights=True)
    fresh = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])  # mem: empty
    record = Recorder(net, (snn.Leaky,))
    for (batch,) in batches(x):
        snn_utils.reset(net)
        for step in batch:
            net(step)
    record.remove()
    ours = report.neurobench()
    assert_close(ours, brute_force_metrics(net, record, 2 * B))
    # float32 parameters; per Leaky three float32 scalars (θ, graded-spike factor, β), an int64 reset code
    assert ours["footprint"] == fresh == 4 * sum(p.numel() for p in net.parameters()) + 2 * (3 * 4 + 8)
    assert ours["synaptic_operations"]["Effective_ACs"] > 0 and ours["synaptic_operations"]["Effective_MACs"] > 0


def test_spikingjelly_metrics_match_brute_force():
    from spikingjelly.activation_based import functional, neuron

    net = spikingjelly_net()
    x = spike_input()
    report = syops.profile(net, dataloader=batches(x), time_layout="TB", timesteps=T)
    record = Recorder(net, (neuron.BaseNode,))
    for (batch,) in batches(x):
        functional.reset_net(net)
        net(batch)
    record.remove()
    functional.reset_net(net)
    ours = report.neurobench()
    assert_close(ours, brute_force_metrics(net, record, 2 * B))
    assert ours["synaptic_operations"]["Effective_MACs"] == 0  # spikes in, spikes between the layers
    # NeuroBench's Dense leaves out the padded border and the bias adds that syops' dense MACs hold
    assert ours["synaptic_operations"]["Dense"] < report.totals["dense_macs"]


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(3, 9),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
)
def test_dense_and_effective_counts_of_any_conv_geometry(size, kernel, stride, padding, dilation):
    if (size + 2 * padding - dilation * (kernel - 1)) < 1:
        return
    torch.manual_seed(size * 7 + kernel)
    conv = nn.Conv2d(2, 3, kernel, stride=stride, padding=padding, dilation=dilation)
    with torch.no_grad():
        conv.weight[0] = 0  # a pruned output channel
    net = nn.Sequential(conv).eval()
    x = (torch.rand(2, 2, size, size, generator=torch.Generator().manual_seed(size)) < 0.4).float()
    ops = syops.profile(net, inputs=x, skip_zero_weights=True).neurobench()["synaptic_operations"]
    assert ops["Effective_ACs"] == pytest.approx(brute_force_conv_synops(conv, x, skip_zero_weights=True))
    assert ops["Dense"] == pytest.approx(brute_force_conv_synops(conv, torch.ones_like(x)))
    dense_in = torch.rand(2, 2, size, size, generator=torch.Generator().manual_seed(size)) + 0.5
    ops = syops.profile(net, inputs=dense_in, skip_zero_weights=True).neurobench()["synaptic_operations"]
    assert ops["Effective_ACs"] == 0
    assert ops["Effective_MACs"] == pytest.approx(brute_force_conv_synops(conv, dense_in.ne(0).float(), True))


def test_what_neurobench_metrics_cannot_be_had_is_an_error_or_none():
    net = snntorch_net()
    x = batches(snntorch_input())
    with pytest.raises(syops.SyopsError, match="skip_zero_weights=True"):
        syops.profile(net, dataloader=x, time_layout="loop", timesteps=T).neurobench()
    relu = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    metrics = syops.profile(relu, (4,)).neurobench()
    assert metrics["activation_sparsity"] is None  # NeuroBench counts the zeros of ReLU outputs
    assert metrics["synaptic_operations"]["Effective_MACs"] == 4 * 4 + 4 * 2
    with pytest.raises(syops.SyopsError, match="recurrent"):
        syops.profile(nn.Sequential(nn.LSTM(3, 4)), (2, 3)).neurobench()
    report = syops.profile(relu, (4,))
    with pytest.raises(syops.SyopsError, match="per sample"):
        report.per_timestep().neurobench()
    with torch.no_grad():
        relu[0].weight[0, 0] = 0  # pruned after the profile: its counts no longer describe the model
    with pytest.raises(syops.SyopsError, match="weights changed"):
        report.neurobench()
    report.neurobench_figures = None
    with pytest.raises(syops.SyopsError, match=r"syops\.profile"):
        report.neurobench()


def test_profile_leaves_no_hook_behind():
    net = snntorch_net()
    syops.profile(net, dataloader=batches(snntorch_input()), time_layout="loop", timesteps=T)
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in net.modules())


# -- against the neurobench package --------------------------------------------------------------------


def run_neurobench(model, x: torch.Tensor) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations

    data = torch.utils.data.TensorDataset(x, torch.zeros(len(x), dtype=torch.long))
    loader = torch.utils.data.DataLoader(data, batch_size=B)
    metrics = [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations, MembraneUpdates]]
    return Benchmark(model, loader, [], [], metrics).run(quiet=True)


def as_syops_names(results: dict) -> dict:
    names = {
        "Footprint": "footprint",
        "ConnectionSparsity": "connection_sparsity",
        "ActivationSparsity": "activation_sparsity",
        "SynapticOperations": "synaptic_operations",
        "MembraneUpdates": "membrane_updates",
    }
    return {names[k]: v for k, v in results.items()}


@pytest.mark.parametrize("bias", [True, False])
def test_snntorch_model_against_neurobench(bias):
    pytest.importorskip("neurobench", reason="neurobench is not installed (pip install neurobench==2.3.0)")
    from neurobench.models import SNNTorchModel

    net = snntorch_net(bias)
    x = snntorch_input() if bias else (snntorch_input() < 0.15).float()  # without a bias: sparse spikes in
    ours = syops.profile(net, dataloader=batches(x), time_layout="loop", timesteps=T, skip_zero_weights=True)
    ours = ours.neurobench()
    theirs = as_syops_names(run_neurobench(SNNTorchModel(net), x))  # the same fresh model: mem buffers empty
    assert ours["footprint"] == theirs["footprint"]
    assert round(ours["connection_sparsity"], 4) == theirs["connection_sparsity"]  # NeuroBench rounds
    assert ours["activation_sparsity"] == pytest.approx(theirs["activation_sparsity"], rel=1e-12)
    assert ours["synaptic_operations"] == pytest.approx(theirs["synaptic_operations"], rel=1e-12)
    if bias:  # every membrane moves at every step: NeuroBench's count of changed membranes is all of them
        assert ours["membrane_updates"] == theirs["membrane_updates"]
    else:  # silent neurons keep a membrane of exactly 0, which NeuroBench does not count as an update
        assert theirs["membrane_updates"] < ours["membrane_updates"] == 2 * B * T * (256 + 10) / (2 * B)
    # NeuroBench's footprint counts snnTorch's state buffers at their size now: a batch's membranes
    assert footprint_bytes(net) == ours["footprint"] + 4 * B * (256 + 10)


class _TimeFirst(nn.Module):
    """NeuroBench's [B, T, ...] batches to spikingjelly's [T, B, ...], state reset per batch."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        return self.net(x.transpose(0, 1)).transpose(0, 1)


def test_spikingjelly_model_against_neurobench():
    pytest.importorskip("neurobench", reason="neurobench is not installed (pip install neurobench==2.3.0)")
    from neurobench.models import TorchModel
    from spikingjelly.activation_based import neuron

    net = spikingjelly_net()
    x = spike_input()
    ours = syops.profile(net, dataloader=batches(x), time_layout="TB", timesteps=T).neurobench()
    model = TorchModel(_TimeFirst(net))
    model.add_activation_module(neuron.BaseNode)  # NeuroBench hooks ReLU / Sigmoid / snnTorch only
    theirs = as_syops_names(run_neurobench(model, x))
    for key in ("footprint", "activation_sparsity", "synaptic_operations"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-12), key
    assert ours["connection_sparsity"] == theirs["connection_sparsity"] == 0
    # NeuroBench reads the membrane of snnTorch neurons only (their `mem`): 0 for spikingjelly's
    assert theirs["membrane_updates"] == 0 and ours["membrane_updates"] == T * (6 * 5 * 5 + 8 * 5 * 5 + 10)


def test_digits_zeros_are_macs_to_syops_and_skipped_by_neurobench():
    """Digits' black pixels (49 % of them) are exact zeros of a dense input: syops counts them as MACs,
    NeuroBench binarises them away; every other metric agrees."""
    pytest.importorskip("neurobench", reason="neurobench is not installed (pip install neurobench==2.3.0)")
    from neurobench.models import TorchModel
    from spikingjelly.activation_based import neuron

    from syops.models import digits

    net = digits.digits_scnn(seed=0).eval()
    with torch.no_grad():
        net[3].weight.mul_(40)  # louder than at random init: the second stage fires too
    _, _, x, _ = digits.digits_split()
    x = x[: 2 * B]
    frames = x.unsqueeze(1).expand(-1, T, -1, -1, -1).contiguous()  # [B, T, 1, 8, 8]
    ours = syops.profile(net, dataloader=batches(frames), time_layout="TB", timesteps=T).neurobench()
    model = TorchModel(_TimeFirst(net))
    model.add_activation_module(neuron.BaseNode)
    theirs = as_syops_names(run_neurobench(model, frames))
    for key in ("footprint", "connection_sparsity", "activation_sparsity"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-12), key
    ops, nb_ops = ours["synaptic_operations"], theirs["synaptic_operations"]
    assert ops["Effective_ACs"] == pytest.approx(nb_ops["Effective_ACs"], rel=1e-12) and ops["Effective_ACs"] > 0
    assert ops["Dense"] == nb_ops["Dense"]
    conv = net[0]
    every_pixel = brute_force_conv_synops(conv, torch.ones_like(x)) * T
    lit_pixels = brute_force_conv_synops(conv, x.ne(0).float()) * T
    assert ops["Effective_MACs"] == pytest.approx(every_pixel) and nb_ops["Effective_MACs"] == pytest.approx(lit_pixels)
    assert lit_pixels < 0.75 * every_pixel


def test_a_lazy_model_has_no_footprint_to_report():
    model = nn.Sequential(nn.LazyLinear(4))
    report = syops.profile(model, (3,))
    assert report.layer("0").params == 16  # counted once materialised; the model comes back lazy
    with pytest.raises(syops.SyopsError, match="lazy"):
        report.neurobench()
