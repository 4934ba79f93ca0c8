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


if __name__ == "__main__":
    for row in snn_comparison():
        print(row)
