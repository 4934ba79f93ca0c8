"""Convolutions against brute force: synops = a convolution of ones over |x|, dense MACs by formula."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import syops
from helpers import brute_force_conv_synops, is_events, make_input

CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONVS_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


@st.composite
def conv_case(draw, transposed: bool):
    dims = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    size_max = 9 if dims < 3 else 6
    spatial = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p) if not transposed else 1, size_max))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    bias = draw(st.booleans())
    batch = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["binary", "ternary", "integer", "dense"]))
    seed = draw(st.integers(0, 2**16))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias)
    if transposed:
        # output_padding must be smaller than stride or dilation (per dimension)
        kwargs["output_padding"] = tuple(
            draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
        )
        out_sizes = [
            (i - 1) * s_ - 2 * p + d * (k - 1) + 1 + op
            for i, s_, p, d, k, op in zip(
                spatial, stride, padding, dilation, kernel, kwargs["output_padding"], strict=True
            )
        ]
        assume(all(o >= 1 for o in out_sizes))
        layer_cls = CONVS_T[dims]
    else:
        kwargs["padding_mode"] = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
        if kwargs["padding_mode"] != "zeros":
            # reflect needs padding < input size; circular needs padding <= input size
            kwargs["padding"] = tuple(min(p, s - 1) for p, s in zip(padding, spatial, strict=True))
            ok = all(
                s + 2 * p >= d * (k - 1) + 1
                for s, p, d, k in zip(spatial, kwargs["padding"], dilation, kernel, strict=True)
            )
            if not ok:
                kwargs["padding_mode"] = "zeros"
                kwargs["padding"] = padding
        layer_cls = CONVS[dims]
    torch.manual_seed(seed)
    layer = layer_cls(cin, cout, kernel, **kwargs)
    x = make_input(kind, (batch, cin, *spatial), torch.Generator().manual_seed(seed))
    return layer, x, kind


def _dense_macs(layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    k = math.prod(layer.kernel_size)
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        macs = x.numel() * (layer.out_channels // layer.groups) * k
    else:
        macs = y.numel() * (layer.in_channels // layer.groups) * k
    if layer.bias is not None:
        macs += y.numel()
    return macs / x.shape[0]


def _check(layer: nn.Module, x: torch.Tensor, skip_zero_weights: bool = False, spike_mode: str = "integer"):
    with torch.no_grad():
        y = layer(x)
    report = syops.profile(layer, inputs=x, skip_zero_weights=skip_zero_weights, spike_mode=spike_mode)
    row = report.layers[0]
    dense = _dense_macs(layer, x, y)
    assert row.dense_macs == pytest.approx(dense, rel=1e-12)
    if is_events(x, spike_mode):
        synops = brute_force_conv_synops(layer, x, skip_zero_weights)
        bias_adds = y.numel() / x.shape[0] if layer.bias is not None else 0
        assert row.synops == pytest.approx(synops, rel=1e-12, abs=1e-9)
        assert row.acs == pytest.approx(synops + bias_adds, rel=1e-12, abs=1e-9)
        assert row.macs == 0
        assert row.input_event_rate == pytest.approx(float(x.abs().sum()) / x.numel())
    else:
        assert row.acs == 0 and row.synops == 0
        assert row.macs == pytest.approx(dense, rel=1e-12)
        assert row.input_event_rate is None
    assert row.calls == 1 and report.samples == x.shape[0]
    assert row.params == sum(p.numel() for p in layer.parameters())


@given(conv_case(transposed=False))
def test_conv_matches_brute_force(case):
    layer, x, _ = case
    _check(layer, x)


@given(conv_case(transposed=True))
def test_conv_transpose_matches_brute_force(case):
    layer, x, _ = case
    _check(layer, x)


@given(conv_case(transposed=False))
def test_skip_zero_weights_counts_only_nonzero_synapses(case):
    layer, x, _ = case
    with torch.no_grad():
        mask = torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(1)) < 0.5
        layer.weight[mask] = 0
    _check(layer, x, skip_zero_weights=True)


@given(conv_case(transposed=False))
def test_binary_mode_counts_only_zero_one_as_events(case):
    layer, x, _ = case
    _check(layer, x, spike_mode="binary")


def test_border_pixels_have_fewer_connections():
    """A padded, strided conv: the fan-out map is exact, not kernel-size × out-channels everywhere."""
    conv = nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)
    fan = syops.fanout(conv, (1, 5, 5))
    # inner (odd) rows/cols are reached by one output each per tap row/col; edges by fewer taps
    per_axis = torch.tensor([1.0, 2.0, 1.0, 2.0, 1.0])  # output positions touching each input index
    expected = 2 * per_axis[:, None] * per_axis[None, :]
    assert torch.equal(fan[0], expected.double())
    assert float(fan.max()) < 2 * 9


def test_per_sample_figures_do_not_depend_on_batch_size():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    x = make_input("binary", (5, 3, 8, 8), torch.Generator().manual_seed(0))
    whole = syops.profile(conv, inputs=x).layers[0]
    parts = [syops.profile(conv, inputs=x[i : i + 1]).layers[0] for i in range(5)]
    assert whole.synops == pytest.approx(sum(p.synops for p in parts) / 5)
    assert whole.acs == pytest.approx(sum(p.acs for p in parts) / 5)
    assert whole.dense_macs == pytest.approx(parts[0].dense_macs)


def test_functional_conv_counts_like_the_module():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, groups=1)

    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = conv.weight
            self.bias = conv.bias

        def forward(self, x):
            return torch.nn.functional.conv2d(x, self.weight, self.bias, 2, 1)

    x = make_input("integer", (2, 2, 7, 7), torch.Generator().manual_seed(3))
    module_row = syops.profile(conv, inputs=x).layers[0]
    op_rows = syops.profile(Functional(), inputs=x).layers
    op_row = next(r for r in op_rows if r.type == "conv2d")
    assert op_row.name == "" and op_row.synops == module_row.synops and op_row.acs == module_row.acs
    assert op_row.dense_macs == module_row.dense_macs


def test_subclass_of_conv_is_counted():
    class MyConv(nn.Conv2d):
        pass

    layer = MyConv(2, 2, 3)
    report = syops.profile(layer, (2, 6, 6))
    assert report.layers[0].type == "MyConv" and report.layers[0].dense_macs == 4 * 4 * 2 * 2 * 9 + 4 * 4 * 2


def test_same_padding_string():
    layer = nn.Conv1d(1, 1, 4, padding="same", bias=False)
    x = make_input("binary", (2, 1, 10), torch.Generator().manual_seed(5))
    _check(layer, x)


def test_a_convolution_changed_between_profiles_is_counted_as_it_is_now():
    """Convolution terms are kept across profiles, keyed by everything they depend on: a geometry or a
    weight changed in between gives the new layer's counts, never the old ones."""
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    x = make_input("integer", (2, 3, 9, 9), torch.Generator().manual_seed(7))

    def synops_now():
        report = syops.profile(nn.Sequential(conv), inputs=x)
        assert report.layer("0").synops == pytest.approx(brute_force_conv_synops(conv, x))
        return report.layer("0").synops, report.layer("0").dense_macs

    first = synops_now()
    conv.stride, conv.padding = (2, 2), (0, 0)
    conv._reversed_padding_repeated_twice = [0, 0, 0, 0]
    second = synops_now()
    conv.weight = nn.Parameter(torch.randn(6, 3, 3, 3))
    conv.out_channels = 6
    third = synops_now()
    conv.dilation = (2, 2)
    fourth = synops_now()
    assert len({first, second, third, fourth}) == 4
