"""syops.Profiler around the user's own loop: counts equal brute force over the same calls, samples and
time steps read right, nothing of syops left on the model, the user's state kept."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

import syops
from syops.errors import SyopsError
from syops.unknown import reset_warnings

T, B = 5, 3


def single_step_net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1),
        neuron.IFNode(v_threshold=0.5),
        layer.Flatten(),
        layer.Linear(4 * 6 * 6, 5),
        neuron.LIFNode(v_threshold=0.2),
    )
    functional.set_step_mode(model, "s")
    return model


def batches(n: int = 2, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [
        ((torch.rand(T, B, 2, 6, 6, generator=g) < 0.4).float(), torch.randint(0, 5, (B,), generator=g))
        for _ in range(n)
    ]


def user_loop(model: nn.Module, data) -> tuple[int, list[dict[str, torch.Tensor]]]:
    """A lab's evaluation loop: an outer time loop, a reset per batch, accuracy in the same pass. Records
    the inputs of the synaptic layers and the outputs of the neurons with its own hooks (brute force)."""
    correct = 0
    for x, y in data:
        functional.reset_net(model)
        out = 0
        for t in range(T):
            out = out + model(x[t])
        correct += int((out.argmax(1) == y).sum())
    return correct, []


def synapse_inputs(model: nn.Module, data) -> dict[str, list[torch.Tensor]]:
    """The inputs of conv and linear, and the outputs of the neurons, call by call (the test's own hooks)."""
    seen: dict[str, list[torch.Tensor]] = {"0": [], "3": [], "1": [], "4": []}
    handles = []
    for name in ("0", "3"):
        handles.append(
            model.get_submodule(name).register_forward_pre_hook(lambda m, a, n=name: seen[n].append(a[0].clone()))
        )
    for name in ("1", "4"):
        handles.append(
            model.get_submodule(name).register_forward_hook(lambda m, a, o, n=name: seen[n].append(o.clone()))
        )
    with torch.no_grad():
        user_loop(model, data)
    for h in handles:
        h.remove()
    return seen


def conv_pairs(x: torch.Tensor, conv: nn.Conv2d) -> float:
    """(input event, output) pairs of a conv: a convolution of ones over |x|."""
    ones = torch.ones_like(conv.weight, dtype=torch.float64)
    return float(F.conv2d(x.abs().double(), ones, padding=conv.padding).sum())


def no_syops_left(model: nn.Module) -> None:
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks, m
        assert not getattr(m, "_forward_hooks_always_called", {}), m
        for p in m._parameters.values():
            assert p is None or type(p) is nn.Parameter
    assert torch._C._len_torch_function_stack() == 0


def test_outer_time_loop_counts_equal_brute_force():
    model, data = single_step_net(), batches()
    reference = single_step_net()
    seen = synapse_inputs(reference, data)
    with torch.no_grad(), syops.Profiler(model, timesteps=T, time_layout="loop") as prof:
        correct, _ = user_loop(model, data)
    report = prof.report()
    assert report.samples == 2 * B and report.timesteps == T
    conv, linear = model[0], model[3]
    samples = 2 * B
    assert report.layer("0").synops == pytest.approx(sum(conv_pairs(x, conv) for x in seen["0"]) / samples, rel=1e-12)
    linear_pairs = sum(float(x.abs().sum()) for x in seen["3"]) * linear.out_features
    assert report.layer("3").synops == pytest.approx(linear_pairs / samples, rel=1e-12)
    for name in ("1", "4"):
        spikes = sum(float(o.sum()) for o in seen[name])
        elements = sum(o.numel() for o in seen[name])
        assert report.layer(name).output_spike_rate == pytest.approx(spikes / elements, rel=1e-12)
        assert report.layer(name).neuron_updates == pytest.approx(elements / samples)
    # the user's accuracy is the same with and without syops
    assert correct == user_loop(single_step_net(), data)[0]
    no_syops_left(model)
    # the model's neuron state is what the user's code left, as without syops
    assert torch.equal(model[4].v, reference[4].v)
    assert "Profiler" in report.methods() or "calls" in report.methods()


def test_report_again_and_inside_the_block():
    model, data = single_step_net(), batches()
    with torch.no_grad(), syops.Profiler(model, timesteps=T, time_layout="loop") as prof:
        user_loop(model, data[:1])
        first = prof.report()
        maps = {layer.name: layer.spike_map.clone() for layer in first.layers if layer.spike_map is not None}
        user_loop(model, data[1:])
    second = prof.report()
    assert first.samples == B and second.samples == 2 * B
    # an earlier report keeps its own maps: the session's go on adding up (in place)
    assert len(maps) == 2 and all(
        torch.equal(layer.spike_map, maps[layer.name]) for layer in first.layers if layer.name in maps
    )
    assert not all(torch.equal(layer.spike_map, maps[layer.name]) for layer in second.layers if layer.name in maps)
    assert prof.report().to_dict() == second.to_dict()


def test_exception_inside_the_block_leaves_nothing():
    model, data = single_step_net(), batches()
    with (
        pytest.raises(RuntimeError, match="user's own"),
        torch.no_grad(),
        syops.Profiler(model, timesteps=T, time_layout="loop"),
    ):
        user_loop(model, data[:1])
        raise RuntimeError("the user's own error")
    no_syops_left(model)
    assert model[1].v is not None  # the state the user's calls left


def test_forward_raising_inside_the_block_leaves_nothing():
    model = single_step_net()
    with pytest.raises(RuntimeError), syops.Profiler(model, timesteps=T, time_layout="loop"):
        model(torch.zeros(B, 3, 6, 6))  # wrong channels: the conv raises
    no_syops_left(model)


def multi_step_net() -> nn.Module:
    model = single_step_net()
    functional.set_step_mode(model, "m")
    return model


def test_multi_step_without_timesteps_takes_them_from_the_neurons():
    model, data = multi_step_net(), batches()
    reference = multi_step_net()
    seen: list[torch.Tensor] = []
    h = reference[3].register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    with torch.no_grad():
        for x, _ in data:
            functional.reset_net(reference)
            reference(x)
    h.remove()
    with torch.no_grad(), syops.Profiler(model) as prof:
        for x, _ in data:
            functional.reset_net(model)
            model(x)
    report = prof.report()
    assert report.timesteps == T and report.samples == 2 * B
    pairs = sum(float(x.abs().sum()) for x in seen) * model[3].out_features
    assert report.layer("3").synops == pytest.approx(pairs / (2 * B), rel=1e-12)
    assert not any("per call" in n for n in report.notes)


def test_gradients_and_parameters_are_the_users():
    def step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        functional.reset_net(model)
        loss = F.cross_entropy(sum(model(x[t]) for t in range(T)), y)
        loss.backward()
        opt.step()
        return [p.grad.clone() for p in model.parameters()]

    ((x, y),) = batches(1)
    plain, profiled = single_step_net(), single_step_net()
    grads = step(plain, x, y)
    with syops.Profiler(profiled, timesteps=T, time_layout="loop") as prof:
        grads_profiled = step(profiled, x, y)
    for a, b in zip(grads, grads_profiled, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(plain.parameters(), profiled.parameters(), strict=True):
        assert torch.equal(a, b)  # the optimizer step is the user's: kept
    assert prof.report().samples == B
    no_syops_left(profiled)


def test_single_step_without_timesteps_is_per_call_and_says_so():
    model, data = single_step_net(), batches(1)
    with torch.no_grad(), syops.Profiler(model) as prof:
        user_loop(model, data)
    report = prof.report()
    assert report.samples == T * B and report.timesteps == 1
    assert any("per call" in n for n in report.notes)


def test_loop_needs_timesteps():
    with pytest.raises(SyopsError, match="timesteps"):
        syops.Profiler(single_step_net(), time_layout="loop")


def test_not_called_is_one_clear_error():
    with syops.Profiler(single_step_net()) as prof:
        pass
    with pytest.raises(SyopsError, match="not called"):
        prof.report()


# -- contradictions ------------------------------------------------------------------------------


def test_bt_on_a_time_first_net_is_refused():
    with pytest.raises(SyopsError, match=r"contradicts the model's neurons.*TB"):
        syops.profile(multi_step_net(), (2, 6, 6), timesteps=4, time_layout="BT", input_encoding="direct")


def test_cli_refuses_bt_on_spiking_resnet18():
    from click.testing import CliRunner

    from cli.main import main

    result = CliRunner().invoke(
        main, ["profile", "spiking_resnet18", "--time-layout", "BT", "--input-shape", "3,32,32"]
    )
    assert result.exit_code == 2
    assert "contradicts the model's neurons" in result.output and len(result.output.strip().splitlines()) == 1


def test_wrong_timesteps_against_the_neurons_is_refused():
    model = multi_step_net()
    x = batches(1)[0][0]
    with (
        pytest.raises(SyopsError, match="timesteps=4 contradicts"),
        torch.no_grad(),
        syops.Profiler(model, timesteps=4),
    ):
        model(x)  # [5, 3, ...] into multi-step neurons
    no_syops_left(model)


def test_whole_sequence_into_single_step_neurons_is_refused():
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.lif = snn.Leaky(beta=0.9, init_hidden=True)

        def forward(self, x):
            return self.lif(self.fc(x))

    x = torch.rand(T, B, 8)
    with pytest.raises(SyopsError, match=r"single-step|one step per call"):
        syops.profile(Net(), inputs=x, time_layout="TB")


def test_sinabs_batch_first_data_without_timesteps_reads_t_from_the_neurons():
    sl = pytest.importorskip("sinabs.layers")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), sl.IAF())
    x = torch.rand(2, 10, 6)  # [B, T, ...] as recorded
    report = syops.profile(model, inputs=x)
    assert report.timesteps == 10 and report.samples == 2
    dense = report.layer("0").dense_macs
    assert report.layer("0").ann_compute_energy_mj == pytest.approx(dense / 10 * report.energy_model.e_mac_pj * 1e-9)
    with pytest.raises(SyopsError, match="contradicts"):
        syops.profile(model, inputs=x.transpose(0, 1).contiguous(), time_layout="TB")


def test_norse_sequence_neurons_refuse_batch_first():
    norse = pytest.importorskip("norse.torch")
    model = nn.Sequential(nn.Linear(6, 4), norse.LIF())
    x = torch.rand(T, B, 6)
    assert syops.profile(model, inputs=x).timesteps == T  # [T, B, ...] read off the neurons
    with pytest.raises(SyopsError, match="contradicts"):
        syops.profile(model, inputs=x, time_layout="BT")


def test_multi_step_without_timesteps_names_the_fix():
    with pytest.raises(SyopsError, match="--timesteps 4 --time-layout TB"):
        syops.profile(multi_step_net(), (2, 6, 6))


# -- the user's own neurons ------------------------------------------------------------------------


class MyLIF(nn.Module):
    def __init__(self, beta: float = 0.8, threshold: float = 0.3) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold
        self.v: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = x if self.v is None else self.beta * self.v + x
        spikes = (v >= self.threshold).float()
        self.v = v - spikes * self.threshold
        return spikes


def lif_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), MyLIF(), nn.Linear(8, 3))


def test_registered_custom_neuron_is_a_neuron_layer():
    syops.register_neuron(MyLIF, leaky=True, reset=lambda m: setattr(m, "v", None))
    try:
        model, x = lif_net(), torch.rand(T, B, 6)
        spikes: list[torch.Tensor] = []
        h = model[1].register_forward_hook(lambda m, a, o: spikes.append(o.clone()))
        with torch.no_grad():
            for t in range(T):
                model(x[t])
        h.remove()
        model[1].v = None
        report = syops.profile(model, inputs=x, time_layout="loop")
        row = report.layer("1")
        assert row.type == "MyLIF" and row.neurons == 8
        total = sum(float(s.sum()) for s in spikes)
        assert row.output_spike_rate == pytest.approx(total / (T * B * 8), rel=1e-12)
        assert row.neuron_update_macs == pytest.approx(T * 8)  # leaky: a MAC per update, per sample
        assert report.layer("2").synops == pytest.approx(total * 3 / B, rel=1e-12)
        assert report.mean_spike_rate is not None and not math.isnan(report.mean_spike_rate)
        assert row.memory is not None and row.memory["state_reads"] > 0
    finally:
        syops.unregister_neuron(MyLIF)


def test_unregistered_neuron_is_named_in_a_warning():
    reset_warnings()
    model, x = lif_net(), torch.rand(T, B, 6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        syops.profile(model, inputs=x, time_layout="loop")
        syops.profile(model, inputs=x, time_layout="loop")
    texts = [str(w.message) for w in caught if issubclass(w.category, syops.UnsupportedModuleWarning)]
    assert len(texts) == 1  # once per class
    assert "MyLIF" in texts[0] and "register_neuron" in texts[0] and "spiking neuron" in texts[0]
    assert caught[0].filename == __file__  # points at the caller


def test_unsupported_module_warns_naming_custom_rules():
    reset_warnings()

    class Odd(nn.Module):
        def forward(self, x):
            return torch.special.erf(x)

    model = nn.Sequential(nn.Linear(4, 4), Odd())
    with pytest.warns(syops.UnsupportedModuleWarning, match="custom_rules"):
        syops.profile(model, (4,))


def test_register_neuron_refuses_bad_arguments():
    with pytest.raises(SyopsError, match=r"nn\.Module subclass"):
        syops.register_neuron(int, leaky=True)
    with pytest.raises(SyopsError, match="leaky"):
        syops.register_neuron(MyLIF, leaky="yes")  # type: ignore[arg-type]
    with pytest.raises(SyopsError, match="state_words"):
        syops.register_neuron(MyLIF, leaky=True, state_words=0)


def test_sinabs_squeezed_input_takes_t_from_the_squeeze_layers():
    sl = pytest.importorskip("sinabs.layers")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), sl.IAFSqueeze(batch_size=2))
    x = torch.rand(2 * 7, 6)  # [B·T, ...]
    report = syops.profile(model, inputs=x)
    assert report.samples == 2 and report.timesteps == 7
    with torch.no_grad(), syops.Profiler(model) as prof:
        model(x)
    assert prof.report().timesteps == 7 and prof.report().samples == 2


def test_a_net_mixing_frameworks_reads_t_from_all_its_neurons():
    norse = pytest.importorskip("norse.torch")
    torch.manual_seed(0)
    model = nn.Sequential(layer.Linear(6, 5, step_mode="m"), neuron.IFNode(step_mode="m"), nn.Linear(5, 4), norse.LIF())
    x = (torch.rand(T, B, 6) < 0.5).float()
    report = syops.profile(model, inputs=x)
    assert report.timesteps == T and report.samples == B
    with pytest.raises(SyopsError, match="contradicts"):
        syops.profile(model, inputs=x, time_layout="BT")


def test_nan_weights_are_said_not_priced_silently():
    model = multi_step_net()
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = float("nan")
    x = batches(1)[0][0]
    with pytest.warns(UserWarning, match="NaN or infinite parameters"):
        report = syops.profile(model, inputs=x, time_layout="TB")
    assert any("NaN or infinite parameters (in 0)" in n for n in report.notes)
    clean = syops.profile(multi_step_net(), inputs=x, time_layout="TB")
    assert not any("NaN" in n for n in clean.notes)


@pytest.mark.parametrize("energy", ["45nm-int8", "45nm-fp16", "45nm-fp32"])
def test_memory_words_as_wide_as_the_operands_as_in_profile(energy):
    """The Profiler settles the memory word width from the energy model as syops.profile does (int8: 8-bit
    words), so the two give the same memory energy for the same calls."""
    model, data = multi_step_net(), batches(1)
    x = data[0][0]
    functional.reset_net(model)
    alone = syops.profile(model, inputs=x, time_layout="TB", energy=energy)
    with torch.no_grad(), syops.Profiler(model, time_layout="TB", energy=energy) as prof:
        functional.reset_net(model)
        model(x)
    report = prof.report()
    assert report.memory_model == alone.memory_model and report.memory_model.bits == alone.energy_model.operand_bits
    assert report.totals["memory_energy_mj"] == pytest.approx(alone.totals["memory_energy_mj"], rel=1e-12)
