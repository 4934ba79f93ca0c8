"""Norms, pooling, activations, upsampling and zero-cost modules: ptflops' dense conventions, classified
as ACs for event inputs and MACs otherwise; checked against formulas and against ptflops itself."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import syops
from helpers import make_input, ptflops_modules

# (module, per-element cost, counted on: "in" input elements or "out" output elements)
CASES = [
    (nn.BatchNorm2d(3), 2, "in"),
    (nn.BatchNorm2d(3, affine=False), 1, "in"),
    (nn.GroupNorm(1, 3), 2, "in"),
    (nn.InstanceNorm2d(3), 1, "in"),
    (nn.InstanceNorm2d(3, affine=True), 2, "in"),
    (nn.LayerNorm([3, 6, 6]), 2, "in"),
    (nn.MaxPool2d(2), 1, "in"),
    (nn.AvgPool2d(3, stride=2, padding=1), 1, "in"),
    (nn.AdaptiveAvgPool2d(2), 1, "in"),
    (nn.AdaptiveMaxPool2d((1, 3)), 1, "in"),
    (nn.ReLU(), 1, "in"),
    (nn.ReLU(inplace=True), 1, "in"),
    (nn.LeakyReLU(), 1, "in"),
    (nn.GELU(), 1, "in"),
    (nn.SiLU(), 1, "in"),
    (nn.Sigmoid(), 1, "in"),
    (nn.Tanh(), 1, "in"),
    (nn.Hardswish(), 1, "in"),
    (nn.Softmax(dim=1), 1, "in"),
    (nn.PReLU(), 1, "in"),
    (nn.ELU(), 1, "in"),
    (nn.ReLU6(), 1, "in"),
    (nn.Upsample(scale_factor=2), 1, "out"),
    (nn.Upsample(size=(4, 5), mode="bilinear"), 1, "out"),
]


@pytest.mark.parametrize("kind", ["binary", "ternary", "dense"])
@pytest.mark.parametrize(("layer", "cost", "on"), CASES, ids=lambda v: repr(v) if isinstance(v, nn.Module) else None)
def test_dense_convention_and_classification(layer, cost, on, kind):
    x = make_input(kind, (2, 3, 6, 6), torch.Generator().manual_seed(0))
    events = kind != "dense"
    with torch.no_grad():
        y = layer(x.clone())
    row = syops.profile(layer, inputs=x).layers[0]
    expected = cost * (x.numel() if on == "in" else y.numel()) / 2
    assert row.dense_macs == expected
    assert (row.acs, row.macs) == ((expected, 0) if events else (0, expected))
    assert row.synops == 0


def test_inplace_activation_is_classified_by_its_input():
    """ReLU(inplace=True) overwrites its input; the rule runs before the call, so a dense input whose
    negatives all become 0 is still counted as dense."""
    x = -torch.rand(2, 4) - 0.5  # dense, all negative: relu makes it all zeros (an 'event' tensor)
    row = syops.profile(nn.ReLU(inplace=True), inputs=x).layers[0]
    assert row.macs == 4 and row.acs == 0


@pytest.mark.parametrize(
    "layer", [nn.Flatten(), nn.Identity(), nn.Dropout(0.5), nn.Dropout2d(), nn.ZeroPad2d(1), nn.PixelShuffle(1)]
)
def test_zero_cost_modules_have_no_rows(layer):
    net = nn.Sequential(layer, nn.Flatten(), nn.Linear(3 * 4 * 4 if not isinstance(layer, nn.ZeroPad2d) else 108, 2))
    report = syops.profile(net, (3, 4, 4))
    assert [r.type for r in report.layers] == ["Linear"]
    assert report.unsupported == []


def test_embedding_keeps_its_parameters():
    net = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    report = syops.profile(net, inputs=torch.tensor([[1, 2, 3]]))
    assert report.totals["params"] == 10 * 4 + 12 * 2 + 2
    assert report.layer("0").type == "Embedding" and report.layer("0").dense_macs == 0


def test_matches_ptflops_on_modules_it_knows():
    """A net made only of layers ptflops hooks, batch 1: the totals agree exactly."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, groups=4, bias=False),
        nn.InstanceNorm2d(8, affine=True),
        nn.LeakyReLU(),
        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
        nn.Upsample(scale_factor=2),
        nn.AdaptiveAvgPool2d(3),
        nn.Flatten(),
        nn.Linear(36, 10),
        nn.GELU(),
    )
    expected, params = ptflops_modules(net, (3, 32, 32))
    report = syops.profile(net, (3, 32, 32))
    assert report.totals["dense_macs"] == expected
    assert report.totals["params"] == params
