"""What a kept session costs: 10 batches inside one ``syops.Profiler`` against the same 10 plain forward
passes, in one process, interleaved rounds, medians, per thread count.

The Profiler's time includes everything a user pays: entering the block (the tree walk, the rules, the
hooks), the 10 counted calls and ``prof.report()`` (collect and pricing). The plain loop is the same user
code (a reset per batch for the spiking net) without it. It also times one ``syops.profile`` of one batch
against one plain forward, the cost when nothing is kept.

    python bench/bench_session.py                 # CPU, 1 and 2 threads, writes its section of docs/benchmarks.md
    python bench/bench_session.py --rounds 3 --output -   # print only
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import syops
from syops import frameworks, zoo

BATCHES = 10
CASES = (
    ("spiking_resnet18, T=4, batch 2, 3×64×64", "spiking_resnet18", (3, 64, 64), 2),
    ("resnet18 (dense), batch 2, 3×160×160", "resnet18", (3, 160, 160), 2),
)
BEGIN, END = "<!-- bench_session: begin -->", "<!-- bench_session: end -->"


def prepare(
    name: str, shape: tuple[int, ...], batch: int
) -> tuple[nn.Module, list[torch.Tensor], str | None, int | None]:
    entry = zoo.get(name)
    model = entry.make(entry.resolve_options({})).eval()
    layout, steps = entry.layout_for(entry.resolve_options({})), entry.timesteps
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(BATCHES):
        frame = torch.randn(batch, *shape, generator=g)
        data.append(frame.expand(steps, *frame.shape).contiguous() if steps else frame)
    return model, data, layout, steps


def loops(model: nn.Module, data: list[torch.Tensor], layout: str | None, steps: int | None) -> dict[str, Callable]:
    adapters = frameworks.adapters_for(model)

    def user_loop() -> None:
        with torch.no_grad():
            for x in data:
                frameworks.reset_states(model, adapters)  # the user's own reset per batch
                model(x)

    def in_profiler() -> None:
        with syops.Profiler(model, timesteps=steps, time_layout=layout) as prof:
            user_loop()
        prof.report()

    def one_plain() -> None:
        with torch.no_grad():
            frameworks.reset_states(model, adapters)
            model(data[0])

    def one_profile() -> None:
        syops.profile(model, inputs=data[0], time_layout=layout)

    return {"plain loop": user_loop, "Profiler": in_profiler, "plain forward": one_plain, "syops.profile": one_profile}


def timed(calls: dict[str, Callable], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up
    for _ in range(rounds):
        for name, call in calls.items():  # interleaved: a drift in machine load hits every method
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(rounds: int, threads: list[int]) -> list[str]:
    lines = [
        BEGIN,
        "## A kept session: `syops.Profiler` over 10 batches",
        "",
        f"`python bench/bench_session.py` on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{rounds} interleaved rounds, medians. The Profiler column is entry + {BATCHES} counted calls + `report()`; "
        f"the ratio is against the same {BATCHES} plain forward passes (the user's loop, a reset per batch) in the "
        "same run. The last columns are one `syops.profile` of one batch against one plain forward (nothing kept).",
        "",
        "| model | threads | plain loop | Profiler | ratio | plain forward | syops.profile | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, name, shape, batch in CASES:
        model, data, layout, steps = prepare(name, shape, batch)
        for n in threads:
            torch.set_num_threads(n)
            t = timed(loops(model, data, layout, steps), rounds)
            lines.append(
                f"| {label} | {n} | {t['plain loop'] * 1e3:.0f} ms | {t['Profiler'] * 1e3:.0f} ms | "
                f"{t['Profiler'] / t['plain loop']:.3f}× | {t['plain forward'] * 1e3:.1f} ms | "
                f"{t['syops.profile'] * 1e3:.1f} ms | {t['syops.profile'] / t['plain forward']:.3f}× |"
            )
            print(lines[-1], file=sys.stderr)
    lines += ["", "Target: ≤ 1.15× for the kept session on both models (goal 1.10×).", END]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--output", default="docs/benchmarks.md", help="the page whose section is replaced, or -")
    args = parser.parse_args()
    lines = measure(args.rounds, [int(t) for t in args.threads.split(",")])
    text = "\n".join(lines) + "\n"
    if args.output == "-":
        print(text)
        return
    page = Path(args.output)
    current = page.read_text() if page.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + text
    page.write_text(current)


if __name__ == "__main__":
    main()
