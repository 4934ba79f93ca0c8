"""The relations docs/energy.md states between syops and spikingjelly 2.0's two energy estimators, on the
small Conv→IF→Linear→LIF net of bench/energy_peers.py, so that the document cannot silently go stale.

Ground truth is computed here: synaptic events by a convolution of ones over the input spikes, memory
energy access by access from the memory sizes and Horowitz's curve (docs/contract.md §4), Lemaire's figures from
its formulas as docs/energy.md states them.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("spikingjelly.activation_based.op_counter")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "energy_peers.py"
_spec = importlib.util.spec_from_file_location("energy_peers", BENCH)
peers = importlib.util.module_from_spec(_spec)
sys.modules["energy_peers"] = peers  # dataclasses look their module up there
_spec.loader.exec_module(peers)

T = peers.T
WORD = 4  # bytes


def horowitz_word_pj(size_bytes: float, bits: int = 32) -> float:
    """docs/contract.md §4: a 64-bit access costs 10 pJ up to 8 KiB, 10 → 20 pJ to 32 KiB, 20 → 100 pJ to 1 MiB,
    100 pJ above; a word of ``bits`` costs bits/64 of that."""
    kib = 1024
    if size_bytes <= 8 * kib:
        pj = 10.0
    elif size_bytes <= 32 * kib:
        pj = 10 + (size_bytes - 8 * kib) / (24 * kib) * 10
    elif size_bytes <= 1024 * kib:
        pj = 20 + (size_bytes - 32 * kib) / (992 * kib) * 80
    else:
        pj = 100.0
    return pj * bits / 64


def lemaire_byte_pj(size_bytes: float) -> float:
    """spikingjelly's Lemaire curve as docs/energy.md states it: Horowitz's 64-bit figures ÷ 4 bytes,
    linear from (0, 0) through 8 KiB, 32 KiB, 1 MiB, flat above."""
    points = [(0, 0.0), (8192, 2.5), (32768, 5.0), (1048576, 25.0)]
    size = min(size_bytes, points[-1][0])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if size <= x1:
            return y0 + (y1 - y0) * (size - x0) / (x1 - x0)
    raise AssertionError


@pytest.fixture(scope="module")
def measured():
    net, x = peers.small_net(), peers.small_input()
    # Ground truth of the run: the IF layer's spikes, by a hook on a plain forward pass.
    seen = {}
    handle = net[1].register_forward_hook(lambda m, a, out: seen.setdefault("if_spikes", out.detach().clone()))
    peers.reset(net)
    with torch.no_grad():
        net(x)
    handle.remove()
    syops_f, report = peers.syops_figures(net, x, "sram-45nm")
    simple_f, simple = peers.simple_figures(net, x)
    lemaire_f, lemaire = peers.lemaire_figures(net, x)
    by_op, mac_by_op, calls = peers.explain_pass(net, x)
    return {
        "net": net,
        "x": x,
        "if_spikes": seen["if_spikes"],
        "syops": syops_f,
        "report": report,
        "simple_f": simple_f,
        "simple": simple,
        "lemaire_f": lemaire_f,
        "lemaire": lemaire,
        "by_op": by_op,
        "mac_by_op": mac_by_op,
        "calls": calls,
    }


def _conv_pairs(x: torch.Tensor) -> float:
    """Exact (event, synapse) pairs of the 3×3 stride-2 padding-1 conv (2→8 channels): a convolution of
    ones over the spikes, times the output channels."""
    ones = torch.ones(1, 2, 3, 3, dtype=torch.float64)
    return float(F.conv2d(x.flatten(0, 1).double(), ones, None, 2, 1).sum()) * 8


def test_same_synops_where_both_are_exact(measured):
    """syops and spikingjelly's simple estimator both count border-aware fan-out: the same synops, equal
    to the brute-force count. Lemaire's ⌈k/s⌉² = 4 connections per spike per output channel is more."""
    x, spikes = measured["x"], measured["if_spikes"]
    exact = _conv_pairs(x) + float(spikes.sum()) * 10
    assert measured["syops"].synops == exact == measured["simple_f"].synops == 12_574
    conv_events = float(x.sum())
    assert conv_events == 621
    lemaire_synops = conv_events * 4 * 8 + float(spikes.sum()) * 10
    assert measured["lemaire_f"].synops == lemaire_synops == 21_622
    # the conv alone: ⌈3/2⌉² = 4 against an exact mean fan-out of 10,824 / (621 × 8) = 2.18
    assert measured["report"].layer("0").synops == 10_824
    assert round(conv_events * 4 * 8 / 10_824, 3) == 1.836
    assert round(conv_events * 9 * 8 / 10_824, 3) == 4.131  # k² = 9: Lemaire's weight / potential reads


def test_simple_estimator_bookkeeping_acs(measured):
    """spikingjelly's simple estimator adds, per conv call on spikes, the numel − 1 ACs of an
    ``occupancy.sum()`` its memory counter runs under the dispatch mode (counted as aten.sum)."""
    simple_acs = measured["simple"].counts["ac"]
    alone = sum(measured["by_op"].values())
    # occupancy map: N = T·B = 4 images × groups 1 × 8×8 output positions, one conv call
    assert peers.bookkeeping_acs(measured["calls"]) == 4 * 1 * 8 * 8 - 1 == 255
    assert simple_acs - alone == 255
    assert simple_acs == 21_261
    by_op = measured["by_op"]
    assert by_op["aten.convolution.default"] == 10_824  # the exact conv synops
    assert by_op["aten.addmm.default"] == 1_750  # Linear: IF spikes × 10 outputs, no bias adds
    # neurons: an IF step is 4 elementwise ACs (2 add, 1 sub, 1 rsub), a LIF step 6 (2 add, 3 sub, 1 rsub);
    # 512 IF and 10 LIF neurons over T = 4 steps. syops: 1 AC per IF update, 1 MAC per LIF update.
    assert by_op["aten.add.Tensor"] == 2 * 2048 + 2 * 40
    assert by_op["aten.sub.Tensor"] == 2048 + 3 * 40
    assert by_op["aten.rsub.Scalar"] == 2048 + 40
    assert measured["simple"].counts["mac"] == sum(measured["mac_by_op"].values()) == 0  # no LIF decay MAC
    # syops' ACs: synops + one bias add per output element + one per IF update; MACs: one per LIF update
    assert measured["syops"].acs == 12_574 + (2048 + 40) + 2048
    assert measured["syops"].macs == 40


def test_bytes_and_words(measured):
    """spikingjelly counts bytes of fp32 tensors, syops 32-bit words: the same weight and bias reads × 4;
    the neuron states match syops' neuron-layer state accesses (one word per IF / LIF neuron)."""
    c, report = measured["simple"].counts, measured["report"]
    memory = report.totals["memory"]
    assert c["weight_read_bytes"] == WORD * memory["weight_reads"] == WORD * 12_574
    assert c["bias_read_bytes"] == WORD * memory["bias_reads"] == WORD * (2048 + 40)
    neuron_state = report.layer("1").memory["state_reads"] + report.layer("4").memory["state_reads"]
    assert c["neuron_state_read_bytes"] == c["neuron_state_write_bytes"] == WORD * neuron_state == WORD * 2088
    # simple prices every byte at 24.96 pJ (99.84 pJ a word), whatever memory holds it
    assert measured["simple"].energy_memory_pj == pytest.approx(c["memory_access_bytes"] * 24.96)
    # what simple does not count: input reads, emitted events, synaptic accumulators (syops: 2 × synops)
    assert memory["input_reads"] == 621 + 2048 + 175 + 40
    assert memory["output_writes"] == float(measured["if_spikes"].sum()) + 7 == 182
    assert memory["state_reads"] == memory["state_writes"] == 12_574 + 2088


def test_syops_memory_energy_by_hand(measured):
    """Each access priced by the size of the memory holding it (docs/contract.md §4), summed here layer by layer."""
    report = measured["report"]
    kinds = ("weight_reads", "bias_reads", "input_reads", "state_reads", "state_writes", "output_writes")
    m = {name: report.layer(name).memory for name in ("0", "1", "3", "4")}
    queue = 1000 * WORD
    sizes = {  # bytes of the memory each access kind of each layer goes to
        "0": dict(zip(kinds, (152, 152, queue, 512, 512, 0), strict=True)),  # conv: params 144 + 8; 8×8×8 acc.
        "1": dict(zip(kinds, (0, 0, 512, 512, 512, queue), strict=True)),  # IF: 512 neurons, 1 state word
        "3": dict(zip(kinds, (5130, 5130, queue, 10, 10, 0), strict=True)),  # Linear: 5120 + 10 params
        "4": dict(zip(kinds, (0, 0, 10, 10, 10, queue), strict=True)),  # LIF: 10 neurons
    }
    pj = 0.0
    for name, by_kind in sizes.items():
        for kind, words_or_bytes in by_kind.items():
            size = words_or_bytes if words_or_bytes == queue else words_or_bytes * WORD
            pj += m[name][kind] * horowitz_word_pj(size)
    assert report.totals["memory_energy_mj"] * 1e9 == pytest.approx(pj, rel=1e-12)
    assert horowitz_word_pj(5130 * WORD) == pytest.approx(7.5081, abs=1e-4)  # the Linear's 20,520 B
    totals = report.totals
    assert totals["energy_mj"] == pytest.approx(totals["compute_energy_mj"] + totals["memory_energy_mj"])


def test_lemaire_counts_and_prices(measured):
    """spikingjelly's Lemaire estimator: k²·C_out weight and potential accesses per spike (no border, no
    stride), bias and potentials per output per step, FIFO reads of the input spikes, all at 4 bytes,
    priced by its curve through (0, 0)."""
    lem, x, spikes = measured["lemaire"], measured["x"], measured["if_spikes"]
    c = lem.counts
    conv_events, if_spikes, lif_spikes = float(x.sum()), float(spikes.sum()), 7
    k2_conv = conv_events * 9 * 8
    linear = if_spikes * 10
    assert c["read_params_bytes"] == WORD * (k2_conv + 2048 + linear + 40)
    assert c["read_potential_bytes"] == c["write_potential_bytes"] == WORD * (k2_conv + 2048 + linear + 40)
    assert c["read_in_bytes"] == WORD * (conv_events + if_spikes)
    assert c["write_out_bytes"] == WORD * (if_spikes + lif_spikes)
    assert c["ac"] == 21_622 + (2048 + 40) + (if_spikes + lif_spikes)  # synops + bias + one per spike
    assert c["mac"] == 40  # one per LIF neuron-step
    fifo = 1000 * WORD
    pj = (
        WORD * (conv_events + if_spikes) * lemaire_byte_pj(fifo)
        + WORD * (if_spikes + lif_spikes) * lemaire_byte_pj(fifo)
        + WORD * (k2_conv + 2048) * lemaire_byte_pj(152 * WORD)
        + WORD * (linear + 40) * lemaire_byte_pj(5130 * WORD)
        + 2 * WORD * (k2_conv + 2048) * lemaire_byte_pj(512 * WORD)  # conv potentials and IF: 2048 B each
        + 2 * WORD * (linear + 40) * lemaire_byte_pj(10 * WORD)
    )
    assert lem.breakdown_pj["memory_pj"] == pytest.approx(pj, rel=1e-12)


def test_word_prices_syops_against_lemaire():
    """Per 32-bit word, spikingjelly's Lemaire curve costs twice syops' from 8 KiB up (Horowitz's figures
    are per 64 bits; it charges them per 4-byte word) and less below (its curve starts at 0 pJ)."""
    from spikingjelly.activation_based.op_counter import LemaireEnergyCostConfig

    from syops.memory import MEMORY_PRESETS

    lemaire, syops_model = LemaireEnergyCostConfig(), MEMORY_PRESETS["sram-45nm"]
    for size in (8192, 12000, 32768, 100_000, 1048576, 4 * 1048576):
        s = syops_model.access_pj(size / WORD)
        assert s == pytest.approx(horowitz_word_pj(size))
        assert lemaire.memory_cost_pj(size) * WORD == pytest.approx(2 * s)
    for size in (608, 2048, 4000):
        assert syops_model.access_pj(size / WORD) == 5.0
        assert lemaire.memory_cost_pj(size) * WORD == pytest.approx(size / 8192 * 10)
    assert math.isclose(lemaire.memory_cost_pj(4000) * WORD, 4.8828125)
