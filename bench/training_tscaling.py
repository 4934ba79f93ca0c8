"""How the bytes autograd saves for backward grow with T: spiking_resnet18 (IF, multi-step), one SGD step
on a batch of one sample, input 3×H×W (default 64×64 on a CPU). For each T: syops' saved_for_backward_bytes
(each save counted) beside the distinct storage those saves hold at the end of the forward pass (each
tensor once, measured here with torch's saved-tensor hooks) and the step's peak memory: on a GPU
``torch.cuda.max_memory_allocated``; on a CPU, measured in a fresh process per T (``peak_on_cpu``) on the
plain step (no syops), after building the net, making the input and one forward without grad:

- "peak allocated during the step": torch's profiler with ``profile_memory=True`` records every CPU
  allocation and free the step makes (its ``[memory]`` events, bytes signed); summed in time order, their
  maximum is the most CPU memory the step held above what was allocated before it (parameters and input
  excluded; the gradients, which outlive the step, the tensors saved for backward and every temporary
  included). SGD without momentum keeps no optimizer state.
- "peak RSS growth": the process's peak resident set during the step less its resident set at the start,
  as the operating system sees it (allocator caching, freed pages not yet returned, and the profiler's
  own buffers included): Linux's peak (``VmHWM``) is reset to the current RSS by writing 5 to
  ``/proc/self/clear_refs`` just before the step and read from ``/proc/self/status`` after it.

    PYTHONPATH=. python bench/training_tscaling.py [--size 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

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


def _net(device):
    net = spiking_resnet.spiking_resnet18(spiking_neuron=neuron.IFNode, surrogate_function=None)
    functional.set_step_mode(net, "m")
    return net.to(device)


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as status:
        return int(re.search(rf"^{key}:\s+(\d+) kB", status.read(), re.M).group(1))


def peak_on_cpu(t: int, size: int) -> dict[str, int]:
    """The plain step's peak memory on a CPU (see the module's docstring); run in a fresh process."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    net = _net(torch.device("cpu"))
    x = torch.randn(1, 3, size, size).unsqueeze(0).repeat(t, 1, 1, 1, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    with torch.no_grad():
        net(x)
    functional.reset_net(net)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # the peak resident set (VmHWM) := the resident set now
    rss_before = _status_kib("VmRSS")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        opt.zero_grad()
        net(x).mean(0).square().sum().backward()
        opt.step()
    rss_peak = _status_kib("VmHWM")
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()
    )
    held = peak = 0
    for event in events:
        held += event.nbytes()
        peak = max(peak, held)
    return {"peak_allocated": peak, "held_after": held, "rss_growth": (rss_peak - rss_before) * 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak-on-cpu", type=int, metavar="T", help="print one T's CPU peak as JSON")
    args = parser.parse_args()
    if args.peak_on_cpu is not None:
        print(json.dumps(peak_on_cpu(args.peak_on_cpu, args.size)))
        return
    device = torch.device(args.device)
    head = "| T | saved_for_backward_bytes | of which parameters | distinct saved storage |"
    if device.type == "cuda":
        print(head + " peak GPU memory |")
        print("|---|---:|---:|---:|---:|")
    else:
        print(head + " peak allocated during the step | of which held after it | peak RSS growth |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for t in (1, 2, 4, 8):
        torch.manual_seed(0)
        net = _net(device)
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
        saved = prof.report().saved_for_backward_bytes
        row = f"| {t} | {saved:,.0f} | {parameters:,} | {distinct:,} |"
        if device.type == "cuda":
            print(f"{row} {torch.cuda.max_memory_allocated(device):,} |")
            continue
        command = [sys.executable, __file__, "--peak-on-cpu", str(t), "--size", str(args.size)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        cpu = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{row} {cpu['peak_allocated']:,} | {cpu['held_after']:,} | {cpu['rss_growth']:,} |")


if __name__ == "__main__":
    main()
