"""syops.hooks.register_synops_hooks against sinabs.hooks.register_synops_hooks (same models, same inputs,
several batches, squeezed and unsqueezed layouts) and against brute force (a convolution of ones over
|x|), including its gradients."""

from __future__ import annotations

import copy

import pytest
import sinabs.layers as sl
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sinabs.hooks import register_synops_hooks as sinabs_register
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

from helpers import brute_force_conv_synops, brute_force_linear_synops, make_input
from syops.hooks import register_synops_hooks
from syops.layers import NeuromorphicReLU

B, T = 3, 4


def num(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def tutorial_ann(relu=sl.NeuromorphicReLU) -> nn.Sequential:
    """The shape of sinabs' "fewer synops" tutorial network, small."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False),
        relu(),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1, bias=False),
        relu(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 10, bias=False),
    )


def squeezed_snn() -> nn.Sequential:
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1),
        sl.IAFSqueeze(batch_size=B),
        sl.SumPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2, padding=1),
        sl.IAFSqueeze(num_timesteps=T),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(8, 5),
        sl.IAFSqueeze(batch_size=B),
    )
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.mul_(3)
    return net


def reset(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, sl.StatefulLayer):
            m.reset_states()


def assert_same_hook_data(sinabs_net: nn.Module, ours: nn.Module, dt: float | None = None) -> None:
    expected, got = sinabs_net.hook_data, ours.hook_data
    assert list(got["synops_per_timestep"]) == list(expected["synops_per_timestep"])
    for key, value in expected["synops_per_timestep"].items():
        assert num(got["synops_per_timestep"][key]) == pytest.approx(num(value), rel=1e-6)
        assert num(ours[key].hook_data["layer_synops_per_timestep"]) == pytest.approx(
            num(sinabs_net[key].hook_data["layer_synops_per_timestep"]), rel=1e-6
        )
    assert num(got["total_synops_per_timestep"]) == pytest.approx(num(expected["total_synops_per_timestep"]), 1e-6)
    if dt is not None:
        assert num(got["total_synops_per_second"]) == pytest.approx(num(expected["total_synops_per_second"]), 1e-6)
        for key, value in expected["synops_per_second"].items():
            assert num(got["synops_per_second"][key]) == pytest.approx(num(value), rel=1e-6)


@pytest.mark.parametrize("relu", [sl.NeuromorphicReLU, NeuromorphicReLU])
def test_ann_matches_sinabs_over_batches(relu):
    reference = tutorial_ann(relu)
    ours = copy.deepcopy(reference)
    sinabs_register(reference, dt=1e-3)
    remove = register_synops_hooks(ours, dt=1e-3)
    g = torch.Generator().manual_seed(0)
    for batch in (5, 2, 7):
        x = torch.floor(torch.rand(batch, 1, 16, 16, generator=g) * 4)
        reference(x), ours(x)
        assert_same_hook_data(reference, ours, dt=1e-3)
        assert torch.equal(ours[0].hook_data["connection_map"], reference[0].hook_data["connection_map"])
    remove()


def test_squeezed_snn_matches_sinabs_over_batches():
    reference = squeezed_snn()
    ours = copy.deepcopy(reference)
    sinabs_register(reference)
    register_synops_hooks(ours)
    for seed in range(3):
        x = make_input("integer", (B * T, 2, 8, 8), torch.Generator().manual_seed(seed))
        reset(reference), reset(ours)
        reference(x), ours(x)
        assert num(ours.hook_data["total_synops_per_timestep"]) > 0
        assert_same_hook_data(reference, ours)


def test_gradients_match_sinabs():
    reference = squeezed_snn()
    ours = copy.deepcopy(reference)
    sinabs_register(reference)
    register_synops_hooks(ours)
    x = make_input("binary", (B * T, 2, 8, 8), torch.Generator().manual_seed(5))
    reference(x), ours(x)
    reference.hook_data["total_synops_per_timestep"].backward()
    ours.hook_data["total_synops_per_timestep"].backward()
    grads = 0
    for mine, theirs in zip(ours.parameters(), reference.parameters(), strict=True):
        if theirs.grad is None:
            assert mine.grad is None or not mine.grad.any()
            continue
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-5, atol=1e-5)
        grads += int(theirs.grad.any())
    assert grads >= 2  # the synops of later layers reach the weights of earlier ones


def test_unsqueezed_linear_layers_are_per_time_step():
    """sinabs' Linear hook averages a [B, T, F] input over B only (its sum over T contradicts the name
    'per timestep'); syops averages over the B·T rows: sinabs = syops × T, syops = brute force / (B·T)."""
    torch.manual_seed(2)
    reference = nn.Sequential(nn.Linear(6, 8), sl.IAF(), nn.Linear(8, 5), sl.IAF())
    with torch.no_grad():
        reference[0].weight.mul_(4)
    ours = copy.deepcopy(reference)
    sinabs_register(reference)
    register_synops_hooks(ours)
    x = make_input("binary", (B, T, 6), torch.Generator().manual_seed(0))
    reference(x), ours(x)
    assert num(ours.hook_data["synops_per_timestep"][0]) == pytest.approx(num(x.sum()) * 8 / (B * T))
    for key, value in reference.hook_data["synops_per_timestep"].items():
        assert num(ours.hook_data["synops_per_timestep"][key]) * T == pytest.approx(num(value), rel=1e-6)


conv_cases = st.sampled_from(
    [
        (nn.Conv1d, {}),
        (nn.Conv2d, {}),
        (nn.Conv2d, {"padding_mode": "reflect"}),
        (nn.ConvTranspose2d, {}),
        (nn.Conv3d, {}),
    ]
)


@settings(max_examples=40)
@given(
    case=conv_cases,
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 1),
    dilation=st.integers(1, 2),
    groups=st.sampled_from([1, 2]),
    size=st.integers(4, 7),
    batch=st.integers(1, 3),
    kind=st.sampled_from(["binary", "ternary", "integer"]),
    seed=st.integers(0, 2**16),
)
def test_conv_synops_equal_brute_force(case, kernel, stride, padding, dilation, groups, size, batch, kind, seed):
    cls, extra = case
    dims = {nn.Conv1d: 1, nn.Conv2d: 2, nn.ConvTranspose2d: 2, nn.Conv3d: 3}[cls]
    size = min(size, 5) if dims == 3 else size
    if extra.get("padding_mode") == "reflect" and padding >= size:
        padding = 0
    torch.manual_seed(seed)
    conv = cls(2, 4, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=False, **extra)
    x = make_input(kind, (batch, 2) + (size,) * dims, torch.Generator().manual_seed(seed))
    remove = register_synops_hooks(conv)
    conv(x)
    remove()
    expected = brute_force_conv_synops(conv, x)  # per first-dimension row
    assert num(conv.hook_data["total_synops_per_timestep"]) == pytest.approx(expected, rel=1e-6)
    assert conv.hook_data["synops_per_timestep"] == {"": conv.hook_data["total_synops_per_timestep"]}


class Residual(nn.Module):
    """Not a Sequential: nested modules, a residual addition, a time loop inside forward."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), NeuromorphicReLU())
        self.block = nn.ModuleDict({"conv": nn.Conv2d(4, 4, 3, padding=1, bias=False), "act": NeuromorphicReLU()})
        self.head = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x_seq):  # [T, B, 1, 6, 6]
        outs = []
        for x in x_seq:
            h = self.stem(x)
            h = self.block["act"](self.block["conv"](h)) + h
            outs.append(self.head(h.flatten(1)))
        return torch.stack(outs)


def test_any_module_graph_with_time_loop():
    torch.manual_seed(3)
    net = Residual()
    with torch.no_grad():
        net.stem[0].weight.mul_(4)
    seen: dict[str, list] = {"stem.0": [], "block.conv": [], "head": []}
    for name in seen:
        net.get_submodule(name).register_forward_hook(lambda m, a, o, name=name: seen[name].append(a[0].detach()))
    register_synops_hooks(net, dt=0.5)
    x = torch.floor(torch.rand(T, 2, 1, 6, 6) * 3)
    net(x)
    data = net.hook_data
    assert list(data["synops_per_timestep"]) == ["stem.0", "block.conv", "head"]
    expected = {
        "stem.0": sum(brute_force_conv_synops(net.stem[0], a) for a in seen["stem.0"]) / T,
        "block.conv": sum(brute_force_conv_synops(net.block["conv"], a) for a in seen["block.conv"]) / T,
        "head": sum(brute_force_linear_synops(net.head, a) for a in seen["head"]) / T,
    }
    for name, value in expected.items():
        assert num(data["synops_per_timestep"][name]) == pytest.approx(value, rel=1e-6)
        assert num(data["synops_per_second"][name]) == pytest.approx(value / 0.5, rel=1e-6)
    assert expected["head"] > 0
    assert num(data["total_synops_per_timestep"]) == pytest.approx(sum(expected.values()), rel=1e-6)


def test_spikingjelly_multistep_layers():
    torch.manual_seed(4)
    net = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode(), layer.Flatten(), layer.Linear(64, 3))
    functional.set_step_mode(net, "m")
    register_synops_hooks(net)
    x = make_input("binary", (T, B, 2, 4, 4), torch.Generator().manual_seed(1))
    net(x)
    per_step = brute_force_conv_synops(net[0], x.flatten(0, 1))  # mean over the T·B rows
    assert num(net.hook_data["synops_per_timestep"][0]) == pytest.approx(per_step, rel=1e-6)


def test_remove_leaves_model_unhooked():
    net = tutorial_ann(NeuromorphicReLU)
    before = {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in net.named_modules()}
    remove = register_synops_hooks(net)
    net(torch.ones(1, 1, 16, 16))
    remove()
    after = {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in net.named_modules()}
    assert after == before
    del net.hook_data["total_synops_per_timestep"]
    net(torch.ones(1, 1, 16, 16))
    assert "total_synops_per_timestep" not in net.hook_data


def test_average_pooling_factor_and_warning():
    """An AvgPool2d before a layer scales its synops by the kernel area (sinabs' correction), with sinabs'
    warning when kernel size and stride differ."""
    torch.manual_seed(6)
    net = nn.Sequential(nn.AvgPool2d(3, stride=2), nn.Conv2d(1, 2, 3, bias=False))
    register_synops_hooks(net)
    x = torch.floor(torch.rand(2, 1, 9, 9) * 3)
    with pytest.warns(UserWarning, match="kernel_size 3 but stride 2"):
        net(x)
    pooled = net[0](x)
    expected = brute_force_conv_synops(net[1], pooled) * 9
    assert num(net.hook_data["synops_per_timestep"][1]) == pytest.approx(expected, rel=1e-6)
    assert num(net[1].hook_data["layer_synops_per_timestep"]) == pytest.approx(expected / 9, rel=1e-6)
