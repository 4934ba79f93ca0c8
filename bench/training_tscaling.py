"""How the bytes autograd saves for backward grow with T: spiking_resnet18 (IF, multi-step), one SGD step
on a batch of one sample, input 3×H×W (default 64×64 on a CPU). For each T: syops' saved_for_backward_bytes
(each save counted) beside the distinct storage those saves hold at the end of the forward pass (each
tensor once, measured here with torch's saved-tensor hooks) and, on a GPU, the step's peak allocated memory.

    PYTHONPATH=. python bench/training_tscaling.py [--size 64] [--device cpu]
"""

from __future__ import annotations

import argparse

import torch
from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.model import spiking_resnet

import syops


def distinct_saved_bytes(net, x) -> tuple[int, int]:
    """(distinct storage bytes the saves hold, bytes of the saves that are parameters)."""
    seen: dict[int, int] = {}
    parameters = 0

    def pack(t):
        nonlocal parameters
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        if isinstance(t, torch.nn.Parameter):
            parameters += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = net(x)
    out.mean(0).square().sum().backward()
    functional.reset_net(net)
    return sum(seen.values()), parameters


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print("| T | saved_for_backward_bytes | of which parameters | distinct saved storage | peak GPU memory |")
    print("|---|---:|---:|---:|---:|")
    for t in (1, 2, 4, 8):
        torch.manual_seed(0)
        net = spiking_resnet.spiking_resnet18(spiking_neuron=neuron.IFNode, surrogate_function=None)
        functional.set_step_mode(net, "m")
        net.to(device)
        x = torch.randn(1, 3, args.size, args.size, device=device).unsqueeze(0).repeat(t, 1, 1, 1, 1)
        distinct, parameters = distinct_saved_bytes(net, x)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with syops.Profiler(net, time_layout="TB", backward=True, optimizer=opt) as prof:
            opt.zero_grad()
            net(x).mean(0).square().sum().backward()
            opt.step()
        functional.reset_net(net)
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        saved = prof.report().saved_for_backward_bytes
        shown = "-" if peak is None else f"{peak:,}"
        print(f"| {t} | {saved:,.0f} | {parameters:,} | {distinct:,} | {shown} |")


if __name__ == "__main__":
    main()
