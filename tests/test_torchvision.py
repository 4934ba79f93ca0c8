"""torchvision models against ptflops (computed here) and docs/contract.md's figures for ResNet-18 (§3).

Where syops and ptflops (count_functional=False) differ, the difference is exactly what
docs/ptflops-comparison.md explains: activation classes ptflops does not hook (SiLU, Hardswish...),
subclasses it does not match (LayerNorm2d), and functional ops outside modules, which syops counts
(residual additions...) and ptflops' module mode ignores.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from ptflops import get_model_complexity_info as ptflops_info
from ptflops.pytorch_ops import MODULES_MAPPING

import syops
from helpers import ptflops_modules

PTFLOPS_TYPES = {t.__name__ for t in MODULES_MAPPING}


@pytest.fixture(scope="module")
def resnet18_report():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    return model, syops.profile(model, (3, 224, 224))


def test_resnet18_figures(resnet18_report):
    model, report = resnet18_report
    expected_macs, expected_params = ptflops_modules(model, (3, 224, 224))
    modules = sum(r.dense_macs for r in report.layers if r.type != "add")
    adds = [r for r in report.layers if r.type == "add"]
    assert expected_macs == 1_822_177_768 and expected_params == 11_689_512  # ptflops, computed here
    assert modules == 1_822_177_768
    assert report.totals["params"] == 11_689_512
    assert len(adds) == 8 and sum(r.dense_macs for r in adds) == 752_640
    assert [r.name for r in adds] == [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    # a dense network: everything is MACs, energy is MACs at 4.6 pJ
    assert report.totals["acs"] == 0 and report.totals["macs"] == report.totals["dense_macs"]
    assert report.totals["compute_energy_mj"] == pytest.approx((1_822_177_768 + 752_640) * 4.6e-9)
    # an ANN is its own baseline: one pass, the same dense dataflow
    assert report.ann_compute_energy_mj == pytest.approx(report.totals["compute_energy_mj"], rel=1e-12)
    assert report.ann_energy_mj == pytest.approx(report.totals["energy_mj"], rel=1e-12)
    assert report.totals["memory_energy_mj"] > 0


@pytest.mark.parametrize(
    ("arch", "res"),
    [
        ("mobilenet_v2", (3, 224, 224)),
        ("efficientnet_b0", (3, 224, 224)),
        ("mobilenet_v3_small", (3, 224, 224)),
        ("densenet121", (3, 128, 128)),
        ("squeezenet1_0", (3, 224, 224)),
    ],
)
def test_torchvision_models_against_ptflops(arch, res):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    expected_macs, expected_params = ptflops_modules(model, res)
    report = syops.profile(model, res)
    assert report.totals["params"] == expected_params
    modules = [r for r in report.layers if not r.type.islower()]
    known = sum(r.dense_macs for r in modules if r.type in PTFLOPS_TYPES)
    assert known == expected_macs
    unknown = {r.type for r in modules if r.type not in PTFLOPS_TYPES and r.dense_macs}
    assert unknown <= {"SiLU", "Sigmoid", "Hardswish", "Hardsigmoid"}


def test_ptflops_functional_mode_double_counts_what_syops_counts_once(resnet18_report):
    """docs/ptflops-comparison.md, point 2: ptflops' functional mode adds the ReLU and pooling modules a
    second time and still misses the in-place residual additions."""
    model, report = resnet18_report
    functional, _ = ptflops_info(
        model,
        (3, 224, 224),
        as_strings=False,
        print_per_layer_stat=False,
        backend="pytorch",
        backend_specific_config={"count_functional": True},
    )
    again = sum(r.dense_macs for r in report.layers if r.type in ("ReLU", "MaxPool2d", "AdaptiveAvgPool2d"))
    assert functional - 1_822_177_768 == again == 3_136_000
