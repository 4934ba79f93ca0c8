"""NIR graphs run by syops' reference modules: small graphs with dyadic parameters against a simulation
written in the tests from the reference discretisation (per-layer synops, ACs, MACs, neuron updates
and spike rates exactly equal), the NIR paper's CSNN for N-MNIST against its structural counts and
brute-force synops, `.nir` round trips, recurrent and nested graphs."""

from __future__ import annotations

import itertools
import math

import h5py
import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nir_graphs import (
    CONVOLUTIONAL_ROWS,
    CURRENT_BASED_ROWS,
    DT,
    FEEDFORWARD_ROWS,
    NESTED_ROWS,
    RECURRENT_ROWS,
    convolutional,
    current_based,
    feedforward,
    nested,
    recurrent,
    simulate_convolutional,
    simulate_current_based,
    simulate_feedforward,
    simulate_nested,
    simulate_recurrent,
)
from nir_oracle import assert_matches
from torch import nn

import syops
import syops.nir
from helpers import brute_force_conv_synops, brute_force_linear_synops
from syops.nir.rules import nir_neuron

T, B = 6, 4  # B a power of two: per-sample figures are exact


def spikes(shape: tuple[int, ...], rate: float = 0.4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((T, B, *shape), generator=g) < rate).float()


CASES = {
    "feedforward": (feedforward, simulate_feedforward, FEEDFORWARD_ROWS, (8,)),
    "convolutional": (convolutional, simulate_convolutional, CONVOLUTIONAL_ROWS, (2, 6, 6)),
    "current_based": (current_based, simulate_current_based, CURRENT_BASED_ROWS, (2, 10)),
    "recurrent": (recurrent, simulate_recurrent, RECURRENT_ROWS, (6,)),
    "nested": (nested, simulate_nested, NESTED_ROWS, (8,)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_graph_counts_equal_the_simulation(case, seed):
    build, simulate, rows, shape = CASES[case]
    g = build()
    x = spikes(shape, seed=seed)
    oracle, expected = simulate(g, x)
    module = syops.nir.to_torch(g, dt=DT)
    with torch.no_grad():
        assert torch.equal(module(x).double(), expected)  # the runner's dynamics, exactly
    report = syops.profile(g, inputs=x, timesteps=T, time_layout="TB", dt=DT)
    assert report.samples == B and report.timesteps == T
    assert_matches(report, oracle, rows)
    assert {(layer.name, layer.type) for layer in report.layers} == {
        (row, report.layer(row).type) if isinstance(row, str) else row for row in rows
    }  # nothing else has a row: Flatten and Delay cost nothing
    assert oracle.rows  # the simulation counted something
    assert sum(layer.synops for layer in report.layers) > 0


def node_type(g, name: str) -> str | None:
    """The NIR type of node ``name`` (a dotted name reaching into a nested graph where it must)."""
    if name in g.nodes:
        return type(g.nodes[name]).__name__
    head, _, rest = name.partition(".")
    return node_type(g.nodes[head], rest) if rest and head in g.nodes else None


def test_the_simulated_graphs_fire_and_mix_events_and_dense_inputs():
    """The cases above exercise what they claim: spikes in every spiking layer, and both event-driven
    and dense calls."""
    for build, simulate, _, shape in CASES.values():
        oracle, _ = simulate(build(), spikes(shape))
        for name, tally in oracle.rows.items():
            spiking = node_type(build(), name) in ("IF", "LIF", "CubaLIF")
            assert not spiking or 0 < tally.spikes < tally.updates, (name, tally)
    oracle, _ = simulate_current_based(current_based(), spikes((2, 10)))
    assert oracle.rows["conv"].synops > 0 and oracle.rows["fc"].macs > 0 and oracle.rows["fc"].synops == 0
    oracle, _ = simulate_convolutional(convolutional(), spikes((2, 6, 6)))
    assert oracle.rows["thr"].macs > 0 and oracle.rows["conv_b"].synops > 0


def test_layer_names_types_and_params():
    report = syops.profile(recurrent(), inputs=spikes((6,)), dt=DT)
    assert [(layer.name, layer.type) for layer in report.layers] == [
        ("fc1", "Affine"),
        ("lif1", "CubaLIF"),
        ("lif1.w_rec", "Affine"),
        ("fc2", "Affine"),
        ("lif2", "CubaLIF"),
        ("", "add"),  # the merge of the feedback, first run at the second step
    ]
    # params are weights and biases; the neuron constants are buffers
    assert report.totals["params"] == (5 * 6 + 5) + (5 * 5 + 5) + (3 * 5 + 3)
    assert report.layer("lif1").params == 0 and report.layer("lif1").neurons == 5
    module = syops.nir.to_torch(recurrent(), dt=DT)
    lif = module.get_submodule("lif1")
    assert not list(lif.parameters()) and {"tau_syn", "tau_mem", "r", "v_leak", "w_in", "v_threshold"} <= set(
        dict(lif.named_buffers())
    )


def test_recurrent_feedback_is_one_step_late():
    """The recurrent synapses run at every step (T calls) and reach lif1 from the second step on (T-1
    merges); without the feedback edge the first step is identical and later ones differ."""
    g = recurrent()
    x = spikes((6,), rate=0.6)
    report = syops.profile(g, inputs=x, dt=DT)
    assert report.layer("lif1.w_rec").calls == T and report.layer("", "add").calls == T - 1
    assert report.layer("", "add").macs == 5 * (T - 1)  # dense currents: one MAC per element and merge
    cut = recurrent()
    cut.edges = [e for e in cut.edges if e != ("lif1.w_rec", "lif1")]
    hidden: dict[str, list[torch.Tensor]] = {}
    for name, h in (("a", g), ("b", cut)):
        m = syops.nir.to_torch(h, dt=DT)
        m.get_submodule("lif1").register_forward_hook(lambda mod, i, o, n=name: hidden.setdefault(n, []).append(o[0]))
        with torch.no_grad():
            m(x)
    assert torch.equal(hidden["a"][0], hidden["b"][0])
    assert any(not torch.equal(p, q) for p, q in zip(hidden["a"][1:], hidden["b"][1:], strict=True))


def test_nested_graph_counts_as_its_flat_equivalent():
    g = nested()
    sub = g.nodes["sub"]
    flat_nodes = {f"sub.{k}": v for k, v in sub.nodes.items() if k not in ("input", "output")}
    flat_nodes = {"input": nir.Input(np.array([8])), **flat_nodes}
    flat_nodes |= {k: v for k, v in g.nodes.items() if k not in ("input", "sub")}
    edges = [("input", "sub.a"), ("input", "sub.b"), ("sub.a", "sub.lif"), ("sub.b", "sub.lif")]
    edges += [("sub.lif", "proj"), ("proj", "if"), ("if", "output")]
    flat = nir.NIRGraph(nodes=flat_nodes, edges=edges)
    x = spikes((8,))
    nested_report = syops.profile(g, inputs=x, dt=DT)
    flat_report = syops.profile(flat, inputs=x, dt=DT)
    for layer in nested_report.layers:
        other = flat_report.layer("" if layer.name == "sub" else layer.name, layer.type)
        assert (layer.synops, layer.acs, layer.macs, layer.neuron_updates, layer.output_spike_rate) == (
            other.synops,
            other.acs,
            other.macs,
            other.neuron_updates,
            other.output_spike_rate,
        )


@pytest.mark.parametrize("case", ["feedforward", "recurrent", "nested", "convolutional"])
def test_nir_file_round_trip_gives_the_same_report(case, tmp_path):
    build, _, _, shape = CASES[case]
    g = build()
    path = tmp_path / "g.nir"
    nir.write(path, g)
    x = spikes(shape)
    direct = syops.profile(g, inputs=x, timesteps=T, time_layout="TB", dt=DT).to_dict()
    from_file = syops.profile(str(path), inputs=x, timesteps=T, time_layout="TB", dt=DT).to_dict()
    from_path = syops.profile(path, inputs=x, timesteps=T, dt=DT).to_dict()
    assert from_file == direct == from_path


def test_graph_input_shape_is_the_default_input():
    report = syops.profile(feedforward(), timesteps=4, dt=DT, input_encoding="poisson")
    assert report.input_shape == [8] and report.timesteps == 4 and report.samples == 1
    assert report.layer("lif").neuron_updates == 6 * 4


@pytest.mark.parametrize(
    "state_words, cls", [(1, "IF"), (1, "I"), (1, "LI"), (1, "LIF"), (2, "CubaLI"), (2, "CubaLIF")]
)
def test_neuron_terms_declare_their_state_words(state_words, cls):
    ones = np.ones(3, dtype=np.float32)
    args = {
        "IF": (ones, ones),
        "I": (ones,),
        "LI": (ones, ones, ones, 0.5),
        "LIF": (ones, ones, ones, ones, 0.5),
        "CubaLI": (ones, ones, ones, ones, 0.5),
        "CubaLIF": (ones, ones, ones, ones, ones, 0.5),
    }[cls]
    module = getattr(syops.nir, cls)(*args)
    x = torch.ones(2, 3)
    (term,) = nir_neuron(module, (x, None), {}, module(x), None)
    assert term.state_words == state_words and term.neurons == 3 and term.updates == 6
    assert term.leaky == (cls not in ("IF", "I"))


def test_v_reset_of_later_nir_releases_is_used():
    node = nir.IF(r=np.ones(2, dtype=np.float32), v_threshold=np.ones(2, dtype=np.float32))
    node.v_reset = np.array([-1.0, 0.5], dtype=np.float32)  # nir >= 1.0.5 has the field
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([2])), "if": node, "output": nir.Output(np.array([2]))},
        edges=[("input", "if"), ("if", "output")],
    )
    z, v = syops.nir.to_torch(g).get_submodule("if")(torch.full((1, 2), 2.0))
    assert torch.equal(z, torch.ones(1, 2)) and torch.equal(v, torch.tensor([[-1.0, 0.5]]))


# -- the NIR paper's CSNN for N-MNIST (2×34×34), random weights ------------------------------------------


def csnn(seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.normal(0.0, 0.3, size=shape).astype(np.float32)

    def neuron(*shape):
        return nir.IF(r=np.ones(shape, dtype=np.float32), v_threshold=np.ones(shape, dtype=np.float32))

    nodes = {
        "input": nir.Input(np.array([2, 34, 34])),
        "conv1": nir.Conv2d((34, 34), w(16, 2, 5, 5), 2, 1, 1, 1, w(16)),
        "if1": neuron(16, 16, 16),
        "conv2": nir.Conv2d((16, 16), w(16, 16, 3, 3), 1, 1, 1, 1, w(16)),
        "if2": neuron(16, 16, 16),
        "pool1": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        "conv3": nir.Conv2d((8, 8), w(8, 16, 3, 3), 1, 1, 1, 1, w(8)),
        "if3": neuron(8, 8, 8),
        "pool2": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
        "flatten": nir.Flatten({"input": np.array([8, 4, 4])}, 0),
        "fc1": nir.Affine(w(256, 128), w(256)),
        "if4": neuron(256),
        "fc2": nir.Affine(w(10, 256), w(10)),
        "if5": neuron(10),
        "output": nir.Output(np.array([10])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)))


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def test_csnn_structural_counts_per_step_and_brute_force_synops():
    steps = 3
    g = csnn()
    x = (torch.rand(steps, 2, 2, 34, 34, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    report = syops.profile(g, inputs=x)
    per_step = report.per_timestep()

    s1 = conv_out(34, 5, 2, 1)  # 16
    s2 = conv_out(s1, 3, 1, 1)  # 16, then pooled to 8
    s3 = conv_out(s2 // 2, 3, 1, 1)  # 8, then pooled to 4
    dense = {  # output elements × (in-channels × kernel), plus one per output element for the bias
        "conv1": 16 * s1 * s1 * (2 * 25) + 16 * s1 * s1,
        "conv2": 16 * s2 * s2 * (16 * 9) + 16 * s2 * s2,
        "pool1": 16 * s2 * s2,  # pooling: its input elements
        "conv3": 8 * s3 * s3 * (16 * 9) + 8 * s3 * s3,
        "pool2": 8 * s3 * s3,
        "fc1": 256 * 8 * (s3 // 2) ** 2 + 256,
        "fc2": 10 * 256 + 10,
    }
    neurons = {"if1": 16 * s1 * s1, "if2": 16 * s2 * s2, "if3": 8 * s3 * s3, "if4": 256, "if5": 10}
    params = {"conv1": 16 * 2 * 25 + 16, "conv2": 16 * 16 * 9 + 16, "conv3": 8 * 16 * 9 + 8}
    params |= {"fc1": 128 * 256 + 256, "fc2": 256 * 10 + 10}
    for name, macs in dense.items():
        assert per_step.layer(name).dense_macs == macs, name
    for name, count in neurons.items():
        layer = per_step.layer(name)
        assert (layer.neurons, layer.neuron_updates, layer.calls) == (count, count, steps), name
        assert layer.acs == count and layer.macs == 0  # IF: one AC per update
    assert {layer.name: layer.params for layer in report.layers if layer.params} == params
    assert report.totals["params"] == 39_890
    weight_macs = sum(dense[n] for n in ("conv1", "conv2", "conv3", "fc1", "fc2")) - (8970 - 0)
    assert weight_macs == 903_680 and sum(neurons.values()) == 8970
    assert per_step.totals["neuron_updates"] == 8970

    # synops against brute force on the inputs each synaptic layer received (recorded here with hooks)
    module = syops.nir.to_torch(g)
    seen: dict[str, list[torch.Tensor]] = {}
    for name, sub in module.named_modules():
        if isinstance(sub, (nn.Conv2d, nn.Linear, nn.AvgPool2d)):
            sub.register_forward_hook(lambda m, i, o, n=name: seen.setdefault(n, []).append((i[0], o)))
    with torch.no_grad():
        module(x)
    for name in ("conv1", "conv2", "conv3", "fc1", "fc2"):
        layer = module.get_submodule(name)
        brute = brute_force_conv_synops if isinstance(layer, nn.Conv2d) else brute_force_linear_synops
        want = math.fsum(brute(layer, inp) for inp, _ in seen[name])
        assert report.layer(name).synops == want, name
        bias = sum(out.numel() for _, out in seen[name]) / 2
        assert report.layer(name).acs == want + bias and report.layer(name).macs == 0, name
    # SumPool2d: exact integer window sums (events for the next conv), not average × k²
    for inp, out in seen["pool1"] + seen["pool2"]:
        sums = torch.nn.functional.avg_pool2d(inp.double(), 2, 2, divisor_override=1)
        assert torch.equal(out.double(), sums) and torch.equal(out, out.round())
    assert report.layer("conv3").input_event_rate > 0 and report.layer("fc1").input_event_rate is not None
    for name in neurons:
        assert 0 < report.layer(name).output_spike_rate < 1, name


def test_reference_modules_avoid_nirtorch_defaults():
    """nirtorch 2.0.2 (the release that co-installs with sinabs 3.1.3): its Affine leaves the bias
    random, its Conv2d swaps in/out channels; syops' modules take both from the node."""
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(8, 3, 3, 3)).astype(np.float32), np.arange(8, dtype=np.float32)
    conv = syops.nir.Conv2d(weight, bias, 1, 1, 1, 1)
    assert (conv.in_channels, conv.out_channels) == (3, 8) and torch.equal(conv.bias, torch.from_numpy(bias))
    affine = syops.nir.Affine(np.ones((2, 3), dtype=np.float32), np.array([1.0, 2.0], dtype=np.float32))
    assert torch.equal(affine(torch.zeros(1, 3)), torch.tensor([[1.0, 2.0]]))
    grouped = syops.nir.Conv2d(rng.normal(size=(4, 1, 3, 3)), None, 1, "same", 1, 2)
    assert (grouped.in_channels, grouped.out_channels, grouped.groups, grouped.padding) == (2, 4, 2, "same")


def test_node_names_that_are_module_attributes_keep_working():
    """A node named like an attribute of the module (forward, plan, training) keeps its name exactly; it
    still runs and counts (tests/test_hardening_nir.py tries many more names)."""
    ones = np.ones((3, 3), dtype=np.float32)
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([3])),
            "forward": nir.Linear(ones),
            "plan": nir.IF(r=np.ones(3, dtype=np.float32), v_threshold=np.ones(3, dtype=np.float32)),
            "output": nir.Output(np.array([3])),
        },
        edges=[("input", "forward"), ("forward", "plan"), ("plan", "output")],
    )
    x = spikes((3,))
    report = syops.profile(g, inputs=x)
    assert [layer.name for layer in report.layers] == ["forward", "plan"]
    assert report.layer("forward").synops == float(x.sum()) * 3 / B
    assert "shape=[3]" in repr(syops.nir.to_torch(g))


@settings(max_examples=25)
@given(
    dims=st.sampled_from([1, 2]),
    groups=st.sampled_from([1, 2]),
    per_group=st.integers(1, 2),
    out_per_group=st.integers(1, 2),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    padding=st.sampled_from([0, 1, 2, "same", "valid"]),
    size=st.integers(6, 9),
    as_arrays=st.booleans(),
)
def test_conv_nodes_match_brute_force(
    dims, groups, per_group, out_per_group, kernel, stride, dilation, padding, size, as_arrays
):
    """NIR Conv1d / Conv2d of any geometry (parameters as a .nir file gives them back: numpy arrays and
    integers): the output of F.conv and synops of a convolution of ones over the events."""
    if padding == "same":
        stride = 1  # torch's "same" needs stride 1
    c_in, c_out = groups * per_group, groups * out_per_group
    rng = np.random.default_rng(kernel * 7 + size)
    weight = rng.normal(size=(c_out, per_group, *(kernel,) * dims)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)

    def geometry(value):
        return np.array([value] * dims) if as_arrays and not isinstance(value, str) else value

    cls = syops.nir.Conv1d if dims == 1 else syops.nir.Conv2d
    try:
        conv = cls(weight, bias, geometry(stride), geometry(padding), geometry(dilation), np.int64(groups))
    except ValueError:
        return  # torch refuses the geometry (padding larger than half the kernel span)
    x = (torch.rand(2, c_in, *(size,) * dims, generator=torch.Generator().manual_seed(size)) < 0.4).float()
    torch_conv = torch.nn.functional.conv1d if dims == 1 else torch.nn.functional.conv2d
    try:
        want = torch_conv(x, torch.from_numpy(weight), torch.from_numpy(bias), stride, padding, dilation, groups)
    except RuntimeError:
        return  # the kernel does not fit the input
    assert torch.allclose(conv(x), want, atol=1e-5)
    report = syops.profile(conv, inputs=x)
    assert report.layer("").synops == brute_force_conv_synops(conv, x)
    assert (conv.in_channels, conv.out_channels, conv.groups) == (c_in, c_out, groups)


def test_a_dataloader_of_sequences_with_time_first():
    """Recorded [T, ...] samples batched time-first: every batch runs from rest, counts per sample."""
    samples = spikes((8,), seed=3).transpose(0, 1)  # B samples of [T, 8]
    loader = torch.utils.data.DataLoader(list(samples), batch_size=2, collate_fn=lambda b: torch.stack(b, 1))
    report = syops.profile(feedforward(), dataloader=loader, dt=DT)
    whole = syops.profile(feedforward(), inputs=samples.transpose(0, 1), dt=DT)
    assert report.samples == B and report.timesteps == T
    for layer in whole.layers:
        other = report.layer(layer.name, layer.type)
        assert (other.synops, other.neuron_updates, other.acs) == (layer.synops, layer.neuron_updates, layer.acs)


def test_files_the_installed_nir_cannot_read_are_read_as_stored(tmp_path):
    """A later nir writes fields (v_reset) and nodes (CubaLI) that nir 1.0.4 cannot read: syops reads
    them from the file as stored and runs them as the same graph in memory."""
    g = recurrent()
    path = tmp_path / "reset.nir"
    nir.write(path, g)
    reset = np.full(5, -0.25, dtype=np.float32)
    with h5py.File(path, "r+") as f:
        f["node/nodes/lif1/v_reset"] = reset
    g.nodes["lif1"].v_reset = reset
    x = spikes((6,), rate=0.6)
    stored = syops.nir.read(path)
    assert isinstance(stored, syops.nir.StoredNode) and stored.nodes["lif1"].nir_type == "CubaLIF"
    assert torch.equal(syops.nir.to_torch(stored, dt=DT).get_submodule("lif1").v_reset, torch.from_numpy(reset))
    assert syops.profile(path, inputs=x, dt=DT).to_dict() == syops.profile(g, inputs=x, dt=DT).to_dict()
    assert syops.profile(stored, inputs=x, dt=DT).to_dict() == syops.profile(g, inputs=x, dt=DT).to_dict()

    g = current_based()  # with a CubaLI node
    path = tmp_path / "cubali.nir"
    nir.write(path, g)
    x = spikes((2, 10))
    assert syops.profile(path, inputs=x, dt=DT).to_dict() == syops.profile(g, inputs=x, dt=DT).to_dict()
