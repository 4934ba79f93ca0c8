"""The engine: restoration of the model, errors, inputs and DataLoaders, attribution, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import syops
from helpers import make_input
from syops.engine import ForwardError
from syops.errors import SyopsError
from syops.terms import Elementwise


class Stateful(nn.Module):
    """Mutates a buffer, a tensor attribute and a plain attribute in forward, and can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.register_buffer("seen", torch.zeros(1))
        self.v = torch.zeros(2)
        self.fail = fail

    def forward(self, x):
        self.seen += 1
        self.v.add_(1)
        self.last_shape = tuple(x.shape)
        y = self.bn(self.conv(x))
        if self.fail:
            raise ValueError("boom")
        return y


def _fingerprint(model: nn.Module) -> dict:
    return {
        "training": [m.training for m in model.modules()],
        "dicts": [sorted(m.__dict__) for m in model.modules()],
        "hooks": [
            (list(m._forward_hooks), list(m._forward_pre_hooks), list(m._forward_hooks_with_kwargs))
            for m in model.modules()
        ],
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "v": model.v.clone(),
    }


def _same(a: dict, b: dict) -> bool:
    return (
        a["training"] == b["training"]
        and a["dicts"] == b["dicts"]
        and a["hooks"] == b["hooks"]
        and all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
        and torch.equal(a["v"], b["v"])
    )


@pytest.mark.parametrize("fail", [False, True])
def test_model_comes_back_exactly_as_it_went_in(fail):
    model = Stateful(fail=fail)
    model.train()
    model.bn.eval()  # a mixed mode must survive too
    calls = []
    model.conv.register_forward_hook(lambda *a: calls.append(1))
    before = _fingerprint(model)
    if fail:
        with pytest.raises(ForwardError, match=r"failed in \(model\) \(Stateful\) on input shape \[1, 2, 5, 5\]"):
            syops.profile(model, (2, 5, 5))
    else:
        syops.profile(model, (2, 5, 5))
    assert _same(before, _fingerprint(model))
    assert not hasattr(model, "last_shape")
    assert calls == [1]  # the user's hook ran during profiling and is still attached
    model.fail = False
    model(torch.zeros(1, 2, 5, 5))
    assert calls == [1, 1]


def test_wrong_input_shape_names_the_layer():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(10, 2))
    with pytest.raises(ForwardError) as info:
        syops.profile(net, (3, 8, 8))
    message = str(info.value)
    assert "2 (Linear)" in message and "[1, 144]" in message and "\n" not in message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "nothing to run"),
        ({"input_res": (3, 4), "inputs": torch.zeros(1, 3, 4)}, "only one of"),
        ({"input_res": "3,4"}, "must be a tuple"),
        ({"input_res": (3, 0)}, "positive integers"),
        ({"input_res": (3, 4), "spike_mode": "ternary"}, "unknown spike mode"),
        ({"input_res": (3, 4), "time_layout": "TBC"}, "unknown time layout"),
        ({"input_res": (3, 4), "energy": "7nm"}, "unknown energy model"),
        ({"input_res": (3, 4), "ignore_modules": ["BatchNorm2d"]}, "module classes"),
        ({"dataloader": []}, "DataLoader is empty"),
        ({"input_res": (3, 4), "input_encoding": "poisson"}, "give time_layout"),
        ({"inputs": torch.zeros(2, 4), "timesteps": 3, "time_layout": "TB"}, "static frames"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(SyopsError, match=match) as info:
        syops.profile(nn.Linear(4, 2), **kwargs)
    assert "\n" not in str(info.value)


def test_dataloader_averages_over_every_sample():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, bias=False)
    g = torch.Generator().manual_seed(0)
    spikes = make_input("binary", (6, 5), g)
    dense = make_input("dense", (4, 5), g)
    loader = [(spikes[:3], torch.zeros(3)), (spikes[3:], torch.zeros(3)), (dense, torch.zeros(4))]
    report = syops.profile(layer, dataloader=loader)
    row = report.layers[0]
    assert report.samples == 10 and row.calls == 3
    assert row.synops == pytest.approx(float(spikes.sum()) * 3 / 10)
    assert row.macs == pytest.approx(4 * 15 / 10)
    assert row.input_event_rate == pytest.approx(float(spikes.sum()) / spikes.numel())
    limited = syops.profile(layer, dataloader=loader, max_batches=1)
    assert limited.samples == 3


def test_torch_dataloader_and_batch_size():
    data = TensorDataset(torch.zeros(8, 4), torch.zeros(8))
    report = syops.profile(nn.Linear(4, 2), dataloader=DataLoader(data, batch_size=4))
    assert report.samples == 8
    squeezed = syops.profile(nn.Linear(4, 2), inputs=torch.zeros(6, 4), batch_size=2)
    assert squeezed.samples == 2 and squeezed.layers[0].dense_macs == 6 * 10 / 2


def test_ops_are_attributed_to_the_innermost_module():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x) + x

    class Swish(nn.Module):  # a leaf without a rule: only the ops it calls are counted
        def forward(self, x):
            return x * torch.sigmoid(x)

    net = nn.Sequential(Block(), nn.Sequential(Block()), Swish())
    report = syops.profile(net, (3,))
    assert [(r.name, r.type) for r in report.layers] == [
        ("0.fc", "Linear"),
        ("0", "add"),
        ("1.0.fc", "Linear"),
        ("1.0", "add"),
        ("2", "sigmoid"),
        ("2", "mul"),
    ]
    # Swish has no rule but its sigmoid and mul are counted; Block is counted through its children
    assert report.unsupported == []


def test_ignore_and_custom_rules_and_shared_parameters():
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.BatchNorm1d(4), shared)
    report = syops.profile(net, (4,), ignore_modules=[nn.BatchNorm1d])
    assert report.totals["params"] == 20 + 8  # shared weights once, ignored BN keeps its parameters
    bn = report.layer("1")
    assert (bn.dense_macs, bn.calls) == (0, 1)
    assert report.layer("0").calls == 2 and report.layer("0").dense_macs == 2 * 20

    def doubled(module, args, kwargs, out, ctx):
        return [Elementwise((args[0],), 2 * args[0].numel())]

    custom = syops.profile(net, (4,), custom_rules={nn.BatchNorm1d: doubled})
    assert custom.layer("1").dense_macs == 8


def test_dead_branches_keep_their_parameters():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(2, 2)
            self.unused = nn.Linear(2, 5)
            self.scale = nn.Parameter(torch.ones(2))

        def forward(self, x):
            return self.used(x) * self.scale

    report = syops.profile(Net(), (2,))
    rows = {(r.name, r.type): r for r in report.layers}
    assert rows[("unused", "Linear")].calls == 0 and rows[("unused", "Linear")].params == 15
    assert rows[("", "mul")].params == 2  # a raw parameter belongs to its module's row
    assert report.totals["params"] == 6 + 15 + 2


def test_deterministic_and_seeded():
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    a = syops.profile(net, (8,), seed=3).to_dict()
    b = syops.profile(net, (8,), seed=3).to_dict()
    assert a == b
    state = torch.random.get_rng_state()
    syops.profile(net, (8,), seed=4)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is untouched


def test_inputs_follow_the_model_dtype():
    net = nn.Linear(3, 2).double()
    report = syops.profile(net, inputs=torch.zeros(2, 3, dtype=torch.float32))
    assert report.samples == 2 and report.layers[0].dense_macs == 8


def test_keyword_inputs_and_constructor():
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 1)

        def forward(self, x, scale=None):
            return self.fc(x) * scale

    net = Two()
    report = syops.profile(net, inputs={"x": torch.zeros(4, 3), "scale": torch.ones(4, 1)})
    assert report.samples == 4 and report.layer("fc").dense_macs == 4
    report = syops.profile(net, (3,), input_constructor=lambda res: {"x": torch.zeros(1, *res), "scale": 2.0})
    assert report.samples == 1


def test_raw_integer_input_warns_once():
    net = nn.Linear(3, 2)
    with pytest.warns(UserWarning, match="binary"):
        report = syops.profile(net, inputs=torch.tensor([[0.0, 3.0, 255.0]]))
    assert report.notes and report.layers[0].acs > 0
    binary = syops.profile(net, inputs=torch.tensor([[0.0, 3.0, 255.0]]), spike_mode="binary")
    assert binary.notes == [] and binary.layers[0].acs == 0


def test_no_gradients_and_parameters_untouched():
    net = nn.Linear(3, 2)
    before = [p.clone() for p in net.parameters()]
    syops.profile(net, (3,))
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
