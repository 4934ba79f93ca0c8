"""syops-counter's get_model_complexity_info: same signature, same return shapes, exact numbers."""

from __future__ import annotations

import inspect
import io
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

import syops
from syops import get_model_complexity_info
from syops.errors import SyopsError


def test_signature_is_syops_counters():
    params = inspect.signature(get_model_complexity_info).parameters
    expected = [
        ("model", inspect.Parameter.empty),
        ("input_res", inspect.Parameter.empty),
        ("dataloader", None),
        ("print_per_layer_stat", True),
        ("as_strings", True),
        ("input_constructor", None),
        ("ost", sys.stdout),
        ("verbose", False),
        ("ignore_modules", []),
        ("custom_modules_hooks", {}),
        ("backend", "pytorch"),
        ("syops_units", None),
        ("param_units", None),
        ("output_precision", 2),
    ]
    assert [(name, p.default) for name, p in params.items()] == expected


def test_numbers_and_shapes_of_syops_counters_own_tests():
    net = nn.Sequential(nn.Conv2d(3, 2, 3, bias=True))
    syops_count, params = get_model_complexity_info(net, (3, 224, 224), as_strings=False, print_per_layer_stat=False)
    assert isinstance(syops_count, np.ndarray) and syops_count.shape == (4,)
    assert params == 3 * 3 * 2 * 3 + 2
    assert int(syops_count[0]) == 2_759_904 == int(syops_count[2])  # dense input: all MACs
    assert syops_count[1] == 0 and math.isnan(syops_count[3])  # no spiking layers: no firing rate

    fc = nn.Sequential(nn.Linear(3, 2, bias=True))
    syops_count, params = get_model_complexity_info(fc, (3,), as_strings=False, print_per_layer_stat=False)
    assert params == 8 and int(syops_count[0]) == 8


def test_strings():
    net = nn.Sequential(nn.Conv2d(3, 2, 3, bias=True))
    (total, acs, macs), params = get_model_complexity_info(net, (3, 224, 224), print_per_layer_stat=False)
    assert (total, acs, macs, params) == ("2.76 MMac", "0.0 Mac", "2.76 MMac", "56")
    (total, _, _), params = get_model_complexity_info(
        net, (3, 224, 224), print_per_layer_stat=False, syops_units="GMac", param_units="K", output_precision=4
    )
    assert (total, params) == ("0.0028 GMac", "0.056 K")


def test_event_input_through_a_dataloader_counts_exact_acs():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 3, bias=False))
    spikes = (torch.rand(8, 6) < 0.25).float()
    loader = [(spikes[:4], torch.zeros(4)), (spikes[4:], torch.zeros(4))]
    syops_count, _ = get_model_complexity_info(
        net, (6,), dataloader=loader, as_strings=False, print_per_layer_stat=False
    )
    assert syops_count[1] == pytest.approx(float(spikes.sum()) * 3 / 8)  # Σ events × fan-out, per sample
    assert syops_count[2] == 0 and syops_count[0] == 18


def test_per_layer_print_verbose_ignore_and_custom_hooks():
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    def hook(module, inputs, output):
        module.__syops__ += np.array([10.0, 4.0, 6.0, 0.0])

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), Mystery(), nn.Flatten(), nn.Linear(8, 2))
    out = io.StringIO()
    counts, _ = get_model_complexity_info(
        net,
        (1, 4, 4),
        ost=out,
        verbose=True,
        as_strings=False,
        ignore_modules=[nn.BatchNorm2d],
        custom_modules_hooks={nn.Linear: hook},
    )
    text = out.getvalue()
    assert "Warning: module Mystery is treated as a zero-op." in text
    assert "(0): Conv2d(" in text and "% Params" in text and "Spike Rate" in text
    conv = 2 * 2 * 2 * 9 + 8
    assert counts[0] == conv + 10 and counts[1] == 4 and counts[2] == conv + 6
    assert not hasattr(net[4], "__syops__")


def test_input_constructor_and_bad_arguments():
    class Kw(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(x)

    counts, _ = get_model_complexity_info(
        Kw(),
        (4,),
        input_constructor=lambda res: {"x": torch.ones(2, *res)},
        as_strings=False,
        print_per_layer_stat=False,
    )
    assert counts[0] == 5
    with pytest.raises(SyopsError):
        get_model_complexity_info(Kw(), [4], print_per_layer_stat=False)
    with pytest.raises(SyopsError, match="backend"):
        get_model_complexity_info(Kw(), (4,), backend="aten", print_per_layer_stat=False)


def test_same_engine_as_profile():
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    counts, params = get_model_complexity_info(net, (2, 8, 8), as_strings=False, print_per_layer_stat=False)
    report = syops.profile(net, (2, 8, 8))
    assert counts[0] == report.totals["dense_macs"] and params == report.totals["params"]
