"""The docs' comparison of syops with torch's FlopCounterMode on one training step (docs/training.md),
measured here; tests/test_training.py checks the page still shows these numbers."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _flop_backward_per_module(net: nn.Module, step) -> dict[str, float]:
    """FlopCounterMode's backward FLOPs per top-level module: the step's FLOPs minus its forward's."""
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        step(forward_only=True)
    with FlopCounterMode(display=False) as both:
        step(forward_only=False)
    out = {}
    for name, _ in net.named_children():
        key = f"{type(net).__name__}.{name}"
        total = sum(both.get_flop_counts().get(key, {}).values())
        fwd = sum(forward.get_flop_counts().get(key, {}).values())
        out[name] = total - fwd
    return out


def snn_comparison() -> list[tuple[str, str, float, float, float]]:
    """(layer, type, syops backward ACs, syops backward MACs, FlopCounterMode backward MACs), per sample,
    for one SGD step of the conv → IF → Linear net on binary events (T = 4, B = 3)."""
    from spikingjelly.activation_based import functional
    from training_models import binary_batches, snn

    import syops

    ((x, target),) = binary_batches()
    samples = x.shape[1]
    rows = []
    net = snn()

    def step(forward_only: bool) -> None:
        functional.reset_net(net)
        out = net(x).mean(0)
        if not forward_only:
            nn.functional.cross_entropy(out, target).backward()

    flops = _flop_backward_per_module(net, step)
    net = snn()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with syops.Profiler(net, time_layout="TB", backward=True, optimizer=opt) as prof:
        opt.zero_grad()
        nn.functional.cross_entropy(net(x).mean(0), target).backward()
        opt.step()
    report = prof.report()
    for layer in report.layers:
        b = layer.phases["backward"]
        rows.append((layer.name, layer.type, b["acs"], b["macs"], flops.get(layer.name, 0.0) / 2 / samples))
    return rows


# -- spikingjelly's NeuroMC estimator ------------------------------------------------------------------


def _neuromc_snn():
    """The FlopCounterMode step's net with ``detach_reset=True``: the one SNN step NeuroMC runs (below)."""
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode(detach_reset=True), layer.Flatten(), layer.Linear(144, 5)
    )
    functional.set_step_mode(net, "m")
    return net


def _mse_on_rates(out, target):
    return nn.functional.mse_loss(out.mean(0), nn.functional.one_hot(target, 5).float())


_OPTIMIZERS = {
    "SGD": lambda params: torch.optim.SGD(params, lr=0.1),
    "SGD + momentum, later step": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "Adam": lambda params: torch.optim.Adam(params, lr=1e-3),
}


def neuromc_error() -> str:
    """NeuroMC's error on the FlopCounterMode step itself (reset not detached, cross-entropy)."""
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.op_counter.neuromc import estimate_neuromc_runtime_energy
    from training_models import binary_batches, snn

    ((x, target),) = binary_batches()
    net = snn()
    functional.reset_net(net)
    try:
        estimate_neuromc_runtime_energy(
            net, x, target=target, loss_fn=lambda out, t: nn.functional.cross_entropy(out.mean(0), t)
        )
    except ValueError as error:
        return str(error)
    raise AssertionError("NeuroMC ran the step")


def neuromc_comparison() -> dict:
    """syops beside NeuroMC on one step of the conv → IF(detach_reset) → Linear net, binary events, T = 4,
    B = 3, MSE on the rates. All per sample (NeuroMC counts the batch: divided by B). Returns
    ``{"layers": [(layer, type, phase, syops ACs, syops MACs, NeuroMC MACs, NeuroMC add, mul, other)],
    "trace_macs": NeuroMC's extra aten.mm fragments' MACs, "updates": {optimizer: (syops ACs, syops MACs,
    NeuroMC add, mul, sqrt)}, "energy_pj": NeuroMC's pJ per stage}``."""
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.op_counter.neuromc import estimate_neuromc_runtime_energy
    from training_models import binary_batches

    import syops

    ((x, target),) = binary_batches()
    samples = x.shape[1]

    def neuromc(optimizer_name: str, primed: bool = False):
        net = _neuromc_snn()
        opt = _OPTIMIZERS[optimizer_name](net.parameters())
        if primed:  # one real step first: the momentum buffer exists, as on every step after the first
            _mse_on_rates(net(x), target).backward()
            opt.step()
            functional.reset_net(net)
        report = estimate_neuromc_runtime_energy(net, x, target=target, loss_fn=_mse_on_rates, optimizer=opt)
        functional.reset_net(net)
        return report

    def counted(optimizer_name: str, primed: bool = False):
        net = _neuromc_snn()
        opt = _OPTIMIZERS[optimizer_name](net.parameters())
        if primed:
            _mse_on_rates(net(x), target).backward()
            opt.step()
            opt.zero_grad()
            functional.reset_net(net)
        with syops.Profiler(net, time_layout="TB", backward=True, optimizer=opt) as prof:
            opt.zero_grad()
            _mse_on_rates(net(x), target).backward()
            opt.step()
        functional.reset_net(net)
        return prof.report()

    report, theirs = counted("SGD"), neuromc("SGD")
    # NeuroMC's fragments name no module; this net has one layer of each kind, so the op name's prefix
    # (conv., soma., linear.) is the layer.
    prefix = {"Conv2d": "conv.", "IFNode": "soma.", "Linear": "linear."}
    by_op = theirs.primitive_counts["by_op"]
    layers = []
    for layer in report.layers:
        for phase in ("forward", "backward"):
            ours = layer.to_dict() if phase == "forward" else layer.phases["backward"]
            fragments = [
                m
                for m in theirs.mapping_summary
                if m["source"] == "module" and m["phase"] == phase and m["op_name"].startswith(prefix[layer.type])
            ]
            names = {m["op_name"] for m in fragments}
            prim = {k: sum(by_op[name][k] for name in names) / samples for k in ("add", "mul", "mux", "comp")}
            layers.append(
                (
                    layer.name,
                    layer.type,
                    phase,
                    ours["acs"],
                    ours["macs"],
                    sum(m["mac_count"] for m in fragments) / samples,
                    prim["add"],
                    prim["mul"],
                    prim["mux"] + prim["comp"],
                )
            )
    trace = [
        (m["core_type"], m["loop_dims"], m["mac_count"] / samples)
        for m in theirs.mapping_summary
        if m["source"] != "module" and m["phase"] != "optimizer"
    ]
    updates = {}
    for name in _OPTIMIZERS:
        primed = "later" in name
        ours = counted(name, primed).phases["update"]
        sgd = neuromc(name, primed).primitive_counts["by_op"]
        step = sgd.get("sgd") or sgd.get("adam")
        updates[name] = (ours["acs"], ours["macs"], *(step[k] / samples for k in ("add", "mul", "sqrt")))
    return {
        "layers": layers,
        "trace_macs": trace,
        "updates": updates,
        "energy_pj": {stage: pj / samples for stage, pj in theirs.energy_by_stage.items()},
        "energy_by_op_pj": {op: pj / samples for op, pj in theirs.energy_by_op.items()},
        "params": sum(p.numel() for p in _neuromc_snn().parameters()),
    }


def neuromc_dense_double_count() -> tuple[float, float]:
    """NeuroMC's backward MACs on ``Linear(20, 10) → Linear(10, 5)``, dense input, one sample:
    (the module fragments', the extra aten.mm trace fragments')."""
    from spikingjelly.activation_based.op_counter.neuromc import estimate_neuromc_runtime_energy

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 10), nn.Linear(10, 5))
    report = estimate_neuromc_runtime_energy(
        net, torch.randn(1, 20), target=torch.randn(1, 5), loss_fn=nn.functional.mse_loss
    )
    backward = [m for m in report.mapping_summary if m["phase"] == "backward"]
    return (
        sum(m["mac_count"] for m in backward if m["source"] == "module"),
        sum(m["mac_count"] for m in backward if m["source"] != "module"),
    )


if __name__ == "__main__":
    import pprint

    for row in snn_comparison():
        print(row)
    print(neuromc_error())
    pprint.pprint(neuromc_comparison(), width=120)
    print(neuromc_dense_double_count())
