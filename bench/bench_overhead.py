"""How much profiling costs next to the forward pass it profiles.

For each model, one process times (interleaved rounds, medians) a plain inference, ``syops.profile`` on
the same input, spikingjelly's op_counter (ACCounter + MACCounter + SynOpCounter under its
DispatchCounterMode) and ptflops, and reports each as a ratio to the plain inference. Peak memory is
the peak of PyTorch's own allocations during one call, from the profiler's allocation events on CPU and
``torch.cuda.max_memory_allocated`` on a GPU. On a GPU it also counts the synchronising calls one
profiling run makes (``torch.cuda.set_sync_debug_mode``).

    python bench/bench_overhead.py                     # CPU, writes docs/benchmarks.md
    python bench/bench_overhead.py --device cuda --output docs/benchmarks-cuda.md
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import syops
from syops import frameworks, zoo


@dataclass
class Case:
    label: str
    model: str
    input_shape: tuple[int, ...]
    options: dict


CASES = (
    Case("spiking_resnet18, T=4, 3×128×128", "spiking_resnet18", (3, 128, 128), {}),
    Case("sew_resnet18 (ADD), T=4, 3×128×128", "sew_resnet18", (3, 128, 128), {"cnf": "ADD"}),
    Case("resnet18 (dense), 3×224×224", "resnet18", (3, 224, 224), {}),
    Case("snntorch_mlp, T=25, 784-1000-10", "snntorch_mlp", (1, 28, 28), {}),
)


class Inference(nn.Module):
    """One whole inference of a zoo model on a prepared input: what a user times as 'a forward pass'
    (neurons reset first; a single-step model called once per time step)."""

    def __init__(self, model: nn.Module, loop: bool) -> None:
        super().__init__()
        self.model = model
        self.loop = loop
        self.adapters = frameworks.adapters_for(model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frameworks.reset_states(self.model, self.adapters)
        if self.loop:
            out = None
            for step in x:
                out = self.model(step)
            return out
        return self.model(x)


def prepare(case: Case, device: torch.device):
    entry = zoo.get(case.model)
    options = entry.resolve_options(case.options)
    model = entry.make(options).to(device)
    layout = entry.layout_for(options)
    frame = torch.randn(1, *case.input_shape, generator=torch.Generator().manual_seed(0))
    if entry.timesteps:
        if entry.encoding == "poisson":
            frame = torch.rand(1, *case.input_shape, generator=torch.Generator().manual_seed(0))
            x = torch.bernoulli(frame.expand(entry.timesteps, *frame.shape), generator=torch.Generator().manual_seed(1))
        else:
            x = frame.expand(entry.timesteps, *frame.shape).contiguous()  # [T, B, ...], direct encoding
        if layout == "BT":
            x = x.transpose(0, 1).contiguous()
    else:
        x = frame
    return model, layout, x.to(device)


def methods(model: nn.Module, layout: str | None, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    runner = Inference(model, loop=layout == "loop")

    def plain():
        with torch.no_grad():
            return runner(x)

    def profile():
        return syops.profile(model, inputs=x, time_layout=layout)

    def op_counter():
        from spikingjelly.activation_based.op_counter import ACCounter, DispatchCounterMode, MACCounter, SynOpCounter

        counters = [ACCounter(), MACCounter(), SynOpCounter()]
        with torch.no_grad(), DispatchCounterMode(counters):
            runner(x)
        return [c.get_total() for c in counters]

    def ptflops():
        from ptflops import get_model_complexity_info

        return get_model_complexity_info(
            runner,
            tuple(x.shape),
            input_constructor=lambda _: {"x": x},
            as_strings=False,
            print_per_layer_stat=False,
            backend="pytorch",
        )

    return {"plain forward": plain, "syops.profile": profile, "spikingjelly op_counter": op_counter, "ptflops": ptflops}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_methods(calls: dict[str, Callable[[], object]], device: torch.device, rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():  # warm-up: caches, lazy imports, allocator
        call()
    for _ in range(rounds):
        for name, call in calls.items():  # interleaved, so drifts in machine load hit every method
            _sync(device)
            start = time.perf_counter()
            call()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_memory(call: Callable[[], object], device: torch.device) -> int:
    """Peak bytes of PyTorch allocations during ``call`` above what was allocated before it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        call()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    # Every allocation (+bytes) and free (-bytes) of the call, in time order.
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    level = peak = 0
    for event in events:
        level += event.nbytes()
        peak = max(peak, level)
    return peak


def counting_share(call: Callable[[], object], rounds: int) -> float:
    """Median seconds one profile spends inside counting rules and their evaluation (the rest is the
    forward pass itself, hooks, and setting up and restoring the model)."""
    from syops.engine import CountingSession

    original = CountingSession._evaluate
    spent: list[float] = []

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            spent[-1] += time.perf_counter() - start

    CountingSession._evaluate = timed  # type: ignore[method-assign]
    try:
        for _ in range(rounds):
            spent.append(0.0)
            call()
    finally:
        CountingSession._evaluate = original  # type: ignore[method-assign]
    return statistics.median(spent)


def host_syncs(call: Callable[[], object]) -> int:
    """How many synchronising CUDA calls ``call`` makes (sync debug mode warns once per call)."""
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            call()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    return sum("synchroniz" in str(w.message) for w in caught)


def run(device: torch.device, rounds: int) -> str:
    lines = [
        "# Profiling overhead",
        "",
        "Generated by `python bench/bench_overhead.py"
        + (f" --device {device.type}" if device.type != "cpu" else "")
        + f" --rounds {rounds}`: one process, the methods run in interleaved rounds, medians of {rounds}. "
        "Each ratio is the method's time (or peak of PyTorch allocations during the call) divided by a plain "
        "inference of the same model on the same input, in the same run. Models are randomly initialised "
        "zoo models; spiking inputs are one seeded frame repeated over T (Poisson spikes for the snnTorch "
        "MLP).",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + ".",
        "",
        "| model | plain forward | syops.profile | of which counting | spikingjelly op_counter | ptflops "
        "| peak memory, syops / plain |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    sync_lines = []
    results: dict[str, tuple[dict[str, float], float, float]] = {}
    for case in CASES:
        model, layout, x = prepare(case, device)
        calls = methods(model, layout, x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(sys.stderr):
                times = time_methods(calls, device, rounds)
                counting = counting_share(calls["syops.profile"], rounds)
                peak_plain = peak_memory(calls["plain forward"], device)
                peak_syops = peak_memory(calls["syops.profile"], device)
                if device.type == "cuda":
                    sync_lines.append(f"- {case.label}: {host_syncs(calls['syops.profile'])} synchronising call(s)")
        base = times["plain forward"]
        ratio_of = {m: f"{times[m] / base:.2f}× ({times[m] * 1e3:.0f} ms)" for m in times}
        cells = [
            f"{base * 1e3:.1f} ms",
            ratio_of["syops.profile"],
            f"{counting / base:.2f}× ({counting * 1e3:.0f} ms)",
            ratio_of["spikingjelly op_counter"],
            ratio_of["ptflops"],
        ]
        ratio = f"{peak_syops / peak_plain:.3f}× ({peak_syops / 2**20:.1f} / {peak_plain / 2**20:.1f} MiB)"
        lines.append(f"| {case.label} | " + " | ".join(cells) + f" | {ratio} |")
        results[case.label] = (times, peak_syops / peak_plain, counting)
        print(lines[-1], file=sys.stderr)
    if sync_lines:
        lines += ["", "Synchronising CUDA calls during one `syops.profile` run:", "", *sync_lines]
    lines += ["", *_targets(results)]
    return "\n".join(lines) + "\n"


def _targets(results: dict[str, tuple[dict[str, float], float, float]]) -> list[str]:
    """The project's targets against this run's figures, and where the time goes."""
    label = CASES[0].label
    times, memory, counting = results[label]
    ratio = times["syops.profile"] / times["plain forward"]
    faster = all(t["syops.profile"] < t["spikingjelly op_counter"] for t, _, _ in results.values())
    rest = (times["syops.profile"] - times["plain forward"] - counting) / times["plain forward"]
    return [
        "## Targets",
        "",
        f"- {label}: profiling ≤ 1.10× a plain forward — this run: {ratio:.2f}×"
        + (" (met)." if ratio <= 1.10 else " (not met)."),
        f"- Peak memory ≤ 1.1× a plain forward — this run: {memory:.3f}×"
        + (" (met)." if memory <= 1.1 else " (not met)."),
        "- Faster than spikingjelly's op_counter on every model — this run: " + ("yes." if faster else "no."),
        "",
        "## Where the time goes",
        "",
        f"Of the {ratio - 1:.2f}× that profiling adds to {label}, {counting / times['plain forward']:.2f}× is spent "
        f"in the counting rules and {rest:.2f}× elsewhere: the hooks that keep the stack of running modules, "
        "snapshotting and restoring the model, folding the queued results and the one copy back, and building "
        "the report — Python bookkeeping of a few microseconds per module and per counted call. The counting "
        "share is mostly memory traffic: to decide exactly whether every element of a layer input is an integer, "
        "and to sum its events per position for the fan-out, each input is read by four eager kernels per chunk "
        "of 2**16 elements (|x| into a scratch buffer, its column sums, its fractional part, the sum of that); a "
        "neuron's output is read once and the next layer reuses its sums. Dense tensors (a dense ResNet's every "
        "activation, a spiking ResNet's BatchNorm inputs) must be read in full too, since one non-integer "
        "element anywhere decides. A fused single-pass kernel needs a compiler at run time: a numba prototype "
        "of one cut about 3 ms (0.07×) from spiking_resnet18, not enough to reach 1.10×, so syops does not "
        "depend on one. None of it waits for the device: counts stay on it until one copy at the end.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    text = run(torch.device(args.device), args.rounds)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
