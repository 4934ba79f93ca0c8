"""Issue 14, the API side: inputs and arguments that used to give silently wrong per-sample figures or raw
crashes. Each figure is checked against a count worked out here; each refusal is one SyopsError line
that names the argument."""

from __future__ import annotations

import json
import math

import pytest
import snntorch as snn
import torch
from torch import nn

import syops
from syops import SyopsError

T, B = 5, 3


def one_line_error(match: str, fn, *args, **kwargs) -> str:
    with pytest.raises(SyopsError, match=match) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def binary(shape, seed: int) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.4).float()


# -- time steps without a layout -------------------------------------------------------------------
class TimeFirstLoop(nn.Module):
    """snnTorch's convention: [T, B, ...] input, the loop over time inside forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(6, 10)
        self.lif1 = snn.Leaky(beta=0.9, threshold=0.2)
        self.fc2 = nn.Linear(10, 4, bias=False)
        self.lif2 = snn.Leaky(beta=0.9, threshold=0.2)

    def forward(self, x):
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        out = []
        for step in x:
            spk1, mem1 = self.lif1(self.fc1(step), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def test_time_first_loop_needs_its_sample_dimension_said():
    net = TimeFirstLoop().eval()
    x = torch.rand(T, B, 6, generator=torch.Generator().manual_seed(3))
    # today's main took dim 0 (T) as the samples: every figure off by B/T
    one_line_error("timesteps=5 without time_layout", syops.profile, net, inputs=x, timesteps=T)
    one_line_error("time_layout", syops.profile, nn.Sequential(nn.Linear(8, 2)), (8,), timesteps=3)

    seen = []
    handle = net.fc2.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    with torch.no_grad():
        net(x)
    handle.remove()
    fc2_synops = sum(float(s.sum()) for s in seen) * 4 / B  # every spike meets 4 weights
    for kwargs in ({"time_layout": "TB"}, {"batch_size": B}):
        report = syops.profile(net, inputs=x, timesteps=T, **kwargs)
        assert report.samples == B and report.timesteps == T
        assert report.layer("fc1").dense_macs == T * (6 * 10 + 10)  # per sample: T steps of weights + bias
        assert report.layer("fc2").synops == pytest.approx(fc2_synops)
        assert report.layer("lif1").neuron_updates == T * 10
        assert report.per_timestep().layer("lif1").neuron_updates == 10


def test_norse_time_first_loop_needs_its_sample_dimension_said():
    norse = pytest.importorskip("norse.torch")

    class NorseLoop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.fc = nn.Linear(6, 10)
            self.lif = norse.LIFCell()

        def forward(self, x):  # [T, B, 6], Norse's convention
            state, out = None, []
            for step in x:
                z, state = self.lif(self.fc(step), state)
                out.append(z)
            return torch.stack(out)

    x = torch.rand(T, B, 6, generator=torch.Generator().manual_seed(3))
    one_line_error("without time_layout", syops.profile, NorseLoop(), inputs=x, timesteps=T)
    report = syops.profile(NorseLoop(), inputs=x, timesteps=T, time_layout="TB")
    assert report.samples == B and report.layer("fc").dense_macs == T * (6 * 10 + 10)


# -- unbatched inputs ------------------------------------------------------------------------------
def test_unbatched_inputs_are_refused_where_a_layer_can_tell():
    mlp = nn.Sequential(nn.Linear(8, 50, bias=False), nn.ReLU(), nn.Linear(50, 1))
    one_line_error("Linear 0 got an unbatched input of shape \\[8\\]", syops.profile, mlp, inputs=torch.zeros(8))
    conv = nn.Sequential(nn.Conv2d(3, 4, 3))
    one_line_error(
        "Conv2d 0 got an unbatched input of shape \\[3, 8, 8\\]", syops.profile, conv, inputs=torch.zeros(3, 8, 8)
    )
    loader = [torch.zeros(8), torch.zeros(8)]  # a --data factory yielding unbatched samples
    one_line_error("unbatched", syops.profile, mlp, dataloader=loader)
    report = syops.profile(mlp, inputs=torch.zeros(1, 8))
    assert report.samples == 1 and report.layer("0").dense_macs == 8 * 50


# -- batch_size ------------------------------------------------------------------------------------
def test_batch_size_must_fit_the_input_and_the_squeeze_layers():
    import sinabs.layers as sl

    linear = nn.Sequential(nn.Linear(8, 50, bias=False))
    one_line_error("batch_size=100 does not divide", syops.profile, linear, inputs=torch.zeros(2, 8), batch_size=100)
    squeezed = nn.Sequential(nn.Linear(4, 4, bias=False), sl.IAFSqueeze(batch_size=2)).eval()
    x = binary((2 * 3, 4), 1)  # [B·T, 4] with B = 2, T = 3
    one_line_error("contradicts the model's sinabs Squeeze layers", syops.profile, squeezed, inputs=x, batch_size=3)
    events = float(x.sum())
    for kwargs in ({}, {"batch_size": 2}, {"batch_size": 2, "timesteps": 3}):
        report = syops.profile(squeezed, inputs=x, **kwargs)
        assert report.samples == 2  # the layers' batch_size, not the 6 rows
        assert report.layer("0").synops == pytest.approx(events * 4 / 2)


# -- non-finite values -----------------------------------------------------------------------------
def test_a_non_finite_operand_is_dense_and_the_counts_stay_finite():
    linear = nn.Sequential(nn.Linear(8, 50, bias=False))
    with_nan = binary((2, 8), 1)
    with_nan[0, 0] = float("nan")
    with_inf = binary((2, 8), 3)
    with_inf[1, 2] = float("inf")
    events = binary((2, 8), 2)
    for spike_mode in ("integer", "binary"):
        report = syops.profile(linear, dataloader=[with_nan, with_inf, events], spike_mode=spike_mode)
        row = report.layer("0")
        assert report.samples == 6
        assert row.macs == pytest.approx(2 * 2 * 400 / 6)  # the two non-finite calls, dense
        assert row.synops == pytest.approx(float(events.sum()) * 50 / 6)  # the event call, exact
        assert row.acs == row.synops
        for value in (*_numbers(report.totals), row.input_event_rate):
            assert math.isfinite(value)
        assert report.notes == []  # an infinite sum is not a rounded count


def _numbers(totals: dict) -> list[float]:
    """Every number of a report's totals, the memory access counts included."""
    return [v for v in totals.values() if not isinstance(v, dict)] + list((totals.get("memory") or {}).values())


def test_a_non_finite_product_operand_keeps_the_counts_finite():
    class Product(nn.Module):
        def forward(self, a, b):
            return torch.matmul(a, b)

    a = binary((2, 8), 1)
    a[1, 3] = float("nan")  # dense: a NaN operand
    b = binary((8, 5), 2)  # events: each one meets the 2 rows of a
    report = syops.profile(Product(), inputs=(a, b), batch_size=2)
    row = report.layer("", "matmul")
    assert row.synops == pytest.approx(float(b.sum()) * 2 / 2) and row.macs == 0
    assert row.input_event_rate == pytest.approx(float(b.sum()) / b.numel())  # NaN × 0 no longer leaks
    assert all(math.isfinite(v) for v in _numbers(report.totals))


def strict_json(text: str):
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def test_to_json_is_strict_and_says_which_fields_were_not_finite():
    report = syops.profile(nn.Sequential(nn.Linear(3, 2)), (3,))
    report.layers[0].output_spike_rate = float("nan")
    report.layers[0].acs = float("inf")
    data = strict_json(report.to_json())
    assert data["layers"][0]["acs"] is None and data["totals"]["acs"] is None
    assert data["layers"][0]["output_spike_rate"] is None and data["layers"][0]["macs"] == 8
    assert report.notes == [
        "non-finite values written as null in the JSON report: totals.acs, layers[0].acs, layers[0].output_spike_rate"
    ]
    report.to_json()
    assert len(report.notes) == 1  # said once


# -- inputs that require grad ----------------------------------------------------------------------
def test_inputs_that_require_grad_are_counted_outside_autograd():
    net = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2))
    x = binary((2, 8), 4)
    expected = syops.profile(net, inputs=x).totals
    assert syops.profile(net, inputs=x.clone().requires_grad_()).totals == expected
    built = syops.profile(net, (8,), input_constructor=lambda res: x.clone().requires_grad_())
    assert built.totals == expected


# -- bad arguments ---------------------------------------------------------------------------------
class NegativeLength:
    def __iter__(self):
        yield torch.zeros(1, 4)

    def __len__(self):
        return -1


LINEAR = nn.Sequential(nn.Linear(4, 2))


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        (nn.Linear(4, 2, device="meta"), {"input_res": (4,)}, "model: .*meta device"),
        (torch.jit.script(nn.Linear(4, 2)), {"input_res": (4,)}, "model is a TorchScript module"),
        (LINEAR, {"inputs": torch.zeros(1, 4, dtype=torch.complex64)}, "inputs: complex"),
        (LINEAR, {"input_res": (4,), "seed": "a"}, "seed must be an integer"),
        (LINEAR, {"input_res": (4,), "seed": 2**70}, "seed must be an integer in"),
        (LINEAR, {"input_res": (4,), "seed": -1}, "seed must be an integer in"),
        (LINEAR, {"input_res": (4,), "timesteps": True, "time_layout": "loop"}, "timesteps must be an integer"),
        (LINEAR, {"input_res": (4,), "batch_size": 2.0}, "batch_size must be an integer"),
        (LINEAR, {"input_res": (True, 4)}, "input_res must hold positive integers"),
        (LINEAR, {"input_res": (4,), "ignore_modules": nn.Linear}, "ignore_modules must be a list"),
        (LINEAR, {"input_res": (4,), "ignore_modules": [int]}, "ignore_modules: <class 'int'> is not an nn.Module"),
        (LINEAR, {"dataloader": 5}, "dataloader must be an iterable"),
        (LINEAR, {"input_res": (4,), "custom_rules": {"Linear": lambda *a: []}}, "custom_rules: key 'Linear'"),
        (LINEAR, {"dataloader": NegativeLength(), "progress": True}, "dataloader: len"),
        (LINEAR, {"input_res": (2**30, 2**30)}, "input_res: an input of shape .* GiB"),
        (LINEAR, {"input_res": (4096,), "timesteps": 2**30, "time_layout": "TB"}, "input_res: an input of shape"),
    ],
)
def test_bad_arguments_are_one_syops_error_line(model, kwargs, match):
    one_line_error(match, syops.profile, model, **kwargs)


# -- the model comes back as it came ----------------------------------------------------------------
def test_parameters_changed_in_place_are_restored():
    class Doubling(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l = nn.Linear(4, 4)
            self.seen: list[int] = []

        def forward(self, x):
            self.l.weight.data.mul_(2)  # no version counter sees a write through .data
            with torch.no_grad():
                self.l.bias.add_(1)
            self.l.bias.requires_grad_(False)
            self.seen.append(1)
            return self.l(x)

    net = Doubling()
    weight, bias = net.l.weight.detach().clone(), net.l.bias.detach().clone()
    syops.profile(net, inputs=torch.ones(2, 4))
    assert torch.equal(net.l.weight, weight) and torch.equal(net.l.bias, bias)
    assert net.l.bias.requires_grad and net.seen == []


def test_a_lazy_module_comes_back_lazy():
    net = nn.Sequential(nn.LazyLinear(3), nn.ReLU())
    report = syops.profile(net, inputs=torch.ones(2, 5))
    assert report.totals["params"] == 5 * 3 + 3 and report.layer("0").dense_macs == 5 * 3 + 3
    assert type(net[0]) is nn.LazyLinear and net[0].has_uninitialized_params()
    assert net(torch.ones(2, 7)).shape == (2, 3)  # still lazy: it materialises for the user's input
    assert net[0].in_features == 7


# -- Report.unsupported ----------------------------------------------------------------------------
def test_unsupported_lists_only_modules_whose_arithmetic_may_be_missed():
    from spikingjelly.activation_based.layer import VotingLayer
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.transform import GeneralizedRCNNTransform
    from torchvision.models.maxvit import SwapAxes, WindowPartition
    from torchvision.ops import StochasticDepth
    from torchvision.ops.misc import Permute

    class Layouts(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.permute, self.swap, self.window = Permute([0, 2, 3, 1]), SwapAxes(1, 2), WindowPartition()
            self.depth, self.voting = StochasticDepth(0.1, "row"), VotingLayer(2)

        def forward(self, x):
            y = self.depth(self.swap(self.permute(x)))
            return self.window(x, 4), self.voting(y.flatten(1))

    assert syops.profile(Layouts(), (3, 8, 8)).unsupported == []

    class Detection(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transform = GeneralizedRCNNTransform(64, 64, [0.5] * 3, [0.2] * 3)
            self.anchors = DefaultBoxGenerator([[2]])

        def forward(self, x):
            images, _ = self.transform(list(x))
            return self.anchors(images, [torch.zeros(1, 8, 4, 4)])

    report = syops.profile(Detection(), (3, 64, 64))
    assert report.unsupported == []
    assert report.layer("transform", "sub").dense_macs == 3 * 64 * 64  # its normalisation is counted

    class CumulativeSum(nn.Module):  # cumsum has no op rule: arithmetic syops missed
        def forward(self, x):
            return torch.cumsum(x, 1)

    assert syops.profile(nn.Sequential(nn.Linear(3, 3), CumulativeSum()), (3,)).unsupported == ["CumulativeSum"]
    from syops.rules.reshape import FREE_OP_NAMES

    assert "cumsum" not in FREE_OP_NAMES
