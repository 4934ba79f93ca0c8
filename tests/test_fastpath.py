"""The CPU fast path (syops.events' early exit, syops.accumulate's host-decided dense calls) counts exactly
what the device path counts: the same report, field by field, on spiking and dense models; a dense operand
is decided wherever its first non-integer element lies; an event operand is still read in full."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import neuron, surrogate
from torch import nn

import syops
from helpers import brute_force_conv_synops, is_events, make_input
from syops import accumulate
from syops.accumulate import Evaluator, RowAccumulator
from syops.events import _CHUNK, _PEEK, Scratch, column_events
from syops.profiler import INEXACT_NOTE
from syops.terms import Elementwise, Synaptic


def _dense_at(shape: tuple[int, ...], where: int, seed: int) -> torch.Tensor:
    """Spike counts with a single non-integer element at flat index ``where``."""
    x = make_input("integer", shape, torch.Generator().manual_seed(seed))
    x.view(-1)[where] = 0.5
    return x


@pytest.mark.parametrize("width", [1, 7, 4096, 70_000])
@pytest.mark.parametrize("where", ["first", "after_peek", "middle", "last", "none"])
@pytest.mark.parametrize("mode", ["integer", "binary"])
@pytest.mark.parametrize("expect_events", [False, True])
def test_early_exit_decides_like_a_full_read(width, where, mode, expect_events):
    rows = max(3, (3 * _CHUNK) // width)  # several chunks
    shape = (rows, width)
    if where == "none":
        x = make_input("binary", shape, torch.Generator().manual_seed(width))
    else:
        index = {"first": 0, "after_peek": _PEEK, "middle": rows * width // 2, "last": rows * width - 1}
        x = _dense_at(shape, index[where], width)
        if mode == "binary":
            x = (x > 0).float()
            x.view(-1)[index[where]] = 0.5
    full_off, full_col = column_events(x, mode, width, Scratch(), early=False)
    off, col = column_events(x, mode, width, Scratch(), early=True, expect_events=expect_events)
    truth = is_events(x, mode)
    assert bool(full_off == 0) == truth and bool(off == 0) == truth
    if truth:  # an event operand: read in full, the same column sums bit for bit
        assert col is not None and torch.equal(col, full_col)
        assert torch.equal(col, x.abs().sum(0))
    else:  # dense: no column sums
        assert col is None


def _reads_of(x: torch.Tensor, width: int) -> tuple[torch.Tensor | None, torch.Tensor | None, list[int]]:
    """``column_events`` on the early path, and the elements each event check (``frac_``) read."""
    reads: list[int] = []
    original = torch.Tensor.frac_

    def counting_frac(self):
        reads.append(self.numel())
        return original(self)

    torch.Tensor.frac_ = counting_frac
    try:
        off, col = column_events(x, "integer", width, Scratch(), early=True)
    finally:
        torch.Tensor.frac_ = original
    return off, col, reads


@pytest.mark.parametrize("integer_where_looked", [False, True])
def test_a_dense_operand_decided_early_reads_no_further(integer_where_looked):
    """Decided by the host's look at the first elements and a few spread over the rest (no kernel at
    all), or, when those happen to be integers, by the first chunk."""
    x = torch.randn(64, 1024)
    if integer_where_looked:
        n = x.numel()
        x.view(-1)[:_PEEK] = 1.0
        x.view(-1)[_PEEK :: (n - _PEEK) // _PEEK] = 2.0
    off, col, reads = _reads_of(x, 1024)
    assert col is None and bool(off != 0) and reads == ([min(x.numel(), _CHUNK)] if integer_where_looked else [])


def test_a_dense_operand_with_a_head_of_zeros_is_decided_without_a_kernel():
    """A convolution's output of sparse spikes: zeros for a while, dense values further on."""
    x = torch.zeros(1, 64, 32, 32)
    x[:, 40:] = torch.randn(1, 24, 32, 32)
    off, col, reads = _reads_of(x, 1)
    assert col is None and bool(off != 0) and reads == []


class _Spiking(nn.Module):
    """Dense input → conv → BN → neuron → conv, a residual of spikes and dense values, a Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.sn = neuron.LIFNode(v_threshold=0.3, surrogate_function=surrogate.ATan(), step_mode="m")
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8 * 12 * 12, 5)

    def forward(self, x):  # [T, B, 2, 12, 12]
        t, b = x.shape[:2]
        y = self.bn(self.conv1(x.flatten(0, 1)))
        s = self.sn(y.view(t, b, 8, 12, 12)).flatten(0, 1)
        z = self.conv2(s)
        mixed = s + z  # an event operand beside a dense one: a dense call, each operand read its own way
        both = s * s  # two event operands
        return self.fc((mixed + both).flatten(1))


def _reports(model, **kwargs):
    """The report on the CPU fast path and on the device path (no flag read back), as JSON."""
    fast = syops.profile(model, **kwargs).to_json()
    original = accumulate.reads_back_free
    accumulate.reads_back_free = lambda device: False
    try:
        slow = syops.profile(model, **kwargs).to_json()
    finally:
        accumulate.reads_back_free = original
    return fast, slow


@pytest.mark.parametrize("memory", ["sram-45nm", "sram-45nm-noreuse", "none"])
def test_the_cpu_path_gives_the_device_paths_report(memory):
    torch.manual_seed(0)
    net = _Spiking()
    x = torch.rand(3, 2, 2, 12, 12, generator=torch.Generator().manual_seed(1))
    fast, slow = _reports(net, inputs=x, time_layout="TB", memory=memory)
    assert fast == slow
    dense = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    fast, slow = _reports(dense, input_res=(3, 8, 8), memory=memory)
    assert fast == slow


def test_mixed_elementwise_operands_are_read_each_their_own_way():
    class Mixed(nn.Module):
        def forward(self, a, b):
            return a + b

    a = make_input("integer", (2, 3, 40, 40), torch.Generator().manual_seed(2))
    b = _dense_at((2, 3, 40, 40), 2 * 3 * 40 * 40 - 1, 3)  # dense only in its last element
    report = syops.profile(Mixed(), inputs=(a, b))
    row = report.layer("", "add")
    assert row.macs == a.numel() / 2 and row.acs == 0  # one dense operand: the call is dense
    # events of the event operand from the queue, every element of the dense one
    assert row.memory["input_reads"] == pytest.approx((float(a.abs().sum()) + b.numel()) / 2)
    events = syops.profile(Mixed(), inputs=(a, a.clone()))
    assert events.layer("", "add").acs == a.numel() / 2
    assert events.layer("", "add").memory["input_reads"] == pytest.approx(2 * float(a.abs().sum()) / 2)


def test_a_synaptic_layer_on_an_input_dense_only_at_its_end():
    linear = nn.Linear(300, 4, bias=False)
    x = _dense_at((50, 300), 50 * 300 - 1, 4)
    row = syops.profile(nn.Sequential(linear), inputs=x).layer("0")
    assert row.macs == 300 * 4 and row.synops == 0  # per sample
    events = make_input("integer", (50, 300), torch.Generator().manual_seed(4))
    row = syops.profile(nn.Sequential(linear), inputs=events).layer("0")
    assert row.macs == 0 and row.synops == pytest.approx(float(events.abs().sum()) * 4 / 50)


def test_another_device_takes_the_device_path_and_reads_nothing_back():
    """On any device but a CPU (here the meta device, whose tensors have no values: reading one back
    raises) every operand is queued, whatever it holds, and nothing is read back per call."""
    evaluator = Evaluator(torch.device("meta"), "integer")
    assert not evaluator.early
    x = torch.empty(2, 3, 8, 8, device="meta")
    fanout = torch.empty(8, 8, device="meta")
    row = RowAccumulator()
    evaluator.add(row, [Synaptic(x, 100, fanout, 0, weights=27, outputs=50, in_per_image=192)])
    evaluator.add(row, [Elementwise((x, x), x.numel())])
    assert len(evaluator.device_fold._pending) == 2 and len(evaluator.device_fold._pending.part_calls) == 3


def _count_reads(monkeypatch) -> list[tuple[int, ...]]:
    """The shapes of the tensors the evaluator reads (each ``column_events`` call), as a profile runs."""
    reads: list[tuple[int, ...]] = []
    original = accumulate.column_events

    def counted(x, *args, **kwargs):
        reads.append(tuple(x.shape))
        return original(x, *args, **kwargs)

    monkeypatch.setattr(accumulate, "column_events", counted)
    return reads


def test_a_neuron_output_is_read_once_and_its_sums_reused(monkeypatch):
    """The layer after a neuron reads the spikes through the neuron's remembered column sums (the
    rules' operands are detached copies, new objects each call: the memory is of the model's own)."""
    reads = _count_reads(monkeypatch)

    class NeuronThenConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sn = neuron.IFNode(v_threshold=0.5, surrogate_function=surrogate.ATan(), step_mode="m")
            self.conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)

        def forward(self, x):  # [T, B, 2, 6, 6]
            return self.conv(self.sn(x).flatten(0, 1))

    x = torch.rand(3, 1, 2, 6, 6, generator=torch.Generator().manual_seed(5)).requires_grad_()
    report = syops.profile(NeuronThenConv(), inputs=x, time_layout="TB")
    # the model input's check and the neuron's output; the conv's input [T·B, 2, 6, 6] is never read
    assert reads == [(3, 1, 2, 6, 6), (3, 1, 2, 6, 6)]
    assert report.layer("conv").macs == 0 and report.layer("conv").synops > 0


@pytest.mark.parametrize(("rows", "width"), [(4, _CHUNK), (20, 300_001), (3, _CHUNK + 1), (1, 3 * _CHUNK)])
@pytest.mark.parametrize("early", [False, True])
def test_rows_longer_than_a_chunk_are_summed_bit_for_bit_in_blocks_of_columns(rows, width, early):
    """A neuron layer's [steps, neurons] output is read a block of columns at a time: the column sums are
    those of one pass over all rows, bit for bit (analog values included: a neuron's spike map), and the
    scratch stays a small part of the operand."""
    gen = torch.Generator().manual_seed(rows)
    analog = torch.randn(rows, width, generator=gen)
    scratch = Scratch()
    off, col = column_events(analog, "integer", width, scratch)
    assert bool(off != 0) and torch.equal(col, analog.abs().sum(0))
    spikes = (analog > 1).float() * 2
    off, col = column_events(spikes, "integer", width, scratch, early=early, expect_events=early)
    assert bool(off == 0) and torch.equal(col, spikes.sum(0))
    # a block: a 64th of the row (or a chunk's worth of columns), in whole lanes of 256, with a short tail
    assert max(b.numel() for b in scratch._buffers.values()) <= max(_CHUNK, -(-width // 64) * rows) + 512 * rows
    if early:  # a dense block ends the read
        assert column_events(analog, "integer", width, Scratch(), early=True, expect_events=True)[1] is None


def test_a_column_sum_that_could_round_is_flagged_on_both_paths():
    """2**23 events on each position of three rows: a float32 column sum of 3·2**23, above 2**24."""
    linear = nn.Sequential(nn.Linear(4, 2, bias=False))
    for value, flagged in ((1 << 23, True), (1 << 22, False)):  # 3·2**22 < 2**24: exact
        x = torch.full((3, 4), float(value))
        with pytest.warns(UserWarning, match="integers beyond"):
            fast = syops.profile(linear, inputs=x)
        original = accumulate.reads_back_free
        accumulate.reads_back_free = lambda device: False
        try:
            with pytest.warns(UserWarning, match="integers beyond"):
                slow = syops.profile(linear, inputs=x)
        finally:
            accumulate.reads_back_free = original
        assert fast.to_json() == slow.to_json() and fast.notes == slow.notes
        assert (INEXACT_NOTE in fast.notes) == flagged


class _TwoReaders(nn.Module):
    """One tensor read by two convolutions and a residual add, optionally written in place between."""

    def __init__(self, write_between: bool) -> None:
        super().__init__()
        self.write_between = write_between
        self.a = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.b = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
        self.c = nn.Conv2d(3, 3, 1, bias=False)

    def forward(self, x):
        s = x.clone()
        ya = self.a(s)
        if self.write_between:
            s.mul_(2)  # the second reader sees other events: the remembered sums no longer describe s
        yb = self.b(s)
        return ya, yb, s + self.c(s)


@pytest.mark.parametrize("write_between", [False, True])
def test_a_tensor_read_by_several_layers_is_read_once_unless_it_changed(monkeypatch, write_between):
    reads = _count_reads(monkeypatch)
    torch.manual_seed(0)
    net = _TwoReaders(write_between)
    x = make_input("integer", (2, 3, 9, 9), torch.Generator().manual_seed(6))
    report = syops.profile(net, inputs=x)
    s = x * 2 if write_between else x
    assert report.layer("a").synops == pytest.approx(brute_force_conv_synops(net.a, x))
    assert report.layer("b").synops == pytest.approx(brute_force_conv_synops(net.b, s))
    assert report.layer("c").synops == pytest.approx(brute_force_conv_synops(net.c, s))
    # the input's own check, then s: once (twice when written in between), c's output for the add
    assert len(reads) == (3 if not write_between else 4)


def test_integer_spike_totals_are_exact_on_the_host():
    from syops.hostcounts import integer_total as _integer_total

    small = make_input("integer", (4, 5000), torch.Generator().manual_seed(8)).abs().sum(0)
    assert _integer_total(small) == float(small.double().sum())
    big = torch.full((3,), float((1 << 23) + 1))  # 3·2**23 + 3: odd, above 2**24, no float32 holds it
    assert float(big.sum()) != 3 * ((1 << 23) + 1)
    assert _integer_total(big) == 3 * ((1 << 23) + 1)


def test_on_another_device_rows_longer_than_a_chunk_are_read_in_one_pass(monkeypatch):
    """Blocks of columns keep a CPU's scratch small; on a GPU each block would be four more kernel launches,
    so a wide operand there is read in one pass (here on the meta device, which has shapes but no values)."""
    calls = []
    original = torch.abs

    def counted_abs(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "abs", counted_abs)
    x = torch.empty(4, 3 * _CHUNK, device="meta")
    _, col = column_events(x, "integer", 3 * _CHUNK, Scratch())
    assert calls == [torch.Size([4, 3 * _CHUNK])] and col.shape == (3 * _CHUNK,)
    calls.clear()
    column_events(torch.zeros(4, 3 * _CHUNK), "integer", 3 * _CHUNK, Scratch())
    assert len(calls) > 1  # a CPU: blocks of columns


@pytest.mark.parametrize("largest", [4, 1 << 21, (1 << 24) - 3])
def test_synops_on_the_host_are_exact(largest):
    """Synops and events of a call added on the host, exact where float32 is not: Σ column sums × fan-out
    in float64, and a neuron layer's sums over [C, H·W] folded onto a map over [H·W] in float64 too (a
    position's sum over the channels may pass 2**24 where each column's is below it)."""
    from syops import hostcounts

    gen = torch.Generator().manual_seed(largest)
    col = torch.randint(0, largest, (25,), generator=gen).float()  # each column's sum exact in float32
    fanout = torch.randint(1, 100, (25,), generator=gen).double()
    for channels in (1, 3):
        wide = torch.cat([col + c for c in range(channels)])  # as a neuron layer's output sums over [C, H·W]
        host = [0.0] * 5
        weights = hostcounts.synaptic_weights(fanout, fanout.numel())
        inexact = hostcounts.add_synaptic(host, None, wide, wide.numel(), weights)
        per_position = [sum(int(v) + c for c in range(channels)) for v in col.tolist()]
        truth = sum(p * int(f) for p, f in zip(per_position, fanout.tolist(), strict=True))
        assert host[1] == truth and host[2] == sum(per_position) and host[0] == host[3] / host[2] == 1.0
        assert not inexact  # no column passed 2**24: nothing may have rounded
        dense = [0.0] * 5  # a dense operand (its check non-zero): its elements read, nothing else
        hostcounts.add_synaptic(dense, torch.tensor(0.5), wide, wide.numel(), weights)
        assert dense == [0.0, 0.0, 0.0, 0.0, float(wide.numel())]
    if largest > 4:  # float32 alone would have rounded
        assert float(torch.dot(wide.view(3, -1).sum(0), fanout.float())) != truth
