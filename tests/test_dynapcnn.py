"""DYNAP-CNN memory report against the formulas and chip limits, computed here independently: memory with
floating-point log2, shapes by running the layers on zeros, placements by brute force."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import sinabs.layers as sl
import torch
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from syops import SyopsError
from syops.cli.main import main as cli_main
from syops.dynapcnn import assign_cores, competitors, dynapcnn_report

KI = 1024
# docs/contract.md §9: (kernel, neuron) entries per core; bias 1024 each
LIMITS = [(16 * KI, 64 * KI)] * 3 + [(32 * KI, 32 * KI)] * 2 + [(64 * KI, 16 * KI)] * 2 + [(16 * KI, 16 * KI)] * 2


def expected_kernel(c, kx, ky, f):
    return int(c * 2 ** (math.ceil(math.log2(kx * ky)) + math.ceil(math.log2(f))))


def expected_neuron(f, fy, fx):
    return int(f * 2 ** (math.ceil(math.log2(fy)) + math.ceil(math.log2(fx))))


def expected_cores(kernel, neuron, bias):
    return [i for i, (k, n) in enumerate(LIMITS) if kernel <= k and neuron <= n and bias <= 1024]


def chain(*stages, linear_in=None):
    """nn.Sequential of (Conv2d or Linear) → IAFSqueeze → optional SumPool2d stages."""
    layers = []
    for stage in stages:
        layers.extend(stage)
    return nn.Sequential(*layers)


def conv_stage(cin, cout, k=3, stride=1, padding=1, pool=None, bias=False):
    stage = [nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=bias), sl.IAFSqueeze(batch_size=1)]
    if pool:
        stage.append(sl.SumPool2d(pool))
    return stage


def check_figures(model: nn.Sequential, input_shape, report):
    """Each layer's memory figures and shapes against the formulas, with shapes from running the model."""
    x = torch.zeros(1, *input_shape)
    synaptic = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert [layer.type for layer in report.layers] == [type(m).__name__ for m in synaptic]
    rows = iter(report.layers)
    row = None
    with torch.no_grad():
        for module in model:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                row = next(rows)
                assert row.input_shape == list(x.shape[1:])
                if isinstance(module, nn.Linear):
                    c, h, w = row.input_shape
                    kx, ky, f = w, h, module.out_features
                    out = module(x.flatten(1))
                    fy = fx = 1
                else:
                    c, f = module.in_channels, module.out_channels
                    ky, kx = module.kernel_size
                    out = module(x)
                    fy, fx = out.shape[-2:]
                bias = f if module.bias is not None else 0
                assert row.kernel_memory == expected_kernel(c, kx, ky, f)
                assert row.neuron_memory == expected_neuron(f, fy, fx)
                assert row.bias_memory == bias
                assert row.kernel_memory_theoretical == module.weight.numel()
                assert row.neuron_memory_theoretical == f * fy * fx
                assert row.fits_cores == expected_cores(row.kernel_memory, row.neuron_memory, bias)
                x = out
            elif isinstance(module, (sl.SumPool2d, nn.AvgPool2d)):
                x = module(x)
                assert row.output_shape == list(x.shape[1:])
            # nn.Flatten is left to the Linear after it, which flattens its input here.
    if row is not None and not isinstance(model[-1], (sl.SumPool2d, nn.AvgPool2d)):
        shape = list(x.shape[1:]) if x.dim() == 4 else [x.shape[1], 1, 1]
        assert row.output_shape == shape


def check_assignment(report):
    cores = [layer.core for layer in report.layers if layer.core is not None]
    assert len(cores) == len(set(cores))
    for layer in report.layers:
        if layer.core is not None:
            assert layer.core in layer.fits_cores


def placeable(candidates) -> bool:
    """Brute force: is there an injective assignment of every layer to one of its cores?"""
    if len(candidates) > 9:
        return False
    return any(
        all(core in cand for core, cand in zip(perm, candidates, strict=True))
        for perm in itertools.permutations(range(9), len(candidates))
    )


def test_fitting_sinabs_net():
    model = chain(
        conv_stage(2, 8, pool=2),
        conv_stage(8, 16, pool=2),
        conv_stage(16, 16, pool=2, bias=True),
        [nn.Flatten(), nn.Linear(16 * 4 * 4, 10, bias=False), sl.IAFSqueeze(batch_size=1)],
    )
    report = dynapcnn_report(model, (2, 34, 34))
    check_figures(model, (2, 34, 34), report)
    check_assignment(report)
    assert report.fits and not report.violations
    assert all(layer.core is not None and not layer.violations for layer in report.layers)
    assert report.layers[2].bias_memory == 16
    totals = report.totals
    assert totals["kernel_memory"] == sum(layer.kernel_memory for layer in report.layers)
    assert totals["layers"] == 4 and totals["cores_used"] == 4


def test_zoo_dynapcnn_net_fits():
    from syops import zoo

    model = zoo.build("dynapcnn_nmnist")
    report = dynapcnn_report(model, (2, 34, 34))
    assert report.fits
    check_figures(nn.Sequential(*list(model)[1:]), (2, 34, 34), report)  # without FlattenTime
    check_assignment(report)


def test_oversize_neuron_memory():
    # 64 channels × 64×64 feature map: 64 · 2^(6+6) = 262144 neuron entries, more than any core.
    model = chain(conv_stage(2, 64, pool=2), conv_stage(64, 8))
    report = dynapcnn_report(model, (2, 64, 64))
    check_figures(model, (2, 64, 64), report)
    first = report.layers[0]
    assert first.neuron_memory == 262144 and first.fits_cores == [] and first.core is None
    assert any("neuron memory 262144 > 65536" in v for v in first.violations)
    assert not report.fits


def test_kernel_larger_than_16():
    model = chain(conv_stage(2, 4, k=17, padding=0))
    report = dynapcnn_report(model, (2, 40, 40))
    check_figures(model, (2, 40, 40), report)
    assert any("larger than 16×16" in v for v in report.layers[0].violations)
    assert not report.fits


def test_stride_3():
    model = chain(conv_stage(2, 4, stride=3))
    report = dynapcnn_report(model, (2, 30, 30))
    check_figures(model, (2, 30, 30), report)
    assert any("stride 3" in v for v in report.layers[0].violations)
    assert not report.fits


def test_batchnorm_present():
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), sl.IAFSqueeze(batch_size=1))
    report = dynapcnn_report(model, (2, 16, 16))
    assert any("BatchNorm" in v for v in report.layers[0].violations)
    assert not report.fits


def test_more_than_nine_layers():
    model = chain(*[conv_stage(2, 2) for _ in range(10)])
    report = dynapcnn_report(model, (2, 8, 8))
    check_figures(model, (2, 8, 8), report)
    check_assignment(report)
    assert any("10 layers" in v for v in report.violations)
    assert sum(layer.core is not None for layer in report.layers) == 9
    unplaced = [layer for layer in report.layers if layer.core is None]
    assert len(unplaced) == 1 and "not placed" in unplaced[0].violations[0]
    assert not report.fits


def test_competing_layers_named():
    # Four layers whose neuron memory (16 · 2^(6+6) = 65536) only cores 0-2 hold.
    model = chain(*[conv_stage(16, 16) for _ in range(4)])
    report = dynapcnn_report(model, (16, 64, 64))
    check_figures(model, (16, 64, 64), report)
    check_assignment(report)
    assert all(layer.fits_cores == [0, 1, 2] for layer in report.layers)
    assert sorted(layer.core for layer in report.layers if layer.core is not None) == [0, 1, 2]
    (loser,) = [layer for layer in report.layers if layer.core is None]
    assert "0, 1, 2" in loser.violations[-1] and "needed by layers" in loser.violations[-1]
    assert not report.fits and not report.violations


@pytest.mark.parametrize(
    "stage, shape, violation",
    [
        (conv_stage(1, 2, k=1, padding=0), (1, 64, 64), None),
        (conv_stage(1, 2, k=1, padding=0), (1, 65, 64), "feature map 65×64"),
        (conv_stage(1, 2, k=3, stride=2, padding=1), (1, 128, 128), None),
        (conv_stage(1, 2, k=3, stride=4, padding=1), (1, 129, 16), "input 129×16"),
        (conv_stage(1, 2, k=16, padding=7), (1, 20, 20), None),
        (conv_stage(1, 2, k=16, padding=8), (1, 20, 20), "padding 8"),
        (conv_stage(1, 2, stride=8), (1, 20, 20), None),
        (conv_stage(1, 2, pool=4), (1, 16, 16), None),
        (conv_stage(1, 2, pool=3), (1, 16, 16), "pooling 3×3"),
        ([nn.Conv2d(1, 2, (3, 5)), sl.IAFSqueeze(batch_size=1)], (1, 16, 16), "not square"),
        ([nn.Conv2d(2, 2, 3, groups=2), sl.IAFSqueeze(batch_size=1)], (2, 16, 16), "groups=2"),
        (conv_stage(1, 1024, k=1, padding=0), (1, 2, 2), None),
        (conv_stage(1, 1025, k=1, padding=0), (1, 2, 2), "1025 channels"),
    ],
)
def test_chip_limits(stage, shape, violation):
    report = dynapcnn_report(nn.Sequential(*stage), shape)
    violations = report.layers[0].violations
    if violation is None:
        assert violations == [] and report.fits
    else:
        assert any(violation in v for v in violations), violations
        assert not report.fits


def test_torch_pattern_and_other_neurons():
    from spikingjelly.activation_based import neuron

    relu_net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 7 * 7, 3))
    report = dynapcnn_report(relu_net, (1, 16, 16))
    assert report.layers[0].output_shape == [4, 7, 7]
    assert any("ReLU" in n for n in report.notes)
    assert report.layers[1].violations == ["no spiking layer follows it"]  # the read-out has no neuron
    if_net = nn.Sequential(nn.Conv2d(1, 4, 3), neuron.IFNode())
    assert dynapcnn_report(if_net, (1, 16, 16)).fits
    lif_net = nn.Sequential(nn.Conv2d(1, 4, 3), neuron.LIFNode())
    assert any("not a non-leaky IAF" in v for v in dynapcnn_report(lif_net, (1, 16, 16)).layers[0].violations)
    max_net = nn.Sequential(nn.Conv2d(1, 4, 3), sl.IAFSqueeze(batch_size=1), nn.MaxPool2d(2))
    assert any("max pooling" in v for v in dynapcnn_report(max_net, (1, 16, 16)).layers[0].violations)


def test_wrong_input_shape_is_an_error():
    model = chain(conv_stage(2, 4))
    with pytest.raises(SyopsError, match=r"expects 2 input channels.*--input-shape"):
        dynapcnn_report(model, (3, 16, 16))
    with pytest.raises(SyopsError, match="C,H,W"):
        dynapcnn_report(model, (2, 16))


@settings(max_examples=40)
@given(
    stages=st.lists(
        st.tuples(
            st.integers(1, 24),  # out channels
            st.sampled_from([1, 2, 3, 5, 17]),  # kernel
            st.sampled_from([1, 2, 3]),  # stride
            st.integers(0, 2),  # padding
            st.sampled_from([None, 2, 4]),  # pooling
        ),
        min_size=1,
        max_size=4,
    ),
    channels=st.integers(1, 4),
    size=st.integers(8, 80),
)
def test_random_chains(stages, channels, size):
    layers, c, h = [], channels, size
    for cout, k, stride, padding, pool in stages:
        out = (h + 2 * padding - k) // stride + 1
        if out < 1 or (pool and out // pool < 1):
            break
        layers += conv_stage(c, cout, k=k, stride=stride, padding=padding, pool=pool)
        c, h = cout, out // (pool or 1)
    if not layers:
        return
    model = nn.Sequential(*layers)
    report = dynapcnn_report(model, (channels, size, size))
    check_figures(model, (channels, size, size), report)
    check_assignment(report)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    broken = False
    for conv, layer in zip(convs, report.layers, strict=True):
        k, s = conv.kernel_size[0], conv.stride[0]
        feature = (layer.input_shape[1] + 2 * conv.padding[0] - k) // s + 1
        rules = [k <= 16, s in (1, 2, 4, 8), feature <= 64, layer.input_shape[1] <= 128]
        assert (not all(rules)) == any(
            "kernel" in v or "stride" in v or "feature map" in v or "input" in v for v in layer.violations
        )
        broken |= not all(rules)
    candidates = [layer.fits_cores for layer in report.layers]
    assert report.fits == (not broken and placeable(candidates))


@settings(max_examples=60)
@given(
    st.lists(st.lists(st.integers(0, 5), max_size=6, unique=True).map(sorted), min_size=1, max_size=6),
)
def test_matching_is_maximum(candidates):
    assignment = assign_cores(candidates, n_cores=6)
    placed = [core for core in assignment if core is not None]
    assert len(placed) == len(set(placed))
    assert all(core is None or core in cand for core, cand in zip(assignment, candidates, strict=True))
    best = max(
        sum(core is not None for core in combo)
        for combo in itertools.product(*[[None, *cand] for cand in candidates])
        if len([c for c in combo if c is not None]) == len({c for c in combo if c is not None})
    )
    assert len(placed) == best
    for layer, core in enumerate(assignment):
        if core is None:
            group = competitors(candidates, assignment, layer)
            cores = {c for j in group for c in candidates[j]}
            assert len(cores) < len(group)  # Hall's condition fails on the named layers


def run_cli(*args):
    result = CliRunner().invoke(cli_main, list(args))
    return result


def test_cli_dynapcnn_json_and_exit_codes(tmp_path):
    result = run_cli("dynapcnn", "dynapcnn_nmnist", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= {"fits", "layers", "totals"} and data["fits"] is True
    keys = {
        "name",
        "kernel_memory",
        "neuron_memory",
        "bias_memory",
        "kernel_memory_theoretical",
        "neuron_memory_theoretical",
        "input_shape",
        "output_shape",
        "fits_cores",
        "core",
        "violations",
    }
    for layer in data["layers"]:
        assert keys <= set(layer)
    assert data["layers"][0]["input_shape"] == [2, 34, 34]

    module = tmp_path / "dynapcnn_cli_models.py"
    module.write_text(
        "import torch.nn as nn, sinabs.layers as sl\n"
        "def stride3():\n"
        "    return nn.Sequential(nn.Conv2d(2, 4, 3, stride=3), sl.IAFSqueeze(batch_size=1))\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        result = run_cli("dynapcnn", "dynapcnn_cli_models:stride3", "--input-shape", "2,30,30")
        assert result.exit_code == 1
        assert "stride 3" in result.stdout and "Does not fit" in result.stdout
        result = run_cli("dynapcnn", "dynapcnn_cli_models:stride3")
        assert result.exit_code == 2
        assert result.stderr.strip().count("\n") == 0 and "--input-shape" in result.stderr
        result = run_cli("dynapcnn", "dynapcnn_cli_models:stride3", "--input-shape", "3,30,30")
        assert result.exit_code == 2 and "expects 2 input channels" in result.stderr
    finally:
        sys.path.remove(str(tmp_path))
