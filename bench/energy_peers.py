"""syops' energy next to spikingjelly 2.0's two memory-aware estimators, measured in one run.

Three models, randomly initialised from seed 0 and run on seeded inputs (nothing is downloaded): a small
Conv→IF→Linear→LIF net on binary spike input, spikingjelly's ``spiking_resnet18`` (IF, multi-step) and
``sew_resnet18`` (ADD connections) as ``syops.zoo`` builds them (the models ``make demo`` profiles), at
T=4, batch 1, 3×224×224. Each is profiled by ``syops.profile`` (memory models sram-45nm,
sram-45nm-noreuse and none; for sew_resnet18 also ``spike_mode="binary"``, spikingjelly's convention),
``spikingjelly...op_counter.estimate_simple_energy`` and ``estimate_lemaire_energy`` (with
``LemaireEnergyConfig(strict=False)``: its strict default refuses any model holding a BatchNorm, a pool
or a Flatten, whose energy it then leaves out). One more pass per model runs spikingjelly's ``ACCounter``
alone (its documented ``DispatchCounterMode`` usage) with forward hooks on the convolutions, for the
explanation tables: simple ACs by aten op, the bookkeeping ACs, and fan-out per convolution.

Every figure is per sample (one inference over all T steps). Energies in µJ; "words" are 32-bit.

    python bench/energy_peers.py                       # prints the tables (about 10 minutes on 2 cores)
    python bench/energy_peers.py --output FILE.md      # ...and writes them
    python bench/energy_peers.py --models small        # the small net only (seconds)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import syops
from syops import zoo
from syops.memory import MEMORY_PRESETS

T = 4
WORD_BYTES = 4  # every tool here moves 32-bit words (fp32 tensors; Lemaire's fixed 4-byte access)
SYOPS_MEMORIES = ("sram-45nm", "sram-45nm-noreuse", "none")


# -- the models and their inputs ----------------------------------------------------------------------


def small_net() -> nn.Module:
    """Conv(2→8, 3×3, stride 2, padding 1) → IF → Flatten → Linear(512→10) → LIF, multi-step, seed 0.
    Thresholds are lowered (IF 0.3, LIF 0.1) so that both neuron layers fire on this small input."""
    from spikingjelly.activation_based import functional, layer, neuron

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(
            layer.Conv2d(2, 8, 3, stride=2, padding=1),
            neuron.IFNode(v_threshold=0.3),
            layer.Flatten(),
            layer.Linear(8 * 8 * 8, 10),
            neuron.LIFNode(v_threshold=0.1),
        )
    functional.set_step_mode(net, "m")
    return net.eval()


def small_input() -> Tensor:
    """Binary spikes [T, 1, 2, 16, 16], each position firing with probability 0.3 (seed 0)."""
    g = torch.Generator().manual_seed(0)
    return (torch.rand(T, 1, 2, 16, 16, generator=g) < 0.3).float()


def image_input(res: int) -> Tensor:
    """One seeded standard-normal image repeated over T (direct encoding): [T, 1, 3, res, res]."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, res, res, generator=g).repeat(T, 1, 1, 1, 1)


@dataclass
class Case:
    name: str
    label: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], Tensor]
    binary_row: bool = False  # also profile with syops' spike_mode="binary"


def cases(res: int) -> dict[str, Case]:
    return {
        "small": Case("small", "Conv→IF→Linear→LIF, 2×16×16 spikes (p=0.3)", small_net, small_input),
        "spiking_resnet18": Case(
            "spiking_resnet18",
            f"spiking_resnet18 (IF), 3×{res}×{res}",
            lambda: zoo.build("spiking_resnet18"),
            lambda: image_input(res),
        ),
        "sew_resnet18": Case(
            "sew_resnet18",
            f"sew_resnet18 (ADD, IF), 3×{res}×{res}",
            lambda: zoo.build("sew_resnet18", {"cnf": "ADD"}),
            lambda: image_input(res),
            binary_row=True,
        ),
    }


# -- one row of figures per tool ----------------------------------------------------------------------


@dataclass
class Figures:
    tool: str
    compute_uj: float
    memory_uj: float
    acs: float
    macs: float
    synops: float
    words: float  # memory accesses of one 32-bit word
    ann_uj: float | None = None  # syops' one-pass ANN baseline with the same memory model
    accesses: dict[str, float] = field(default_factory=dict)  # by kind, in words
    seconds: float = 0.0

    @property
    def total_uj(self) -> float:
        return self.compute_uj + self.memory_uj


def reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional

    functional.reset_net(model)


def syops_figures(model: nn.Module, x: Tensor, memory: str, spike_mode: str = "integer") -> tuple[Figures, Any]:
    reset(model)
    start = time.perf_counter()
    report = syops.profile(model, inputs=x, timesteps=T, time_layout="TB", memory=memory, spike_mode=spike_mode)
    seconds = time.perf_counter() - start
    totals = report.totals
    accesses = dict(totals["memory"] or {})
    bits = report.memory_model.bits if report.memory_model else 32  # the profile's settled word width
    tool = f"syops {memory}" + (" binary" if spike_mode == "binary" else "")
    figures = Figures(
        tool,
        totals["compute_energy_mj"] * 1e3,
        totals["memory_energy_mj"] * 1e3,
        totals["acs"],
        totals["macs"],
        totals["synops"],
        sum(accesses.values()) * bits / 32,
        ann_uj=totals["ann_energy_mj"] * 1e3,
        accesses=accesses,
        seconds=seconds,
    )
    return figures, report


def simple_figures(model: nn.Module, x: Tensor) -> tuple[Figures, Any]:
    from spikingjelly.activation_based.op_counter import estimate_simple_energy

    reset(model)
    start = time.perf_counter()
    report = estimate_simple_energy(model, x)
    seconds = time.perf_counter() - start
    c = report.counts
    accesses = {
        "weight_reads": c["weight_read_bytes"] / WORD_BYTES,
        "bias_reads": c["bias_read_bytes"] / WORD_BYTES,
        "state_reads": c["neuron_state_read_bytes"] / WORD_BYTES,
        "state_writes": c["neuron_state_write_bytes"] / WORD_BYTES,
    }
    figures = Figures(
        "sj simple",
        report.energy_compute_pj * 1e-6,
        report.energy_memory_pj * 1e-6,
        c["ac"],
        c["mac"],
        c["synop"],
        c["memory_access_bytes"] / WORD_BYTES,
        accesses=accesses,
        seconds=seconds,
    )
    return figures, report


def lemaire_figures(model: nn.Module, x: Tensor) -> tuple[Figures, Any]:
    from spikingjelly.activation_based.op_counter import LemaireEnergyConfig, estimate_lemaire_energy

    reset(model)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the omitted modules; kept in report.warnings
        report = estimate_lemaire_energy(model, x, config=LemaireEnergyConfig(strict=False))
    seconds = time.perf_counter() - start
    c, b = report.counts, report.breakdown_pj
    accesses = {
        "params_reads": c["read_params_bytes"] / WORD_BYTES,
        "input_reads": c["read_in_bytes"] / WORD_BYTES,
        "state_reads": c["read_potential_bytes"] / WORD_BYTES,
        "state_writes": c["write_potential_bytes"] / WORD_BYTES,
        "output_writes": c["write_out_bytes"] / WORD_BYTES,
    }
    figures = Figures(
        "sj lemaire",
        (b["ops_pj"] + b["addressing_pj"]) * 1e-6,
        b["memory_pj"] * 1e-6,
        c["ac"],
        c["mac"],
        c["synop"],
        sum(accesses.values()),
        accesses=accesses,
        seconds=seconds,
    )
    return figures, report


# -- the explanation pass: spikingjelly's ACCounter alone, with hooks on the convolutions ----------------


@dataclass
class ConvCall:
    name: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    out_per_group: int  # output channels per group
    events: int  # non-zero elements of a binary input (spikingjelly's events), 0 for a non-binary one
    binary: bool
    occupancy: int  # elements of simple's occupancy map: N · groups · output positions


def _is_binary(x: Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def explain_pass(model: nn.Module, x: Tensor) -> tuple[dict[str, int], dict[str, int], list[ConvCall]]:
    """spikingjelly's ACCounter and MACCounter alone (ACs and MACs by aten op, without the memory
    counter's side computations), and every convolution call's geometry and events, from forward hooks
    written here."""
    from spikingjelly.activation_based.op_counter import ACCounter, DispatchCounterMode, MACCounter

    calls: list[ConvCall] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        inp = args[0]
        binary = _is_binary(inp)
        groups = module.groups
        occupancy = output.numel() // module.out_channels * groups
        calls.append(
            ConvCall(
                names[module],
                tuple(module.kernel_size),
                tuple(module.stride),
                module.out_channels // groups,
                int(inp.count_nonzero()) if binary else 0,
                binary,
                occupancy,
            )
        )

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    acs, macs = ACCounter(), MACCounter()
    reset(model)
    try:
        with DispatchCounterMode([acs, macs]), torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()

    def by_op(counter: Any) -> dict[str, int]:
        return {str(op): int(v) for op, v in counter.get_counts().get("Global", {}).items()}

    return by_op(acs), by_op(macs), calls


def bookkeeping_acs(calls: list[ConvCall]) -> int:
    """What simple's memory counter adds to its ACs: its occupancy map's ``sum()`` runs under the
    dispatch mode and is counted as an ``aten.sum`` reduction, numel − 1 ACs, once per conv call on a
    binary input."""
    return sum(c.occupancy - 1 for c in calls if c.binary)


def fanout_classes(calls: list[ConvCall], report: Any) -> list[dict[str, Any]]:
    """Per kind of convolution (kernel, stride) on binary input: events, syops' exact synops, Lemaire's
    ⌈k/s⌉²·C_out synops and its k²·C_out weight and potential accesses."""
    exact = {layer.name: layer.synops for layer in report.layers}
    classes: dict[tuple, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    for c in calls:
        if not c.binary:
            continue
        key = (c.kernel, c.stride)
        row = classes[key]
        row["layers"] = row.get("layers", set()) | {c.name}
        row["events"] += c.events
        row["ceil"] += (
            c.events * c.out_per_group * math.prod(-(-k // s) for k, s in zip(c.kernel, c.stride, strict=True))
        )
        row["k2"] += c.events * c.out_per_group * math.prod(c.kernel)
    out = []
    for (kernel, stride), row in sorted(classes.items()):
        synops = sum(exact.get(name, 0.0) for name in row["layers"])
        out.append(
            {
                "conv": f"{'×'.join(map(str, kernel))} stride {stride[0]}",
                "layers": len(row["layers"]),
                "events": row["events"],
                "exact": synops,
                "ceil": row["ceil"],
                "k2": row["k2"],
            }
        )
    return out


# -- the tables ---------------------------------------------------------------------------------------


def _n(v: float) -> str:
    return f"{v:,.0f}"


def _e(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def main_table(rows: dict[str, list[Figures]], labels: dict[str, str]) -> str:
    lines = [
        "| model | tool | compute µJ | memory µJ | total µJ | ACs | MACs | synops | memory accesses (words) "
        "| memory bytes | ANN µJ (one pass) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in rows.items():
        for f in figures:
            lines.append(
                f"| {labels[name]} | {f.tool} | {_e(f.compute_uj)} | {_e(f.memory_uj)} | {_e(f.total_uj)} "
                f"| {_n(f.acs)} | {_n(f.macs)} | {_n(f.synops)} | {_n(f.words)} | {_n(f.words * WORD_BYTES)} "
                f"| {_e(f.ann_uj)} |"
            )
    return "\n".join(lines)


def access_table(figures: list[Figures]) -> str:
    kinds = [
        "weight_reads",
        "bias_reads",
        "params_reads",
        "input_reads",
        "state_reads",
        "state_writes",
        "output_writes",
    ]
    lines = ["| tool | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    for f in figures:
        cells = [_n(f.accesses[k]) if k in f.accesses else "–" for k in kinds]
        lines.append(f"| {f.tool} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fanout_table(classes: list[dict[str, Any]]) -> str:
    lines = [
        "| convolution (binary input) | layers | events | exact synops (syops, sj simple) | ⌈k/s⌉²·C_out (sj lemaire) "
        "| ratio | k²·C_out (lemaire's weight / potential accesses) | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in classes:
        ratio = c["ceil"] / c["exact"] if c["exact"] else float("nan")
        ratio_k2 = c["k2"] / c["exact"] if c["exact"] else float("nan")
        lines.append(
            f"| {c['conv']} | {c['layers']} | {_n(c['events'])} | {_n(c['exact'])} | {_n(c['ceil'])} | {ratio:.3f} "
            f"| {_n(c['k2'])} | {ratio_k2:.3f} |"
        )
    return "\n".join(lines)


def ops_table(ac_by_op: dict[str, int], mac_by_op: dict[str, int], bookkeeping: int, simple: Figures) -> str:
    lines = ["| aten op (sj ACCounter, MACCounter alone) | ACs | MACs |", "|---|---:|---:|"]
    ops = sorted(set(ac_by_op) | set(mac_by_op), key=lambda op: -(ac_by_op.get(op, 0) + mac_by_op.get(op, 0)))
    for op in ops:
        lines.append(f"| `{op}` | {_n(ac_by_op.get(op, 0))} | {_n(mac_by_op.get(op, 0))} |")
    alone = sum(ac_by_op.values())
    lines.append(f"| **counters alone** | {_n(alone)} | {_n(sum(mac_by_op.values()))} |")
    lines.append(f"| bookkeeping: Σ (occupancy numel − 1) over conv calls on spikes | {_n(bookkeeping)} | |")
    same = alone + bookkeeping == simple.acs
    lines.append(f"| **sj simple** (ACs = alone + bookkeeping: {same}) | {_n(simple.acs)} | {_n(simple.macs)} |")
    return "\n".join(lines)


def syops_by_type(report: Any) -> str:
    """syops' counts and memory accesses summed by layer type."""
    kinds = ("weight_reads", "bias_reads", "input_reads", "state_reads", "state_writes", "output_writes")
    rows: dict[str, dict[str, float]] = {}
    for layer in report.layers:
        row = rows.setdefault(layer.type, defaultdict(float))
        row["layers"] += 1
        for key in ("acs", "macs", "synops", "neuron_updates"):
            row[key] += getattr(layer, key)
        for kind in kinds:
            row[kind] += (layer.memory or {}).get(kind, 0.0)
        row["memory µJ"] += layer.memory_energy_mj * 1e3
    cols = ["layers", "acs", "macs", "synops", "neuron_updates", *kinds, "memory µJ"]
    lines = ["| type | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in rows.items():
        cells = [_e(row[c]) if c == "memory µJ" else _n(row[c]) for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def price_table() -> str:
    """pJ of one 32-bit word by the size of the memory that holds it: syops' sram-45nm, spikingjelly's
    Lemaire curve and its simple estimator."""
    from spikingjelly.activation_based.op_counter import LemaireEnergyCostConfig, SimpleEnergyCostConfig

    syops_model = MEMORY_PRESETS["sram-45nm"]
    lemaire = LemaireEnergyCostConfig()
    simple = SimpleEnergyCostConfig()
    lines = [
        "| memory size | syops pJ/word | sj lemaire pJ/word | ratio | sj simple pJ/word |",
        "|---|---:|---:|---:|---:|",
    ]
    for size in (608, 4000, 8192, 16384, 32768, 262144, 1048576, 4194304):
        s = syops_model.access_pj(size / WORD_BYTES)
        m = lemaire.memory_cost_pj(size) * WORD_BYTES
        lines.append(
            f"| {size:,} B | {s:.4g} | {m:.4g} | {m / s:.3f} | {simple.e_memory_pj_per_byte * WORD_BYTES:.4g} |"
        )
    return "\n".join(lines)


def run(names: list[str], res: int, log: Callable[[str], None]) -> str:
    all_cases = cases(res)
    rows: dict[str, list[Figures]] = {}
    labels = {name: all_cases[name].label for name in names}
    details: list[str] = []
    for name in names:
        case = all_cases[name]
        model, x = case.build(), case.inputs()
        figures: list[Figures] = []
        report = None
        for memory in SYOPS_MEMORIES:
            f, r = syops_figures(model, x, memory)
            report = report or r
            figures.append(f)
            log(f"{name}: {f.tool} {f.seconds:.1f} s")
        binary_report = None
        if case.binary_row:
            f, binary_report = syops_figures(model, x, "sram-45nm", spike_mode="binary")
            figures.append(f)
            log(f"{name}: {f.tool} {f.seconds:.1f} s")
        simple, simple_report = simple_figures(model, x)
        log(f"{name}: sj simple {simple.seconds:.1f} s")
        lemaire, lemaire_report = lemaire_figures(model, x)
        log(f"{name}: sj lemaire {lemaire.seconds:.1f} s")
        figures += [simple, lemaire]
        rows[name] = figures
        ac_by_op, mac_by_op, calls = explain_pass(model, x)
        b, lc = lemaire_report.breakdown_pj, lemaire_report.counts
        log(f"{name}: explanation pass done")
        rates = [
            f"{layer.name or '(model)'} {layer.output_spike_rate:.3f}"
            for layer in report.layers
            if layer.output_spike_rate is not None
        ]
        details += [
            f"### {case.label}",
            "",
            f"Output spike rates (syops): {', '.join(rates)}.",
            "",
            "Memory accesses by kind, in 32-bit words (sj simple's and lemaire's bytes ÷ 4; lemaire reads a "
            "layer's weights and bias as one `params` figure):",
            "",
            access_table(figures),
            "",
            "Fan-out of the convolutions on binary input:",
            "",
            fanout_table(fanout_classes(calls, report)),
            "",
            "syops (sram-45nm) by layer type:",
            "",
            syops_by_type(report),
            "",
            *(
                ["syops (sram-45nm, spike_mode binary) by layer type:", "", syops_by_type(binary_report), ""]
                if binary_report is not None
                else []
            ),
            "sj simple's ACs and MACs by origin:",
            "",
            ops_table(ac_by_op, mac_by_op, bookkeeping_acs(calls), simple),
            "",
            f"sj lemaire: ops {_e(b['ops_pj'] * 1e-6)} µJ + addressing {_e(b['addressing_pj'] * 1e-6)} µJ "
            f"(acc_addr {_n(lc['acc_addr'])}, mac_addr {_n(lc['mac_addr'])}); memory in/out "
            f"{_e(b['inout_pj'] * 1e-6)} µJ, params {_e(b['params_pj'] * 1e-6)} µJ, potentials "
            f"{_e(b['potential_pj'] * 1e-6)} µJ. Omitted by it: {' '.join(lemaire_report.warnings) or 'nothing'}",
            "",
        ]
        del simple_report
    header = [
        f"Measured by `python bench/energy_peers.py` (syops {syops.__version__}, spikingjelly "
        f"{_spikingjelly_version()}, torch {torch.__version__}); T={T}, batch 1, per sample, random init "
        "(seed 0), CPU.",
        "",
        main_table(rows, labels),
        "",
        "Price of one 32-bit access by memory size:",
        "",
        price_table(),
        "",
    ]
    return "\n".join(header + details)


def _spikingjelly_version() -> str:
    from importlib.metadata import version

    return version("spikingjelly")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["small", "spiking_resnet18", "sew_resnet18"])
    parser.add_argument("--res", type=int, default=224, help="image side of the ResNets (default 224)")
    parser.add_argument("--output", type=Path, help="also write the markdown here")
    args = parser.parse_args(argv)
    unknown = [m for m in args.models if m not in cases(args.res)]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(cases(args.res))}")
    text = run(args.models, args.res, lambda msg: print(msg, file=sys.stderr, flush=True))
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
