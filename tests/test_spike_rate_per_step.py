"""``LayerStats.spike_rate_per_step``: spikes per neuron at each time step, averaged over the samples, against
a brute force that runs the model itself with forward hooks on its neurons and splits their outputs by step
(for every framework and time layout), and against a NIR graph's own simulation."""

from __future__ import annotations

import csv
import io
import json
import math

import nir_graphs
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nir_graphs import DT
from torch import nn

import syops
from syops import steps as step_counts
from syops.slots import NeuronSlot
from syops.traffic import NeuronGeometry

T, B = 4, 3


def _spikes(output):
    return output[0] if isinstance(output, tuple) else output


class Recorder:
    """The outputs of the given neuron modules, call by call, from a run of the test's own."""

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.outputs: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
        self.handles = [
            module.register_forward_hook(lambda m, a, out, name=name: self.outputs[name].append(_spikes(out).detach()))
            for name, module in modules.items()
        ]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def per_step_from_steps(calls: list[torch.Tensor], steps: int) -> list[float]:
    """Single-step calls [B, ...]: K calls are T runs of K/T calls in step order."""
    per = len(calls) // steps
    neurons = calls[0][0].numel()
    return [sum(float(c.abs().sum()) for c in calls[t * per : (t + 1) * per]) / (B * neurons) for t in range(steps)]


def per_step_from_sequence(calls: list[torch.Tensor], layout: str) -> list[float]:
    """Multi-step calls: [T, B, ...] (TB), [B, T, ...] (BT) or [B·T, ...] (squeezed, batch-major)."""
    total = None
    for out in calls:
        x = out.double().abs()
        if layout == "TB":
            per = x.reshape(x.shape[0], B, -1).sum((1, 2))
        elif layout == "BT":
            per = x.reshape(B, x.shape[1], -1).sum((0, 2))
        else:
            per = x.reshape(B, -1, *x.shape[1:]).reshape(B, x.shape[0] // B, -1).sum((0, 2))
        total = per if total is None else total + per
    neurons = calls[0].numel() // (B * T)
    return (total / (B * neurons)).tolist()


def check(report: syops.Report, expected: dict[str, list[float]]) -> None:
    for name, rates in expected.items():
        layer = report.layer(name)
        assert layer.spike_rate_per_step == pytest.approx(rates, rel=1e-12, abs=1e-15), name
        assert len(rates) == report.timesteps
        # their mean is the layer's spike rate
        assert sum(layer.spike_rate_per_step) / T == pytest.approx(layer.output_spike_rate, rel=1e-12, abs=1e-15)
    assert any(max(rates) > min(rates) for rates in expected.values())  # the steps differ: a real test


def inputs(*shape: int, seed: int = 0, scale: float = 2.0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * scale


# -- spikingjelly ----------------------------------------------------------------------------------------------
def _sj_net(step_mode: str) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron

    net = nn.Sequential(
        layer.Linear(10, 12),
        neuron.IFNode(v_threshold=0.6),
        layer.Linear(12, 6),
        neuron.LIFNode(tau=2.0, v_threshold=0.3),
    )
    torch.manual_seed(0)
    for p in net.parameters():
        nn.init.uniform_(p, -0.2, 0.6)
    functional.set_step_mode(net, step_mode)
    return net.eval()


@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_spikingjelly_multi_step_and_loop(step_mode):
    from spikingjelly.activation_based import functional

    net = _sj_net(step_mode)
    x = inputs(T, B, 10)
    layout = "TB" if step_mode == "m" else "loop"
    report = syops.profile(net, inputs=x, timesteps=T, time_layout=layout)
    functional.reset_net(net)
    rec = Recorder({"1": net[1], "3": net[3]})
    with torch.no_grad():
        if step_mode == "m":
            net(x)
        else:
            for xt in x:
                net(xt)
    rec.remove()
    functional.reset_net(net)
    if step_mode == "m":
        check(report, {n: per_step_from_sequence(c, "TB") for n, c in rec.outputs.items()})
    else:
        check(report, {n: per_step_from_steps(c, T) for n, c in rec.outputs.items()})


# -- sinabs ----------------------------------------------------------------------------------------------------
def test_sinabs_batch_time_and_squeezed():
    import sinabs.layers as sl

    torch.manual_seed(1)
    bt = nn.Sequential(nn.Linear(10, 12), sl.IAF(spike_threshold=0.5), nn.Linear(12, 6), sl.LIF(tau_mem=4.0)).eval()
    x = inputs(B, T, 10, seed=1)
    report = syops.profile(bt, inputs=x, time_layout="BT", timesteps=T)
    for m in bt:
        if hasattr(m, "reset_states"):
            m.reset_states()
    rec = Recorder({"1": bt[1], "3": bt[3]})
    with torch.no_grad():
        bt(x)
    rec.remove()
    check(report, {n: per_step_from_sequence(c, "BT") for n, c in rec.outputs.items()})

    squeezed = nn.Sequential(nn.Linear(10, 12), sl.IAFSqueeze(batch_size=B, spike_threshold=0.5)).eval()
    xs = x.reshape(B * T, 10)
    report = syops.profile(squeezed, inputs=xs, batch_size=B, timesteps=T)
    squeezed[1].reset_states()
    rec = Recorder({"1": squeezed[1]})
    with torch.no_grad():
        squeezed(xs)
    rec.remove()
    check(report, {"1": per_step_from_sequence(rec.outputs["1"], "squeezed")})


# -- snnTorch: a loop over the steps inside forward ------------------------------------------------------------
class SnnLoop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        import snntorch as snn

        torch.manual_seed(2)
        self.fc1, self.lif1 = nn.Linear(10, 12), snn.Leaky(beta=0.8, threshold=0.4)
        self.fc2, self.lif2 = nn.Linear(12, 6), snn.Leaky(beta=0.9, threshold=0.2)

    def forward(self, x):  # the same frame every step
        mem1, mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
        out = []
        for _ in range(T):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out)


def test_snntorch_loop_inside_forward():
    net = SnnLoop().eval()
    x = inputs(B, 10, seed=2)
    report = syops.profile(net, inputs=x, timesteps=T, batch_size=B)
    rec = Recorder({"lif1": net.lif1, "lif2": net.lif2})
    with torch.no_grad():
        net(x)
    rec.remove()
    check(report, {n: per_step_from_steps(c, T) for n, c in rec.outputs.items()})


# -- Norse: a sequence module and a cell under time_layout="loop" ----------------------------------------------
def test_norse_sequence_and_cell():
    import norse.torch as norse

    torch.manual_seed(3)
    seq = nn.Sequential(nn.Linear(10, 12), norse.LIF()).eval()
    x = inputs(T, B, 10, seed=3, scale=4.0)
    report = syops.profile(seq, inputs=x, timesteps=T, time_layout="TB")
    rec = Recorder({"1": seq[1]})
    with torch.no_grad():
        seq(x)
    rec.remove()
    check(report, {"1": per_step_from_sequence(rec.outputs["1"], "TB")})

    class OneStep(nn.Module):  # one step per call, the cell's state kept between calls
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.cell, self.state = nn.Linear(10, 12), norse.LIFCell(), None
            self.fc.load_state_dict(seq[0].state_dict())

        def forward(self, xt):
            z, self.state = self.cell(self.fc(xt), self.state)
            return z

    model = OneStep().eval()
    report = syops.profile(model, inputs=x, timesteps=T, time_layout="loop")
    model.state = None
    rec = Recorder({"cell": model.cell})
    with torch.no_grad():
        for xt in x:
            model(xt)
    rec.remove()
    check(report, {"cell": per_step_from_steps(rec.outputs["cell"], T)})


# -- NIR: the graph's own simulation ---------------------------------------------------------------------------
def test_nir_graph_against_its_simulation(monkeypatch):
    per_call: dict[str, list[float]] = {}

    class Recording(nir_graphs.Oracle):
        def neuron(self, name, v, leaky, z=None, *args, **kwargs):
            if z is not None:
                per_call.setdefault(name, []).append(float(z.abs().sum()) / z.numel())
            return super().neuron(name, v, leaky, z, *args, **kwargs)

    monkeypatch.setattr(nir_graphs, "Oracle", Recording)
    g = nir_graphs.feedforward()
    x = (torch.rand(T, B, 8, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    report = syops.profile(g, inputs=x, timesteps=T, time_layout="TB", dt=DT)
    nir_graphs.simulate_feedforward(g, x)
    assert set(per_call) == {"lif", "if"} and all(len(v) == T for v in per_call.values())
    check(report, per_call)
    # layers without spikes (membrane outputs) have zero rates at every step, not None
    assert report.layer("li").spike_rate_per_step == [0.0] * T


def test_a_neuron_used_twice_per_step():
    """One snnTorch neuron module run twice in each step of a loop inside forward: 2T calls, in step order."""
    import snntorch as snn

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(5)
            self.fc, self.lif = nn.Linear(10, 12), snn.Leaky(beta=0.8, threshold=0.3)

        def forward(self, x):
            mem, out = self.lif.reset_mem(), []
            for _ in range(T):
                spk, mem = self.lif(self.fc(x), mem)
                spk, mem = self.lif(self.fc(x) * 0.5, mem)
                out.append(spk)
            return torch.stack(out)

    net = Twice().eval()
    x = inputs(B, 10, seed=5)
    report = syops.profile(net, inputs=x, timesteps=T, batch_size=B)
    rec = Recorder({"lif": net.lif})
    with torch.no_grad():
        net(x)
    rec.remove()
    calls = rec.outputs["lif"]
    assert len(calls) == 2 * T
    # per step: both calls' spikes over the step's updates (two per neuron)
    expected = [float(calls[2 * t].sum() + calls[2 * t + 1].sum()) / (2 * B * 12) for t in range(T)]
    check(report, {"lif": expected})


def test_single_step_calls_not_a_multiple_of_the_steps_give_none():
    from spikingjelly.activation_based import neuron

    net = nn.Sequential(nn.Linear(10, 4), neuron.IFNode(v_threshold=0.3)).eval()

    class Thrice(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return [self.net(x) for _ in range(3)][-1]

    report = syops.profile(Thrice(), inputs=inputs(B, 10), timesteps=2, batch_size=B)
    assert report.layer("net.1").spike_rate_per_step is None
    assert report.layer("net.1").output_spike_rate is not None


def test_per_step_rates_in_json_and_csv():
    net = _sj_net("m")
    report = syops.profile(net, inputs=inputs(T, B, 10), timesteps=T, time_layout="TB")
    data = json.loads(report.to_json())
    by_name = {layer["name"]: layer for layer in data["layers"]}
    assert by_name["1"]["spike_rate_per_step"] == report.layer("1").spike_rate_per_step
    assert by_name["0"]["spike_rate_per_step"] is None
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(report.to_csv()))}
    # CSV: the T rates in one cell joined by ';', each read back exactly
    assert [float(v) for v in rows["1"]["spike_rate_per_step"].split(";")] == report.layer("1").spike_rate_per_step
    assert rows["0"]["spike_rate_per_step"] == ""


# -- the step arithmetic on many shapes ------------------------------------------------------------------------
def _slot(neurons: int) -> NeuronSlot:
    return NeuronSlot(neurons, neurons, False, (neurons,), NeuronGeometry(neurons, neurons, 1, False))


def _in_layout(spikes: torch.Tensor, layout: str) -> torch.Tensor:
    """``spikes`` [B, T, ...] as a neuron of ``layout`` outputs them."""
    if layout == "TB":
        return spikes.transpose(0, 1).contiguous()
    if layout == "BT":
        return spikes
    return spikes.reshape(spikes.shape[0] * spikes.shape[1], *spikes.shape[2:])  # squeezed [B·T, ...]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["TB", "BT", "squeezed"]),
    st.integers(1, 5),
    st.integers(1, 4),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.integers(0, 2**31 - 1),
)
def test_multi_step_sums_on_many_shapes(layout, steps, samples, neuron_shape, seed):
    g = torch.Generator().manual_seed(seed)
    per_sample = (steps, *neuron_shape)
    spikes = torch.randint(0, 3, (samples, *per_sample), generator=g).float()  # [B, T, ...], counts 0..2
    neurons = int(torch.tensor(neuron_shape).prod())
    output = _in_layout(spikes, layout)
    got = step_counts.call_step_sums(output, layout, neurons, (samples, steps), torch.float64)
    expected = [float(spikes[:, t].sum()) for t in range(steps)]  # brute force: step t of every sample
    if output.numel() <= neurons:  # one sample at one step: a single-step call
        assert got is None and steps == samples == 1
    else:
        assert got.tolist() == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 2**31 - 1), st.booleans())
def test_single_step_calls_fold_into_steps(steps, per_step, seed, named):
    """K = T × m calls (m per step, in step order) fold into T sums; the engine's step names do the same."""
    g = torch.Generator().manual_seed(seed)
    slot = _slot(5)
    calls = [torch.randint(0, 2, (5,), generator=g).double() for _ in range(steps * per_step)]
    for k, col in enumerate(calls):
        step_counts.add_call(slot, None, col, k // per_step if named else None, torch.float64)
    step_counts.fold_batch(slot, steps)
    expected = [sum(float(c.sum()) for c in calls[t * per_step : (t + 1) * per_step]) for t in range(steps)]
    assert slot.step_spikes.tolist() == expected and not slot.steps_unknown
    if steps > 1 and not named:  # one call too many: the steps cannot be told apart
        step_counts.add_call(slot, None, calls[0], None, torch.float64)
        for col in calls:
            step_counts.add_call(slot, None, col, None, torch.float64)
        step_counts.fold_batch(slot, steps)
        assert slot.steps_unknown


@pytest.mark.parametrize("layout", ["TB", "BT", "squeezed"])
def test_multi_step_sums_of_large_layers_are_exact(layout):
    """Blocks of float32 sums and the leftover elements: exact integer totals past 2**24 per step."""
    steps, samples, neurons = 3, 2, 3 * 4096 + 5
    g = torch.Generator().manual_seed(7)
    spikes = torch.randint(0, 4000, (samples, steps, neurons), generator=g).float()  # counts up to 3999
    output = _in_layout(spikes, layout)
    got = step_counts.call_step_sums(output, layout, neurons, (samples, steps), torch.float64)
    expected = spikes.double().sum((0, 2))
    assert float(expected.max()) > 2**24 and got.tolist() == expected.tolist()


# -- syops.Profiler around the user's own loop ------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["loop", "TB"])
def test_profiler_around_the_users_loop(layout):
    from spikingjelly.activation_based import functional

    net = _sj_net("s" if layout == "loop" else "m")
    x = inputs(T, B, 10, seed=6)
    with syops.Profiler(net, timesteps=T, time_layout=layout) as prof:
        for _ in range(2):  # two batches, the user's reset between them
            functional.reset_net(net)
            with torch.no_grad():
                if layout == "loop":
                    for xt in x:
                        net(xt)
                else:
                    net(x)
    report = prof.report()
    functional.reset_net(net)
    rec = Recorder({"1": net[1], "3": net[3]})
    with torch.no_grad():
        if layout == "loop":
            for xt in x:
                net(xt)
        else:
            net(x)
    rec.remove()
    functional.reset_net(net)
    assert report.samples == 2 * B and report.timesteps == T
    # both batches ran the same samples: the per-step rates are one batch's
    if layout == "loop":
        check(report, {n: per_step_from_steps(c, T) for n, c in rec.outputs.items()})
    else:
        check(report, {n: per_step_from_sequence(c, "TB") for n, c in rec.outputs.items()})


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["TB", "BT", "squeezed"]),
    st.integers(1, 5),
    st.integers(1, 4),
    st.lists(st.integers(1, 40), min_size=1, max_size=3),
    st.sampled_from(["integer", "binary", None]),
    st.integers(0, 2**31 - 1),
)
def test_steps_from_the_row_sums_of_the_event_read(layout, steps, samples, neuron_shape, mode, seed):
    """The steps summed from column_events' row sums (the output read once, on a CPU) equal a sum over
    the output itself, brute force; single-chunk, chunked and wide reads alike."""
    from syops.events import Scratch, column_events

    g = torch.Generator().manual_seed(seed)
    spikes = torch.randint(0, 3, (samples, steps, *neuron_shape), generator=g).float()
    neurons = math.prod(neuron_shape)
    output = _in_layout(spikes, layout)
    rows: list[torch.Tensor] = []
    column_events(output, mode, neurons, Scratch(), row_sums=rows)
    row_sums = torch.cat(rows)
    assert row_sums.shape == (output.numel() // neurons,)
    got = step_counts.call_step_sums(output, layout, neurons, (samples, steps), torch.float64, row_sums)
    if output.numel() <= neurons:
        assert got is None
    else:
        assert got.tolist() == [float(spikes[:, t].sum()) for t in range(steps)]


@pytest.mark.parametrize("width", [3 * 4096 + 5, (1 << 18) + 300])
def test_row_sums_of_chunked_and_wide_reads(width):
    """Rows longer than a chunk are read a block of columns at a time: each row's sum adds up over the
    blocks, as its column sums do."""
    from syops.events import Scratch, column_events

    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 30, (6, width), generator=g).float()
    rows: list[torch.Tensor] = []
    _, col = column_events(x, "integer", width, Scratch(), row_sums=rows)
    assert col.double().tolist() == x.double().sum(0).tolist()
    assert torch.cat(rows).double().tolist() == x.double().sum(1).tolist()


def test_a_row_past_2_24_spikes_takes_the_exact_read():
    """A (sample, step) of 2**24 spikes or more may round in float32: the engine sums its steps from the
    output itself, exactly (as the blocks of test_multi_step_sums_of_large_layers_are_exact)."""
    from syops.accumulate import _exact_row_sums

    assert _exact_row_sums([torch.tensor([3.0, float(2**24)])]) is None
    assert _exact_row_sums([torch.tensor([3.0, float("nan")])]) is None
    kept = _exact_row_sums([torch.tensor([3.0]), torch.tensor([float(2**24 - 1)])])
    assert kept is not None and kept.tolist() == [3.0, float(2**24 - 1)]
    assert _exact_row_sums(None) is None and _exact_row_sums([]) is None
