"""syops.SNNAnalyzer against sinabs.synopcounter.SNNAnalyzer on the same sinabs models and inputs (squeezed
[B·T, ...] and unsqueezed [B, T, ...] layouts, several batches, last batch and averages), and against
brute force on spikingjelly and snnTorch models, where sinabs' analyzer does not apply."""

from __future__ import annotations

import pytest
import sinabs.layers as sl
import snntorch as snn
import torch
from sinabs.synopcounter import SNNAnalyzer as SinabsAnalyzer
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from helpers import brute_force_conv_synops, brute_force_linear_synops, make_input
from syops import SNNAnalyzer

B, T = 3, 4


def num(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def squeezed_net(avg_pool: bool) -> nn.Sequential:
    torch.manual_seed(0)
    pool = nn.AvgPool2d(2) if avg_pool else sl.SumPool2d(2)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        sl.IAFSqueeze(batch_size=B),
        pool,
        nn.Conv2d(4, 8, 3, padding=1),
        sl.LIFSqueeze(tau_mem=5.0, num_timesteps=T),
        sl.SumPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 10),
        sl.IAFSqueeze(batch_size=B),
    )
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(5)
    return net


def reset(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()


def run_batches(net: nn.Module, shape: tuple[int, ...], batches: int = 3) -> None:
    for seed in range(batches):
        reset(net)
        net(make_input("binary", shape, torch.Generator().manual_seed(seed)))


def assert_layers_match(theirs: dict, ours: dict, synops_factor: float = 1.0) -> None:
    assert list(ours["spiking"]) == list(theirs["spiking"])
    assert list(ours["parameter"]) == list(theirs["parameter"])
    for name, expected in theirs["spiking"].items():
        got = ours["spiking"][name]
        assert got["n_neurons"] == expected["n_neurons"]
        assert num(got["firing_rate"]) == pytest.approx(num(expected["firing_rate"]), rel=1e-6, abs=1e-12)
        torch.testing.assert_close(got["firing_rate_per_neuron"].float(), expected["firing_rate_per_neuron"].float())
        torch.testing.assert_close(got["output"].float(), expected["output"].float())
        assert torch.equal(got["input"], expected["input"])
    for name, expected in theirs["parameter"].items():
        got = ours["parameter"][name]
        assert got["num_timesteps"] == expected["num_timesteps"]
        assert got["time_window"] == pytest.approx(expected["time_window"])
        for key in ("synops", "SynOps/s", "synops/s"):
            assert num(got[key]) == pytest.approx(num(expected[key]) * synops_factor, rel=1e-6)


@pytest.mark.parametrize("avg_pool", [False, True])
def test_squeezed_model_matches_sinabs(avg_pool):
    net = squeezed_net(avg_pool)
    theirs = SinabsAnalyzer(net, dt=2.0)
    with SNNAnalyzer(net, dt=2.0) as ours:
        run_batches(net, (B * T, 2, 16, 16))
        for average in (False, True):
            layers = theirs.get_layer_statistics(average=average)
            assert_layers_match(layers, ours.get_layer_statistics(average=average))
            expected, got = theirs.get_model_statistics(average=average), ours.get_model_statistics(average=average)
            assert num(got["firing_rate"]) == pytest.approx(num(expected["firing_rate"]), rel=1e-6)
            assert num(got["n_spiking_neurons"]) == num(expected["n_spiking_neurons"])
            layer_sum = sum(num(v["synops"]) for v in layers["parameter"].values())
            assert num(got["synops"]) == pytest.approx(layer_sum, rel=1e-6)
            if not avg_pool:  # sinabs' model total leaves out the average-pooling factor its layers apply
                assert num(got["synops"]) == pytest.approx(num(expected["synops"]), rel=1e-6)
        assert num(got["firing_rate"]) > 0 and all(num(v["synops"]) > 0 for v in layers["parameter"].values())


def test_unsqueezed_linear_model_matches_sinabs():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 8), sl.IAF(), nn.Linear(8, 5), sl.LIF(tau_mem=3.0))
    with torch.no_grad():
        net[0].weight.mul_(4)
    theirs = SinabsAnalyzer(net)
    ours = SNNAnalyzer(net)
    run_batches(net, (B, T, 6))
    for average in (False, True):
        assert_layers_match(theirs.get_layer_statistics(average), ours.get_layer_statistics(average))
    x = make_input("binary", (B, T, 6), torch.Generator().manual_seed(2))  # the last batch again
    assert num(ours.get_layer_statistics()["parameter"]["0"]["synops"]) == pytest.approx(num(x.sum()) * 8 / B)
    assert num(ours.get_layer_statistics()["parameter"]["2"]["synops"]) > 0


def test_flattened_time_conv_is_summed_over_time():
    """[B, T, ...] layers around a Conv2d that sees [B·T, C, H, W] (FlattenTime): sinabs cannot tell B
    from T there (it reports num_timesteps 0 and synops per row); syops takes B from the spiking layers."""
    torch.manual_seed(2)
    net = nn.Sequential(sl.FlattenTime(), nn.Conv2d(2, 4, 3, padding=1), sl.UnflattenTime(batch_size=B), sl.IAF())
    theirs = SinabsAnalyzer(net)
    ours = SNNAnalyzer(net)
    x = make_input("binary", (B, T, 2, 6, 6), torch.Generator().manual_seed(0))
    net(x)
    expected, got = theirs.get_layer_statistics()["parameter"]["1"], ours.get_layer_statistics()["parameter"]["1"]
    assert expected["num_timesteps"] == 0 and got["num_timesteps"] == T
    assert num(got["synops"]) == pytest.approx(num(expected["synops"]) * T, rel=1e-6)
    assert num(got["synops"]) == pytest.approx(brute_force_conv_synops(net[1], x.flatten(0, 1)) * T, rel=1e-6)


def test_model_without_spiking_layers_matches_sinabs():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), sl.NeuromorphicReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    theirs = SinabsAnalyzer(net)
    ours = SNNAnalyzer(net)
    x = torch.floor(torch.rand(5, 1, 6, 6) * 4)
    net(x)
    expected, got = theirs.get_layer_statistics(), ours.get_layer_statistics()
    assert got["spiking"] == expected["spiking"] == {}
    for name in ("0", "3"):
        assert num(got["parameter"][name]["synops"]) == pytest.approx(num(expected["parameter"][name]["synops"]))
        assert got["parameter"][name]["num_timesteps"] == 1  # sinabs: 0, and SynOps/s = inf
    assert num(got["parameter"]["0"]["synops"]) == pytest.approx(brute_force_conv_synops(net[0], x))
    assert "firing_rate" not in ours.get_model_statistics()


def capture(net: nn.Module, name: str, what: str) -> list[torch.Tensor]:
    """Every input (``what="input"``) or spike output of ``net.<name>``, recorded by a plain hook."""
    seen: list[torch.Tensor] = []

    def hook(module, args, out):
        value = args[0] if what == "input" else (out[0] if isinstance(out, tuple) else out)
        seen.append(value.detach())

    net.get_submodule(name).register_forward_hook(hook)
    return seen


def test_spikingjelly_multistep_against_brute_force():
    torch.manual_seed(4)
    net = nn.Sequential(
        layer.Conv2d(2, 4, 3, stride=2, padding=1),
        neuron.IFNode(),
        layer.Flatten(),
        layer.Linear(64, 5),
        neuron.LIFNode(),
    )
    with torch.no_grad():
        net[0].weight.mul_(3)
    functional.set_step_mode(net, "m")
    seen = {"3": capture(net, "3", "input"), "1": capture(net, "1", "output"), "4": capture(net, "4", "output")}
    analyzer = SNNAnalyzer(net, dt=1.0)
    x = make_input("binary", (T, B, 2, 8, 8), torch.Generator().manual_seed(0))
    net(x)
    stats = analyzer.get_layer_statistics()
    conv = stats["parameter"]["0"]
    assert conv["num_timesteps"] == T
    assert num(conv["synops"]) == pytest.approx(brute_force_conv_synops(net[0], x.flatten(0, 1)) * T, rel=1e-9)
    linear_in = seen["3"][0]
    assert num(stats["parameter"]["3"]["synops"]) == pytest.approx(
        brute_force_linear_synops(net[3], linear_in.flatten(0, 1)) * T, rel=1e-9
    )
    for name in ("1", "4"):
        spikes = seen[name][0]  # [T, B, ...]
        got = stats["spiking"][name]
        assert got["n_neurons"] == spikes[0, 0].numel()
        torch.testing.assert_close(got["firing_rate_per_neuron"], spikes.double().mean((0, 1)))
        assert torch.equal(got["output"], spikes.transpose(0, 1))  # sinabs' [B, T, ...]
    assert num(stats["spiking"]["1"]["firing_rate"]) > 0
    model = analyzer.get_model_statistics()
    assert num(model["n_spiking_neurons"]) == 64 + 5
    assert num(model["synops"]) == pytest.approx(sum(num(v["synops"]) for v in stats["parameter"].values()))


class SnnTorchLoop(nn.Module):
    """snnTorch's usual shape: the time loop inside forward, one neuron call per step."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(6, 8), snn.Leaky(beta=0.9)
        self.fc2, self.lif2 = nn.Linear(8, 3), snn.Leaky(beta=0.8)

    def forward(self, x):  # [T, B, 6]
        mem1, mem2, out = self.lif1.init_leaky(), self.lif2.init_leaky(), []
        for step in x:
            spk1, mem1 = self.lif1(self.fc1(step), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def test_snntorch_time_loop_against_brute_force():
    torch.manual_seed(5)
    net = SnnTorchLoop()
    with torch.no_grad():
        net.fc1.weight.mul_(4)
        net.fc2.weight.mul_(4)
    seen = {"fc2": capture(net, "fc2", "input"), "lif1": capture(net, "lif1", "output")}
    analyzer = SNNAnalyzer(net, dt=0.5)
    steps = 5
    x = make_input("binary", (steps, B, 6), torch.Generator().manual_seed(1))
    net(x)
    stats = analyzer.get_layer_statistics()
    fc1 = stats["parameter"]["fc1"]
    assert fc1["num_timesteps"] == steps and fc1["time_window"] == steps * 0.5
    assert num(fc1["synops"]) == pytest.approx(num(x.sum()) * 8 / B)
    assert num(fc1["SynOps/s"]) == pytest.approx(num(x.sum()) * 8 / B / steps / 0.5 * 1000)
    fc2_in = torch.cat(seen["fc2"])
    assert num(stats["parameter"]["fc2"]["synops"]) == pytest.approx(num(fc2_in.sum()) * 3 / B)
    spikes = torch.stack(seen["lif1"])  # [T, B, 8]
    lif1 = stats["spiking"]["lif1"]
    assert lif1["n_neurons"] == 8
    assert num(lif1["firing_rate"]) == pytest.approx(num(spikes.mean())) and num(spikes.mean()) > 0
    torch.testing.assert_close(lif1["firing_rate_per_neuron"], spikes.double().mean((0, 1)))


def test_gradients_and_averages_over_uneven_batches():
    net = squeezed_net(avg_pool=False)
    analyzer = SNNAnalyzer(net)
    values = []
    for seed, batch in enumerate((B, B, 1)):
        for m in net:
            if isinstance(m, sl.SqueezeMixin):
                m.batch_size, m.num_timesteps = (batch, -1) if m.batch_size > 0 else (-1, T)
        reset(net)
        net(make_input("binary", (batch * T, 2, 16, 16), torch.Generator().manual_seed(seed)))
        values.append(num(analyzer.get_model_statistics()["synops"]))
    averaged = analyzer.get_layer_statistics(average=True)
    assert num(analyzer.get_model_statistics(average=True)["synops"]) == pytest.approx(sum(values) / 3, rel=1e-9)
    assert all(v["output"] is None for v in averaged["spiking"].values())  # shapes changed: no mean output
    synops = analyzer.get_model_statistics()["synops"]
    synops.backward()
    assert net[0].weight.grad is not None and net[0].weight.grad.abs().sum() > 0


def tensors_held(obj, seen=None) -> int:
    """Elements of every tensor reachable from the analyzer's own state (not the model)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, nn.Module):
        return 0
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        return obj.numel()
    if isinstance(obj, dict):
        return sum(tensors_held(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensors_held(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        return tensors_held(vars(obj), seen)
    return 0


def test_memory_stays_bounded_and_hooks_go():
    net = squeezed_net(avg_pool=True)
    before = {name: len(m._forward_hooks) + len(m._forward_pre_hooks) for name, m in net.named_modules()}
    analyzer = SNNAnalyzer(net)
    run_batches(net, (B * T, 2, 16, 16), batches=2)
    held = tensors_held(analyzer)
    run_batches(net, (B * T, 2, 16, 16), batches=6)
    assert tensors_held(analyzer) == held
    analyzer.reset()
    assert analyzer.get_layer_statistics() == {"spiking": {}, "parameter": {}}
    analyzer.close()
    assert before == {name: len(m._forward_hooks) + len(m._forward_pre_hooks) for name, m in net.named_modules()}
