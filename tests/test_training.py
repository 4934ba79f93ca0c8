"""Training steps: the backward pass and the update, against brute force computed here."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from helpers import brute_force_conv_synops
from syops.energy import resolve_energy
from syops.errors import SyopsError
from syops.memory import resolve_memory
from syops.training import TrainingRecorder, training_figures
from syops.training.optimizers import adam_rule, sgd_rule

sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
from spikingjelly.activation_based import functional, layer  # noqa: E402

T, B = 4, 3


def _snn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1, stride=1),
        sj_neuron.IFNode(),
        layer.Flatten(),
        layer.Linear(4 * 6 * 6, 5),
    )
    functional.set_step_mode(net, "m")
    return net


def _binary_input(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, 2, 6, 6, generator=g) < 0.3).float()


def _step(net: nn.Module, x: torch.Tensor, opt: torch.optim.Optimizer) -> None:
    opt.zero_grad()
    net(x).mean(0).square().sum().backward()
    opt.step()
    functional.reset_net(net)


def _figures(rec: TrainingRecorder, samples: int, memory: str = "sram-45nm"):
    return training_figures(rec, samples, resolve_energy("45nm-fp32"), resolve_memory(memory))


def _no_hooks_left(net: nn.Module, opt: torch.optim.Optimizer | None = None) -> None:
    for module in net.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not module._forward_hooks_always_called
    if opt is not None:
        assert not opt._optimizer_step_pre_hooks and not opt._optimizer_step_post_hooks
    assert torch._C._len_torch_function_stack() == 0


def test_conv_if_linear_one_sgd_step_matches_brute_force():
    net, x = _snn(), _binary_input()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    seen: dict[str, torch.Tensor] = {}
    net[3].register_forward_pre_hook(lambda m, a: seen.__setitem__("linear_in", a[0].detach().clone()))
    with TrainingRecorder(net, opt) as rec:
        _step(net, x, opt)
    net[3]._forward_pre_hooks.clear()
    f = _figures(rec, B)
    conv = net[0]
    # conv: weight-and-bias gradient ACs = its forward ACs (Σ events · exact fan-out + a bias add per output)
    conv_synops = brute_force_conv_synops(conv, x.flatten(0, 1)) * T  # per sample (the helper divides by T·B)
    conv_outputs = 4 * 6 * 6 * T
    row = f.backward[("0", "Conv2d")]
    assert row["acs"] == pytest.approx(conv_synops + conv_outputs)
    assert row["macs"] == 0  # its binary input does not require grad: no input gradient
    # Linear: weight gradient ACs = its forward ACs; input gradient one MAC per (input, output, weight) pair
    spikes = seen["linear_in"]
    assert bool(((spikes == 0) | (spikes == 1)).all())
    linear_synops = float(spikes.sum()) * 5 / B
    row = f.backward[("3", "Linear")]
    assert row["acs"] == pytest.approx(linear_synops + 5 * T)
    assert row["macs"] == pytest.approx(144 * 5 * T)
    # IF neuron: per neuron per step surrogate MAC, reset MAC (not detached), recurrence AC
    neurons = 4 * 6 * 6
    row = f.backward[("1", "IFNode")]
    assert row["macs"] == pytest.approx(2 * neurons * T) and row["acs"] == pytest.approx(neurons * T)
    # plain SGD: one MAC per parameter element, per sample = parameters ÷ batch
    params = sum(p.numel() for p in net.parameters())
    assert f.update_total["macs"] == pytest.approx(params / B)
    assert f.update_total["acs"] == 0 and f.update_total["params"] == params
    _no_hooks_left(net, opt)


def test_detach_reset_drops_the_reset_path():
    net = _snn()
    net[1] = sj_neuron.IFNode(detach_reset=True, step_mode="m")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with TrainingRecorder(net, opt) as rec:
        _step(net, _binary_input(), opt)
    row = _figures(rec, B).backward[("1", "IFNode")]
    assert row["macs"] == pytest.approx(4 * 6 * 6 * T)  # the surrogate only


def test_gradients_and_parameters_are_untouched():
    plain, counted = _snn(3), _snn(3)
    x = _binary_input(4)
    opt_a = torch.optim.SGD(plain.parameters(), lr=0.5, momentum=0.9)
    opt_b = torch.optim.SGD(counted.parameters(), lr=0.5, momentum=0.9)
    for _ in range(2):
        _step(plain, x, opt_a)
    with TrainingRecorder(counted, opt_b):
        for _ in range(2):
            _step(counted, x, opt_b)
    for a, b in zip(plain.parameters(), counted.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad) and torch.equal(a, b)
    _no_hooks_left(counted, opt_b)


def test_detaches_on_exception():
    net, opt = _snn(), None

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), TrainingRecorder(net) as rec:
        net(_binary_input()).sum().backward()
        raise Boom
    _no_hooks_left(net)
    functional.reset_net(net)
    before = rec.saved_bytes
    net(_binary_input()).sum().backward()  # after the block nothing of syops counts
    assert rec.saved_bytes == before
    del opt


def test_saved_for_backward_bytes_against_saved_tensor_hooks():
    net, x = _snn(), _binary_input()
    counted = copy.deepcopy(net)
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
    out.sum().backward()
    functional.reset_net(net)
    with TrainingRecorder(counted) as rec:
        out = counted(x)
        loss = out.sum()
        loss.backward()
    assert total > 0
    assert _figures(rec, B).saved_for_backward_bytes == pytest.approx(total / B)


def _dense(bias: bool, groups: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, stride=2, bias=bias),
        nn.Conv2d(8, 4, 3, groups=groups, bias=bias),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 6, bias=bias),
    )


@pytest.mark.parametrize("input_grad", [False, True])
def test_dense_backward_macs_match_flop_counter(input_grad):
    # Conventions match without groups: FlopCounterMode counts a grouped convolution's input gradient
    # as if it were not grouped (groups × the pairs; see test_flop_counter_counts_grouped_input_gradients).
    net = _dense(bias=False, groups=1)
    x = torch.randn(2, 3, 8, 8, requires_grad=input_grad)
    with FlopCounterMode(display=False) as forward_only:
        net(x)
    with FlopCounterMode(display=False) as both:
        net(x).sum().backward()
    backward_flops = both.get_total_flops() - forward_only.get_total_flops()
    net.zero_grad()
    with TrainingRecorder(net) as rec:
        net(x).sum().backward()
    f = _figures(rec, 2, "none")
    assert f.backward_total["acs"] == 0
    assert f.backward_total["macs"] == pytest.approx(backward_flops / 2 / 2)  # per sample of 2


def test_flop_counter_counts_grouped_input_gradients_times_groups():
    """The one difference on dense layers, measured: syops counts a grouped convolution's input gradient as
    its (input, output, weight) pairs, FlopCounterMode as groups times that."""
    conv = nn.Conv2d(8, 4, 3, groups=2, bias=False)
    x = torch.randn(1, 8, 4, 4, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        conv(x).sum().backward()
    flops = counter.get_flop_counts()["Global"]
    backward_macs = sum(v for k, v in flops.items() if "backward" in str(k)) / 2
    with TrainingRecorder(conv) as rec:
        conv(x).sum().backward()
    pairs = 4 * 2 * 2 * (8 // 2) * 9
    assert _figures(rec, 1).backward_total["macs"] == pytest.approx(2 * pairs)  # weight + input gradient
    assert backward_macs == pytest.approx(pairs + 2 * pairs)


def test_dense_bias_gradient_is_one_mac_per_output():
    with_bias, without = _dense(True), _dense(False)
    x = torch.randn(2, 3, 8, 8)
    figures = []
    for net in (with_bias, without):
        with TrainingRecorder(net) as rec:
            net(x).sum().backward()
        figures.append(_figures(rec, 2).backward_total["macs"])
    outputs = 8 * 4 * 4 + 4 * 2 * 2 + 6
    assert figures[0] - figures[1] == pytest.approx(outputs)


def test_frozen_layer_costs_only_its_input_gradient():
    net = _dense(bias=False)
    net[1].weight.requires_grad_(False)
    x = torch.randn(1, 3, 8, 8)
    with TrainingRecorder(net) as rec:
        net(x).sum().backward()
    row = _figures(rec, 1).backward[("1", "Conv2d")]
    pairs = 4 * 2 * 2 * 4 * 9  # outputs × (in-channels / groups × kernel)
    assert row["macs"] == pytest.approx(pairs)


def test_no_backward_no_cost():
    net = _snn()
    with TrainingRecorder(net) as rec:
        net(_binary_input())
    assert rec.backward == {} or all(not c.accesses for c in rec.backward.values())


# -- the optimizer table against torch's own arithmetic ----------------------------------------------

_AC_OPS = {"add", "sub", "neg", "maximum", "rsub"}
_MAC_OPS = {"mul", "div", "sqrt"}
_TWO = {"addcmul": (0, 2), "addcdiv": (0, 2), "lerp": (1, 1)}  # (ACs, MACs) per element


class _ElementOps(torch.utils._python_dispatch.TorchDispatchMode):
    """Elementwise arithmetic per element of a parameter of ``size`` elements, as aten runs it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.acs, self.macs = size, 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__.rstrip("_")
        if isinstance(out, torch.Tensor) and out.numel() == self.size:
            alpha = kwargs.get("alpha", 1)
            if name in ("add", "sub") and alpha != 1:
                self.macs += 1
            elif name in _AC_OPS:
                self.acs += 1
            elif name in _MAC_OPS:
                self.macs += 1
            elif name in _TWO:
                self.acs += _TWO[name][0]
                self.macs += _TWO[name][1]
        return out


@pytest.mark.parametrize(
    "make, rule",
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, foreach=False), lambda g, s: sgd_rule(g, s)),
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, foreach=False), lambda g, s: sgd_rule(g, s)),
        (
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3, foreach=False),
            lambda g, s: sgd_rule(g, s),
        ),
        (
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, maximize=True, foreach=False),
            lambda g, s: sgd_rule(g, s),
        ),
        (lambda p: torch.optim.Adam(p, lr=0.1, foreach=False), lambda g, s: adam_rule(g)),
        (
            lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.1, amsgrad=True, foreach=False),
            lambda g, s: adam_rule(g),
        ),
        (lambda p: torch.optim.AdamW(p, lr=0.1, foreach=False), lambda g, s: adam_rule(g)),
    ],
)
def test_optimizer_table_counts_torch_reference_arithmetic(make, rule):
    p = nn.Parameter(torch.randn(37))
    opt = make([p])
    for step in range(2):  # the first step (no momentum buffer yet) and a later one
        p.grad = torch.randn(37)
        group = opt.param_groups[0]
        expected = rule(group, step > 0)
        counter = _ElementOps(37)
        with counter:
            opt.step()
        assert (counter.acs, counter.macs) == (expected.acs, expected.macs), (step, expected.source)


def test_update_counts_follow_the_state_of_each_step():
    net = _dense(bias=True)
    x = torch.randn(2, 3, 8, 8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    with TrainingRecorder(net, opt) as rec:
        for _ in range(2):
            opt.zero_grad()
            net(x).sum().backward()
            opt.step()
    params = sum(p.numel() for p in net.parameters())
    f = _figures(rec, 4)  # two batches of 2
    # step 1: param.add_ (MAC); step 2: + buf.mul_ (MAC) + buf.add_ (AC, dampening 0)
    assert f.update_total["macs"] == pytest.approx((params + 2 * params) / 4)
    assert f.update_total["acs"] == pytest.approx(params / 4)
    assert f.update_total["memory"]["state_writes"] == pytest.approx(2 * params / 4)
    _no_hooks_left(net, opt)


def test_unsupported_optimizer_is_one_clear_error():
    net = _dense(bias=False)
    with pytest.raises(SyopsError, match="no update rule for RMSprop"):
        TrainingRecorder(net, torch.optim.RMSprop(net.parameters()))


# -- inside syops.Profiler -----------------------------------------------------------------------------


def _profiled_step(net, x, opt, **kwargs):
    import syops

    with syops.Profiler(net, backward=True, optimizer=opt, **kwargs) as prof:
        _step(net, x, opt)
    return prof.report()


def test_profiler_backward_weight_gradient_equals_the_same_forward():
    net, x = _snn(), _binary_input()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    report = _profiled_step(net, x, opt)
    conv, linear = report.layer("0"), report.layer("3")
    assert report.samples == B and report.timesteps == T and report.unsupported == []
    # the conv's input needs no gradient: its backward is the weight-and-bias gradient alone
    assert conv.phases["backward"]["acs"] == pytest.approx(conv.acs) and conv.phases["backward"]["macs"] == 0
    assert linear.phases["backward"]["acs"] == pytest.approx(linear.acs)
    assert linear.phases["backward"]["macs"] == pytest.approx(144 * 5 * T)
    params = sum(p.numel() for p in net.parameters())
    assert report.phases["update"]["macs"] == pytest.approx(params / B)
    assert report.phases["forward"] == report.totals
    total = sum(report.phases[p]["energy_mj"] for p in ("forward", "backward", "update"))
    assert report.training_energy_mj == pytest.approx(total)
    assert report.saved_for_backward_bytes > 0
    _no_hooks_left(net, opt)


def test_profiler_training_exports():
    import json

    net, x = _snn(), _binary_input()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    report = _profiled_step(net, x, opt)
    data = json.loads(report.to_json())
    assert set(data["phases"]) == {"forward", "backward", "update"}
    assert data["training_energy_mj"] == pytest.approx(report.training_energy_mj)
    assert data["layers"][0]["phases"]["backward"]["acs"] == pytest.approx(report.layers[0].phases["backward"]["acs"])
    header = report.to_csv().splitlines()[0].split(",")
    assert "backward.energy_mj" in header and "update.macs" in header
    assert "backward pass" in report.methods() and "Adam" in report.methods()
    per_step = report.per_timestep()
    assert per_step.phases["backward"]["acs"] == pytest.approx(report.phases["backward"]["acs"] / T)


def test_profiler_inference_has_no_phases():
    import syops

    net, x = _snn(), _binary_input()
    with syops.Profiler(net) as prof:
        net(x)
    report = prof.report()
    assert report.phases is None and report.to_dict()["phases"] is None
    assert "backward.acs" not in report.to_csv().splitlines()[0]


def test_profiler_optimizer_needs_backward():
    import syops

    net = _snn()
    with pytest.raises(SyopsError, match="needs backward=True"):
        syops.Profiler(net, optimizer=torch.optim.SGD(net.parameters(), lr=0.1))


# -- syops train-step ----------------------------------------------------------------------------------


def _cli(*args: str):
    from click.testing import CliRunner

    from cli.main import main

    return CliRunner().invoke(main, list(args))


def test_cli_train_step_prints_the_three_phases_of_the_library_step():
    import json

    from training_models import binary_batches, snn

    import syops

    args = ("tests.training_models:snn", "--data", "tests.training_models:binary_batches", "--time-layout", "TB")
    result = _cli("train-step", *args, "--optimizer", "sgd", "--lr", "0.1", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    net, ((x, target),) = snn(), binary_batches()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with syops.Profiler(net, time_layout="TB", backward=True, optimizer=opt) as prof:
        opt.zero_grad()
        nn.functional.cross_entropy(net(x).mean(0), target).backward()
        opt.step()
    report = prof.report()
    for phase in ("forward", "backward", "update"):
        assert data["phases"][phase]["acs"] == pytest.approx(report.phases[phase]["acs"])
        assert data["phases"][phase]["macs"] == pytest.approx(report.phases[phase]["macs"])
    table = _cli("train-step", *args, "--optimizer", "adam", "--lr", "1e-3")
    assert table.exit_code == 0, table.output
    assert all(word in table.stdout for word in ("forward", "backward", "update", "saved for backward"))


def test_cli_train_step_bad_input_is_one_line():
    result = _cli("train-step", "tests.training_models:snn", "--optimizer", "adam", "--momentum", "0.9")
    assert result.exit_code == 2
    assert "Error" in result.output or "error" in result.output


# -- the docs stay true --------------------------------------------------------------------------------


def test_docs_flop_counter_table_is_measured():
    from pathlib import Path

    from training_compare import snn_comparison

    page = (Path(__file__).parent.parent / "docs" / "training.md").read_text()
    for name, type_name, acs, macs, flops in snn_comparison():
        assert f"| `{name}` | {type_name} | {acs:,.0f} | {macs:,.0f} | {flops:,.0f} |" in page


def test_readme_training_example_prints_what_it_shows(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Training energy", 1)[1]
    code, shown = re.findall(r"```(?:python)?\n(.*?)```", section, re.S)[:2]
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == shown


def test_profiler_training_step_leaves_gradients_and_parameters_as_without_it():
    import syops

    plain, counted = _snn(5), _snn(5)
    x = _binary_input(6)
    opt_a = torch.optim.Adam(plain.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(counted.parameters(), lr=1e-2)
    for _ in range(2):
        _step(plain, x, opt_a)
    with syops.Profiler(counted, time_layout="TB", backward=True, optimizer=opt_b) as prof:
        for _ in range(2):
            _step(counted, x, opt_b)
    for a, b in zip(plain.parameters(), counted.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad) and torch.equal(a, b)
    assert prof.report().counting["training"]["steps"] == 2
    _no_hooks_left(counted, opt_b)


def test_profiler_training_detaches_on_exception():
    import syops

    net = _snn()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ZeroDivisionError), syops.Profiler(net, backward=True, optimizer=opt):
        net(_binary_input()).sum().backward()
        1 / 0  # noqa: B018
    _no_hooks_left(net, opt)


def test_every_export_of_a_training_report_renders():
    from rich.console import Console

    net, x = _snn(), _binary_input()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    report = _profiled_step(net, x, opt)
    assert "Conv2d" in report.to_html() and "Conv2d" in report.to_markdown() and report.to_latex()
    Console(file=__import__("io").StringIO()).print(report)
    assert report.neurobench()["synaptic_operations"]


def test_bench_tscaling_measures_the_cpu_peak_of_the_step():
    """bench/training_tscaling.py's CPU peak: the step leaves the gradients (one word per parameter) held,
    the peak is at least that, and the RSS growth is measured (docs/training.md's T table)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parent.parent
    done = subprocess.run(
        [sys.executable, "bench/training_tscaling.py", "--peak-on-cpu", "1", "--size", "48"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
    )
    peak = json.loads(done.stdout.strip().splitlines()[-1])
    gradients = 46_758_048  # spiking_resnet18's 11,689,512 parameters, fp32
    assert peak["held_after"] >= gradients
    assert peak["peak_allocated"] >= peak["held_after"]
    assert peak["rss_growth"] > 0
