"""``Report.methods()``: a paragraph for a paper's methods section, generated from the report itself, so
that every convention, constant and source behind its numbers is stated where a reader can check it."""

from __future__ import annotations

from typing import Any

from ..memory import DRAM_PJ, SRAM_CURVE
from ..report import Report
from ..safe_text import visible
from ..training.phases import methods_sentence
from ._common import memory_model, per_what, pj, shape_text, word_width_text

# The access prices the memory models use (syops.memory): (KiB, pJ per 64-bit access).
SRAM_POINTS_PJ = tuple((size // 1024, price) for size, price in SRAM_CURVE)

_LAYOUTS = {
    "TB": "as [T, B, ...] tensors",
    "BT": "as [B, T, ...] tensors",
    "loop": "one time step per call, T calls per sample",
}


def methods_paragraph(report: Report) -> str:
    """Every sentence comes from a field of ``report``; nothing is stated that the report does not record."""
    sentences = [
        _scope(report),
        _inputs(report),
        _synapses(report),
        _neurons(report),
        _energy(report),
        _memory(report),
        methods_sentence(report),
    ]
    if report.unsupported:
        sentences.append(
            f"Modules without a counting rule ({', '.join(report.unsupported)}) were counted only through "
            "the torch operations they call."
        )
    # one paragraph of plain text: a newline or an escape sequence in a name is shown, not obeyed
    return visible(" ".join(s for s in sentences if s))


def _scope(report: Report) -> str:
    t = report.timesteps
    steps = f"T = {t} time steps" if t != 1 else "a single time step (T = 1)"
    view = " and divided by T" if report.per_timestep_view else ""
    return (
        f"Operations and energy of {report.model} were counted with syops {report.syops_version} {per_what(report)}: "
        f"one sample is one inference over {steps}, and every figure is averaged over the "
        f"{report.samples} sample{'s' if report.samples != 1 else ''} profiled{view}."
    )


def _inputs(report: Report) -> str:
    given: dict[str, Any] = report.inputs
    if not given:
        return "How the inputs were given is not recorded in this report."
    n, shape = report.samples, shape_text(report.input_shape)
    kind = given.get("kind")
    if kind == "random":
        seed = f" (seed {given['seed']})" if "seed" in given else ""
        plural = "s" if n != 1 else ""
        text = f"The input was {n} seeded random sample{plural} of shape {shape}, drawn {_dist(given)}{seed}"
    elif kind == "dataloader":
        limit = f", its first {given['max_batches']} batches" if given.get("max_batches") else ""
        text = f"The inputs were {n} samples of shape {shape} from a DataLoader{limit}"
    elif kind == "profiler":
        calls = given.get("calls")
        text = (
            f"The inputs were the {n} samples (each of shape {shape}) that the user's own code passed to the model "
            f"in {calls} call{'s' if calls != 1 else ''}, each call counted as it ran (syops.Profiler)"
        )
    elif kind == "input_constructor":
        text = f"The inputs ({n} sample{'s' if n != 1 else ''} of shape {shape}) were built by an input constructor"
    else:
        text = f"The inputs were {n} given sample{'s' if n != 1 else ''} of shape {shape}"
    encoding = given.get("encoding")
    if encoding == "direct":
        text += ", each presented unchanged at every time step (direct encoding)"
    elif encoding == "poisson":
        text += (
            ", each rate coded as Bernoulli spike trains over the T time steps (Poisson encoding, rates clamped "
            "to [0, 1])"
        )
    layout = _LAYOUTS.get(given.get("time_layout") or "")
    if layout:
        text += f", fed to the model {layout}"
    return text + "."


def _dist(given: dict[str, Any]) -> str:
    return f"from a {given.get('distribution', 'standard normal')} distribution"


def _synapses(report: Report) -> str:
    mode = report.counting.get("spike_mode")
    if mode == "binary":
        events = "a layer input was an event tensor when every element is 0 or 1, each 1 being one event"
    elif mode == "integer":
        events = (
            "a layer input was an event tensor when every element is an integer, each unit of |x| being one event "
            "(binary and ternary spikes and integer spike counts alike)"
        )
    else:
        events = "a layer input was an event tensor when its elements are spike events (the spike mode is not recorded)"
    zeros = (
        "; only synapses with a non-zero weight were counted"
        if report.counting.get("skip_zero_weights")
        else "; zero weights were counted like any other"
    )
    if "skip_zero_weights" not in report.counting:
        zeros = ""
    return (
        f"Synaptic operations were counted exactly and event-driven: {events}. "
        "On an event input, a synaptic layer performs one accumulate (AC) per event and connection it reaches, "
        "its exact fan-out (border-aware at the edges of padded and strided convolutions), plus one AC per "
        f"output element for a bias{zeros}. On a dense (non-integer) input it performs its dense "
        "multiply-accumulates (MACs), ptflops' convention, bias adds included. Normalisation, pooling, "
        "activations and elementwise operations were counted as ACs on event inputs and as MACs on dense ones."
    )


def _neurons(report: Report) -> str:
    if report.count_neuron_updates:
        return (
            "Neuron updates (neurons × time steps) are included in the totals: one AC per update of a "
            "non-leaky (integrate-and-fire) neuron and one MAC per update of a leaky one (the decay multiply)."
        )
    return "Neuron updates were left out of the operation and energy totals."


def _energy(report: Report) -> str:
    text = _energy_of(report)
    if report.targets:  # a side-by-side report: every target's model and source
        others = "; ".join(_energy_of(t).rstrip(".") for t in report.other_targets)
        text += f" The same counts were also priced on further targets: {others}."
    return text


def _energy_of(report: Report) -> str:
    model = report.energy_model
    if model.one_pass_ann:
        activation = model.e_mac_pj if model.e_neuron_update_pj is None else model.e_neuron_update_pj
        source = f" (source: {model.source})" if model.source else " (user-supplied costs, no source given)"
        return (
            f"Compute energy under the {model.name} energy model is that of a conventional device running the "
            "same architecture as an ANN once per sample, whatever the spikes: each MAC of that one-pass ANN "
            f"(the dense MACs divided by T) costs {pj(model.e_mac_pj)} pJ and each activation (one per neuron "
            f"per pass) {pj(activation)} pJ{source}."
        )
    costs = f"an AC costs {pj(model.e_ac_pj)} pJ and a MAC {pj(model.e_mac_pj)} pJ"
    device = []
    if model.e_synop_pj is not None:
        device.append(f"a synaptic event costs {pj(model.e_synop_pj)} pJ")
    if model.e_neuron_update_pj is not None:
        device.append(f"a neuron update {pj(model.e_neuron_update_pj)} pJ")
    if device:
        costs = (
            f"{' and '.join(device)}, and other operations are priced as an AC at {pj(model.e_ac_pj)} pJ and a "
            f"MAC at {pj(model.e_mac_pj)} pJ"
        )
    source = f" (source: {model.source})" if model.source else " (user-supplied costs, no source given)"
    return (
        f"Compute energy is every counted operation at its cost under the {model.name} energy model: {costs}{source}."
    )


def _memory(report: Report) -> str:
    memory = memory_model(report)
    if memory is None:
        return "Memory accesses were not priced: the energy is that of compute alone, the convention of most papers."
    bits = memory.get("bits", 32)
    (first_kib, first_pj), *middle, (last_kib, last_pj) = SRAM_POINTS_PJ
    curve = ", ".join(
        [f"{pj(first_pj)} pJ up to {first_kib} KiB"]
        + [f"{pj(price)} pJ at {kib} KiB" for kib, price in middle]
        + [f"{pj(last_pj)} pJ at {last_kib} KiB and above"]
    )
    dram = (
        f"; memories larger than {memory['dram_above']} bytes are priced as DRAM at {pj(DRAM_PJ)} pJ per 64-bit access"
        if memory.get("dram_above")
        else ""
    )
    reuse = memory.get("dense_reuse")
    if reuse == "ideal":
        dense = (
            "reads each weight once per image and each input element once (ideal reuse, an upper bound on a "
            "dense accelerator)"
        )
    elif reuse == "none":
        dense = "reads one weight and one input per MAC (no reuse)"
    else:
        dense = f"reads its operands by the {reuse!r} reuse rule"
    queue = memory.get("queue_words")
    queue_text = f" of {queue} words" if queue else ""
    source = f" Memory model source: {memory['source']}." if memory.get("source") else ""
    return (
        f"Memory traffic was counted per sample in accesses of {bits}-bit words under the "
        f"{memory.get('name', 'custom')} memory model: on events, a synaptic layer reads one weight and reads "
        "and writes one accumulator per synaptic operation, and reads each event's address once from an event "
        f"queue{queue_text}; a dense layer {dense}; a neuron layer reads its input and reads and writes its "
        "state words once per update. Each access is priced by the size of the memory holding its operand, "
        "interpolated linearly between the 45 nm SRAM figures of Horowitz (ISSCC 2014) for a 64-bit access "
        f"({curve}), {_article(bits)} {bits}-bit word costing {bits}/64 of that{dram}. "
        f"{_capital(word_width_text(report))}.{source}"
    )


def _capital(text: str | None) -> str:
    return (text or "")[:1].upper() + (text or "")[1:] if text else ""


def _article(number: int) -> str:
    """'an' before a number spoken with a vowel first (8, 11, 18, 80...), else 'a'."""
    return "an" if str(number).startswith("8") or number in (11, 18) else "a"
