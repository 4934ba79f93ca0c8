"""Norse cells, sequence modules and recurrent layers against brute force: spikes recorded in the test
(forward hooks), neuron updates = neurons × T, synops of a layer = the events it reads × its fan-out."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=FutureWarning)  # norse scripts functions at import
    import norse.torch as snn
    from norse.torch.functional.izhikevich import tonic_spiking
    from norse.torch.module.snn import SNNRecurrentCell

import syops
from syops.frameworks import is_neuron, module_rule_for
from syops.rules import RuleContext
from syops.terms import Neuron, Part

B, T, IN, N, K = 3, 6, 7, 9, 4


def spikes(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.5).float()


def positive_linear(n_in: int, n_out: int, scale: float, seed: int) -> nn.Linear:
    """Positive weights: the currents drive the neurons to spike."""
    torch.manual_seed(seed)
    fc = nn.Linear(n_in, n_out)
    with torch.no_grad():
        fc.weight.uniform_(0, scale)
        fc.bias.uniform_(0, scale / 4)
    return fc


class Recorder:
    """Every output (first element) of ``module``, cloned."""

    def __init__(self, module: nn.Module) -> None:
        self.outputs: list[torch.Tensor] = []
        self.handle = module.register_forward_hook(lambda m, a, out: self.outputs.append(out[0].detach().clone()))

    def total(self) -> float:
        self.handle.remove()
        return float(sum(o.double().sum() for o in self.outputs))


def assert_no_anonymous_rows(report: syops.Report, model: nn.Module) -> None:
    module_types = {type(m).__name__ for m in model.modules()} | {"Linear"}
    assert report.unsupported == []
    assert all(r.type in module_types for r in report.layers), [(r.name, r.type) for r in report.layers]


def assert_neuron_row(row, neurons: int, leaky: bool, spike_total: float) -> None:
    assert row.neurons == neurons
    assert row.neuron_updates == neurons * T  # per sample
    assert row.neuron_update_macs == (neurons * T if leaky else 0)
    assert row.output_spike_rate == pytest.approx(spike_total / (neurons * T * B), rel=1e-12)


def drive(neuron: nn.Module) -> float:
    """Input weight scale that makes the neurons spike within T steps (Izhikevich's v starts at -70 mV)."""
    return 200.0 if "Izhikevich" in type(neuron).__name__ else 3.0


# -- cells in a loop over time ---------------------------------------------------------------------------

# factory, leaky, state words, emits spikes
CELLS = {
    "IAFCell": (lambda: snn.IAFCell(), False, 1, True),
    "LIFCell": (lambda: snn.LIFCell(), True, 2, True),
    "LIFBoxCell": (lambda: snn.LIFBoxCell(), True, 1, True),
    "LICell": (lambda: snn.LICell(), True, 2, False),
    "LIBoxCell": (lambda: snn.LIBoxCell(), True, 1, False),
    "LIFAdExCell": (lambda: snn.LIFAdExCell(), True, 3, True),
    "LIFExCell": (lambda: snn.LIFExCell(), True, 2, True),
    "LSNNCell": (lambda: snn.LSNNCell(), True, 3, True),
    "LIFRefracCell": (lambda: snn.LIFRefracCell(), True, 3, True),
    "LIFAdExRefracCell": (lambda: snn.LIFAdExRefracCell(), True, 4, True),
    "IzhikevichCell": (lambda: snn.IzhikevichCell(tonic_spiking), True, 2, True),
}


class CellLoop(nn.Module):
    """Linear → cell → Linear, T steps inside forward over a [T, B, IN] input."""

    def __init__(self, cell: nn.Module) -> None:
        super().__init__()
        self.fc1 = positive_linear(IN, N, drive(cell), 0)
        self.cell = cell
        self.fc2 = positive_linear(N, K, 1.0, 1)

    def forward(self, x):
        state, out = None, []
        for step in x:
            z, state = self.cell(self.fc1(step), state)
            out.append(self.fc2(z))
        return torch.stack(out)


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_against_brute_force(name):
    factory, leaky, words, spiking = CELLS[name]
    net = CellLoop(factory())
    x = spikes((T, B, IN), 2)
    report = syops.profile(net, inputs=x, timesteps=T, time_layout="TB")
    rec = Recorder(net.cell)
    with torch.no_grad():
        net(x)
    emitted = rec.total() if spiking else 0.0
    row = report.layer("cell")
    assert row.type == name and row.calls == T and is_neuron(net.cell)
    assert_neuron_row(row, N, leaky, emitted)
    if spiking:
        assert 0 < emitted < N * T * B  # the check below is not vacuous
        rates = torch.stack(rec.outputs).double().sum((0, 1)) / (T * B)
        assert torch.allclose(row.firing_rate_map.reshape(-1).double().cpu(), rates)
        # the next layer reads the spikes: each meets K weights, plus K bias adds per step
        assert report.layer("fc2").synops == pytest.approx(emitted * K / B)
        assert report.layer("fc2").acs == pytest.approx(emitted * K / B + T * K)
    else:  # the membrane potential goes on: dense
        assert report.layer("fc2").synops == 0 and report.layer("fc2").macs == T * (N * K + K)
    assert report.layer("fc1").synops == pytest.approx(float(x.sum()) * N / B)
    assert report.totals["params"] == sum(p.numel() for p in net.parameters())
    assert_no_anonymous_rows(report, net)
    # the rule's classification: leak and words of state per neuron
    step_in = net.fc1(x[0])
    terms = module_rule_for(net.cell).fn(net.cell, (step_in,), {}, net.cell(step_in), RuleContext())
    (term,) = [t for t in terms if isinstance(t, Neuron)]
    assert (term.leaky, term.state_words) == (leaky, words)


# -- sequence modules on [T, B, ...] -----------------------------------------------------------------------

SEQUENCES = {
    "IAF": (lambda: snn.IAF(), False, 1, True),
    "LIF": (lambda: snn.LIF(), True, 2, True),
    "LI": (lambda: snn.LI(), True, 2, False),
    "LIFAdEx": (lambda: snn.LIFAdEx(), True, 3, True),
    "LIFEx": (lambda: snn.LIFEx(), True, 2, True),
    "LSNN": (lambda: snn.LSNN(), True, 3, True),
    "Izhikevich": (lambda: snn.Izhikevich(tonic_spiking), True, 2, True),
}


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_sequence_module_against_brute_force(name):
    factory, leaky, words, spiking = SEQUENCES[name]
    neuron = factory()
    net = snn.SequentialState(positive_linear(IN, N, drive(neuron), 0), neuron, positive_linear(N, K, 1.0, 1))
    x = spikes((T, B, IN), 3)
    report = syops.profile(net, inputs=x, timesteps=T, time_layout="TB")
    rec = Recorder(net[1])
    with torch.no_grad():
        net(x)
    emitted = rec.total() if spiking else 0.0
    row = report.layer("1")
    assert row.type == name and row.calls == 1
    assert_neuron_row(row, N, leaky, emitted)
    if spiking:
        assert emitted > 0
        assert report.layer("2").synops == pytest.approx(emitted * K / B)
    else:
        assert report.layer("2").macs == T * (N * K + K)
    assert_no_anonymous_rows(report, net)
    terms = module_rule_for(net[1]).fn(net[1], (x,), {}, net[1](x), RuleContext())
    assert [(t.leaky, t.state_words) for t in terms if isinstance(t, Neuron)] == [(leaky, words)]
    # the same neurons as a cell looped over time count the same
    if name in ("IAF", "LIF", "LI", "LSNN"):
        cell = CellLoop(CELLS[f"{name}Cell"][0]())
        cell_report = syops.profile(cell, inputs=x, timesteps=T, time_layout="TB")
        assert cell_report.layer("cell").output_spike_rate == pytest.approx(row.output_spike_rate)


# -- recurrent cells and sequences ----------------------------------------------------------------------

RECURRENT = {
    "LIFRecurrentCell": (lambda: snn.LIFRecurrentCell(IN, N), 2),
    "LIFExRecurrentCell": (lambda: snn.LIFExRecurrentCell(IN, N), 2),
    "LSNNRecurrentCell": (lambda: snn.LSNNRecurrentCell(IN, N), 3),
    "LIFAdExRecurrentCell": (lambda: snn.LIFAdExRecurrentCell(IN, N), 3),
    "LIFRefracRecurrentCell": (lambda: snn.LIFRefracRecurrentCell(IN, N), 3),
    "LIFAdExRefracRecurrentCell": (lambda: snn.LIFAdExRefracRecurrentCell(IN, N), 4),
    "IzhikevichRecurrentCell": (lambda: snn.IzhikevichRecurrentCell(IN, N, tonic_spiking), 2),
    "LIFRecurrent": (lambda: snn.LIFRecurrent(IN, N), 2),
    "LIFExRecurrent": (lambda: snn.LIFExRecurrent(IN, N), 2),
    "LSNNRecurrent": (lambda: snn.LSNNRecurrent(IN, N), 3),
    "LIFAdExRecurrent": (lambda: snn.LIFAdExRecurrent(IN, N), 3),
    "LIFRefracRecurrent": (lambda: snn.LIFRefracRecurrent(IN, N), 3),
    "LIFAdExRefracRecurrent": (lambda: snn.LIFAdExRefracRecurrent(IN, N), 4),
    "IzhikevichRecurrent": (lambda: snn.IzhikevichRecurrent(IN, N, tonic_spiking), 2),
}


class RecurrentLoop(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.rec = layer

    def forward(self, x):
        if not isinstance(self.rec, SNNRecurrentCell):
            return self.rec(x)[0]
        state, out = None, []
        for step in x:
            z, state = self.rec(step, state)
            out.append(z)
        return torch.stack(out)


@pytest.mark.parametrize("name", list(RECURRENT))
def test_recurrent_weights_are_synaptic_rows(name):
    factory, words = RECURRENT[name]
    torch.manual_seed(4)
    layer = factory()
    with torch.no_grad():  # strong positive drive, so that the recurrence carries spikes
        layer.input_weights.uniform_(0, drive(layer) * 3)
        layer.recurrent_weights.uniform_(0, 1.0).fill_diagonal_(0.0)
    net = RecurrentLoop(layer)
    x = spikes((T, B, IN), 5)
    report = syops.profile(net, inputs=x, timesteps=T, time_layout="TB")
    with torch.no_grad():
        z = net(x)  # [T, B, N]
    emitted = float(z.sum())
    previous = float(z[:-1].sum())  # step t's recurrent input is step t-1's spikes; step 0 sees none
    assert previous > 0
    steps = T if isinstance(layer, SNNRecurrentCell) else 1
    neuron = report.layer("rec")
    assert neuron.type == name and neuron.calls == steps and neuron.params == 0
    assert_neuron_row(neuron, N, True, emitted)
    inputs = report.layer("rec.input_weights")
    assert inputs.type == "Linear" and inputs.calls == steps and inputs.params == N * IN
    assert inputs.synops == pytest.approx(float(x.sum()) * N / B) and inputs.macs == 0
    recurrent = report.layer("rec.recurrent_weights")
    assert recurrent.type == "Linear" and recurrent.params == N * N
    assert recurrent.synops == pytest.approx(previous * N / B)
    assert recurrent.dense_macs == T * N * N and recurrent.macs == 0
    assert report.totals["params"] == sum(p.numel() for p in net.parameters())
    assert_no_anonymous_rows(report, net)
    call = (x[0],) if steps == T else (x,)
    terms = module_rule_for(layer).fn(layer, call, {}, layer(*call), RuleContext())
    assert [t.state_words for t in terms if isinstance(t, Neuron)] == [words]
    assert [t.name for t in terms if isinstance(t, Part)] == ["input_weights", "recurrent_weights"]
    # with zero weights skipped, the missing autapses are no synapses
    skipped = syops.profile(net, inputs=x, timesteps=T, time_layout="TB", skip_zero_weights=True)
    assert skipped.layer("rec.recurrent_weights").synops == pytest.approx(previous * (N - 1) / B)


def test_recurrent_cell_reads_the_given_state_spikes():
    torch.manual_seed(6)
    cell = snn.LIFRecurrentCell(IN, N)
    x = spikes((B, IN), 7)
    z0 = spikes((B, N), 8)
    state = snn.LIFState(z=z0, v=torch.zeros(B, N), i=torch.zeros(B, N))
    report = syops.profile(cell, inputs=(x, state))
    assert report.layer("recurrent_weights").synops == pytest.approx(float(z0.sum()) * N / B)
    assert report.layer("input_weights").synops == pytest.approx(float(x.sum()) * N / B)


def test_li_linear_cell():
    torch.manual_seed(9)
    cell = snn.LILinearCell(IN, N)
    x = spikes((B, IN), 10)
    report = syops.profile(cell, inputs=x)
    assert report.layer("input_weights").synops == pytest.approx(float(x.sum()) * N / B)
    row = report.layer("")
    assert row.neurons == N and row.neuron_update_macs == N and row.output_spike_rate == 0
    assert report.totals["params"] == N * IN


# -- the issue's network, both ways of presenting time -----------------------------------------------------

STEPS = 8


def issue_net() -> snn.SequentialState:
    return snn.SequentialState(
        positive_linear(10, 16, 1.5, 11), snn.LIFCell(), positive_linear(16, 8, 1.0, 12), snn.LIFBoxCell()
    )


class TimeInside(nn.Module):
    """Loops over time inside forward: [T, B, 10] in."""

    def __init__(self, seq: nn.Module) -> None:
        super().__init__()
        self.seq = seq

    def forward(self, x):
        state, out = None, []
        for step in x:
            y, state = self.seq(step, state)
            out.append(y)
        return torch.stack(out)


class OneStep(nn.Module):
    """One step per call, the state kept in an attribute between calls (time_layout="loop")."""

    def __init__(self, seq: nn.Module) -> None:
        super().__init__()
        self.seq = seq
        self.state = None

    def forward(self, x):
        y, self.state = self.seq(x, self.state)
        return y


def issue_truth(seq: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Per-sample figures by brute force: spikes recorded while running the net by hand."""
    lif, box = Recorder(seq[1]), Recorder(seq[3])
    with torch.no_grad():
        TimeInside(seq)(x)
    s1, s2 = lif.total(), box.total()
    samples = x.shape[1]
    return {
        "fc1": float(x.sum()) * 16 / samples,
        "fc2": s1 * 8 / samples,
        "rate1": s1 / (16 * STEPS * samples),
        "rate2": s2 / (8 * STEPS * samples),
    }


def check_issue_report(report: syops.Report, truth: dict[str, float], model: nn.Module) -> None:
    assert report.timesteps == STEPS
    fc1, lif, fc2, box = (report.layer(f"seq.{i}") for i in range(4))
    assert (fc1.type, lif.type, fc2.type, box.type) == ("Linear", "LIFCell", "Linear", "LIFBoxCell")
    assert fc1.synops == pytest.approx(truth["fc1"]) and fc1.acs == pytest.approx(truth["fc1"] + STEPS * 16)
    assert fc2.synops == pytest.approx(truth["fc2"]) and fc2.acs == pytest.approx(truth["fc2"] + STEPS * 8)
    assert fc1.dense_macs == STEPS * (10 * 16 + 16) and fc2.dense_macs == STEPS * (16 * 8 + 8)
    assert (lif.neurons, lif.neuron_updates, lif.neuron_update_macs) == (16, 16 * STEPS, 16 * STEPS)
    assert (box.neurons, box.neuron_updates, box.neuron_update_macs) == (8, 8 * STEPS, 8 * STEPS)
    assert lif.output_spike_rate == pytest.approx(truth["rate1"]) and 0 < truth["rate1"] < 1
    assert box.output_spike_rate == pytest.approx(truth["rate2"]) and 0 < truth["rate2"] < 1
    assert report.totals["macs"] == 24 * STEPS  # only the neuron updates are MACs
    assert_no_anonymous_rows(report, model)
    assert {r.name for r in report.layers} == {"seq.0", "seq.1", "seq.2", "seq.3"}


def test_issue_network_time_inside_forward():
    seq = issue_net()
    x = spikes((STEPS, 5, 10), 13)
    model = TimeInside(seq)
    report = syops.profile(model, inputs=x, timesteps=STEPS, time_layout="TB")
    assert report.samples == 5
    check_issue_report(report, issue_truth(seq, x), model)


def test_issue_network_one_step_per_call():
    seq = issue_net()
    x = spikes((STEPS, 5, 10), 13)
    model = OneStep(seq)
    report = syops.profile(model, inputs=x, timesteps=STEPS, time_layout="loop")
    assert report.samples == 5 and report.layer("seq.1").calls == STEPS
    check_issue_report(report, issue_truth(seq, x), model)
    inside = syops.profile(TimeInside(seq), inputs=x, timesteps=STEPS, time_layout="TB")
    assert report.totals == inside.totals


def test_state_reset_between_batches_and_restored():
    seq = issue_net()
    model = OneStep(seq)
    x = spikes((STEPS, 5, 10), 14)
    with torch.no_grad():  # a stale state from an earlier run, of another batch size
        model(torch.ones(2, 10))
    stale = model.state
    one = syops.profile(model, inputs=x, timesteps=STEPS, time_layout="loop")
    two = syops.profile(model, dataloader=[x, x], timesteps=STEPS, time_layout="loop")
    assert two.samples == 10 and one.samples == 5
    for key in ("synops", "acs", "macs", "neuron_updates"):
        assert two.totals[key] == pytest.approx(one.totals[key]), key
    assert two.layer("seq.1").output_spike_rate == pytest.approx(one.layer("seq.1").output_spike_rate)
    assert model.state is stale and stale[1].v.shape == (2, 16)  # the model comes back as it went in
    # a state list the model starts from is replaced, never filled in place
    fresh = [None] * 4
    model.state = fresh
    syops.profile(model, inputs=x, timesteps=STEPS, time_layout="loop")
    assert model.state is fresh and fresh == [None] * 4


class SparseIn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = snn.LIFCell()

    def forward(self, x):
        return self.cell(x.to_sparse())[0]


def test_sparse_input_is_one_clear_error():
    with pytest.raises(syops.SyopsError, match="LIFCell: sparse tensors are not supported"):
        syops.profile(SparseIn(), inputs=spikes((B, N), 15))


# -- the Part term (engine), without Norse ---------------------------------------------------------------


class HeldWeight(nn.Module):
    """A weight held as a parameter of a module that is not a Linear, then a ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(5, IN))
        self.scale = nn.Parameter(torch.ones(5))

    def forward(self, x):
        return torch.relu(x @ self.w.t()) * self.scale


def held_weight_rule(m, args, kwargs, out, ctx):
    from syops.rules.rnn import weight_term
    from syops.terms import Elementwise

    x = args[0]
    return [Part("w", "Linear", (weight_term(x, m.w, False, ctx),), (m.w,)), Elementwise((), 2 * out.numel())]


def test_part_rows_own_their_terms_and_parameters():
    net = nn.Sequential(nn.Identity(), HeldWeight())
    x = spikes((B, IN), 16)
    report = syops.profile(net, inputs=x, custom_rules={HeldWeight: held_weight_rule})
    part = report.layer("1.w")
    assert part.type == "Linear" and part.calls == 1 and part.params == 5 * IN
    assert part.synops == pytest.approx(float(x.sum()) * 5 / B) and part.dense_macs == 5 * IN
    own = report.layer("1")
    assert own.params == 5 and own.macs == 2 * 5 and own.synops == 0
    assert report.totals["params"] == 5 * IN + 5


def test_lifted_convolutions_around_a_sequence_module():
    """Lift(Conv2d) → LIF → Lift(Conv2d) on [T, B, C, H, W]: neurons are C·H·W, the second conv reads the
    spikes (a convolution of ones over them, border-aware)."""
    from helpers import brute_force_conv_synops

    torch.manual_seed(17)
    conv1, conv2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 3, stride=2, padding=1)
    with torch.no_grad():
        conv1.weight.uniform_(0, 1.5)
    net = snn.SequentialState(snn.Lift(conv1), snn.LIF(), snn.Lift(conv2))
    x = spikes((T, B, 2, 6, 6), 18)
    report = syops.profile(net, inputs=x, timesteps=T, time_layout="TB")
    rec = Recorder(net[1])
    with torch.no_grad():
        net(x)
    (z,) = rec.outputs
    row = report.layer("1")
    assert_neuron_row(row, 4 * 6 * 6, True, float(z.sum()))
    assert 0 < float(z.mean()) < 1
    assert row.firing_rate_map.shape == (4, 6, 6)
    flat = z.reshape(T * B, 4, 6, 6)
    assert report.layer("2.lifted_module").synops == pytest.approx(brute_force_conv_synops(conv2, flat) * T)
    assert report.layer("2.lifted_module").calls == T
    assert_no_anonymous_rows(report, net)


def test_neuron_constants_come_back_unchanged():
    """IAFCell's forward sets requires_grad on its own v_reset (Norse's initial state is that tensor)."""
    cell = snn.IAFCell(p=snn.IAFParameters(v_th=torch.as_tensor(0.5), v_reset=torch.as_tensor(0.0)))
    syops.profile(cell, inputs=spikes((B, N), 19))
    assert not cell.p.v_reset.requires_grad and float(cell.p.v_reset) == 0.0


def test_lconv2d_counts_as_a_conv2d_per_step():
    from helpers import brute_force_conv_synops

    torch.manual_seed(20)
    lconv = snn.LConv2d(2, 5, 3, stride=2, padding=1)
    x = spikes((T, B, 2, 7, 7), 21)
    report = syops.profile(lconv, inputs=x, timesteps=T, time_layout="TB")
    conv = nn.Conv2d(2, 5, 3, stride=2, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(lconv.weight[..., 0])
        assert torch.allclose(lconv(x), torch.stack([conv(step) for step in x]), atol=1e-6)
    row = report.layer("")
    assert row.type == "LConv2d" and row.params == 5 * 2 * 9
    assert row.synops == pytest.approx(brute_force_conv_synops(conv, x.reshape(T * B, 2, 7, 7)) * T)
    assert row.dense_macs == T * 5 * 4 * 4 * 2 * 9 and row.macs == 0
    dense = syops.profile(lconv, inputs=torch.randn(T, B, 2, 7, 7), timesteps=T, time_layout="TB")
    assert dense.layer("").macs == T * 5 * 4 * 4 * 2 * 9


def test_from_nir_cuba_lif_is_one_neuron():
    """norse.torch.from_nir builds a CubaLIF from a LIBoxCell (the current) and a LIFBoxCell: one neuron
    row, not two, and no anonymous rows for its w_in and r scalings."""
    from norse.torch.utils.import_nir import CubaLIF

    synapse = snn.LIBoxCell(snn.LIBoxParameters(tau_mem_inv=torch.full((N,), 500.0), v_leak=torch.zeros(N)))
    lif = snn.LIFBoxCell(snn.LIFBoxParameters(tau_mem_inv=torch.full((N,), 250.0), v_leak=torch.zeros(N)))
    net = CellLoop(CubaLIF(torch.full((N,), 2.0), synapse, torch.ones(N), lif))
    x = spikes((T, B, IN), 22)
    report = syops.profile(net, inputs=x, timesteps=T, time_layout="TB")
    rec = Recorder(net.cell)
    with torch.no_grad():
        net(x)
    emitted = rec.total()
    assert emitted > 0
    assert_neuron_row(report.layer("cell"), N, True, emitted)
    assert report.layer("fc2").synops == pytest.approx(emitted * K / B)
    assert {r.name for r in report.layers} == {"fc1", "cell", "fc2"}
    assert_no_anonymous_rows(report, net)
    step_in = net.fc1(x[0])
    terms = module_rule_for(net.cell).fn(net.cell, (step_in,), {}, net.cell(step_in), RuleContext())
    assert [(t.leaky, t.state_words) for t in terms] == [(True, 2)]


def test_from_nir_graph_one_step_per_call_is_reset_per_batch():
    """A NIR graph read by norse.torch.from_nir (a nirtorch executor of Norse cells), one step per call
    with its state kept in an attribute: the state is reset between batches."""
    import nir
    import numpy as np

    rng = np.random.default_rng(23)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([IN])),
            "fc": nir.Affine(weight=rng.uniform(0, 1, (N, IN)).astype(np.float32), bias=np.zeros(N, np.float32)),
            "lif": nir.LIF(tau=np.full(N, 0.004), r=np.ones(N), v_leak=np.zeros(N), v_threshold=np.ones(N)),
            "output": nir.Output(output_type=np.array([N])),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OneStep(snn.from_nir(graph, dt=0.001))
    x = spikes((T, B, IN), 24)
    one = syops.profile(model, inputs=x, timesteps=T, time_layout="loop")
    two = syops.profile(model, dataloader=[x, x], timesteps=T, time_layout="loop")
    lif = one.layer("seq.lif")
    assert lif.type == "LIFBoxCell" and lif.neurons == N and lif.neuron_updates == N * T
    assert 0 < lif.output_spike_rate < 1
    for key in ("synops", "acs", "macs", "neuron_updates"):
        assert two.totals[key] == pytest.approx(one.totals[key]), key
    assert two.layer("seq.lif").output_spike_rate == pytest.approx(lif.output_spike_rate)
    assert model.state is None
