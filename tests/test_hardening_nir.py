"""Hostile and odd NIR graphs and `.nir` files (issue 18): a node's row carries its own name whatever it
is, a tiny file cannot make syops allocate what it declares, and every odd file gives one SyopsError
line (exit 2 on the command line), never a traceback or a wrong number."""

from __future__ import annotations

import copy
import pickle

import h5py
import nir
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import syops
import syops.nir
import syops.validate
from syops import SyopsError
from syops.cli.main import main as cli

DT = 2.0**-10
ODD_NAMES = [
    "forward", "forward_", "forward__", "training", "_modules", "__class__", "to", "eval", "__dict__",
    "_parameters", "_buffers", "plan", "expects", "stateful", "operand_bits", "hook_data", "squeeze_forward",
    "num_timesteps", "batch_size", "a/b", "a.b", "x" * 300, "τ_mem", "层1", "Слой", " ", "(model)",
]  # fmt: skip


def chain_graph(names: list[str], first: int = 2) -> nir.NIRGraph:
    """Input → one Affine per name → Output; node i maps first + i - 1 (or ``first``) to first + i + 1
    features, so its parameter count (and synops) say which node a row belongs to."""
    nodes: dict = {"in": nir.Input(np.array([first]))}
    edges, previous, width = [], "in", first
    for i, name in enumerate(names):
        out = first + i + 1
        nodes[name] = nir.Affine(np.full((out, width), 0.25, np.float32), np.zeros(out, np.float32))
        edges.append((previous, name))
        previous, width = name, out
    nodes["out"] = nir.Output(np.array([width]))
    edges.append((previous, "out"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def expected_params(i: int, first: int = 2) -> int:
    width = first + i
    return (width + 1) * width + (width + 1)


def one_line(exc: pytest.ExceptionInfo, *parts: str) -> None:
    text = str(exc.value)
    assert "\n" not in text, text
    for part in parts:
        assert part in text, text


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 1 GiB, so that the limits below are the same wherever the tests run."""
    monkeypatch.setattr(syops.validate, "_memory_bytes", lambda device: 1 << 30)


# -- names -------------------------------------------------------------------------------------------------


def test_every_row_carries_its_own_nodes_name_and_counts():
    g = chain_graph(ODD_NAMES)
    x = (torch.rand(3, 2, 2, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    report = syops.profile(g, inputs=x)
    assert [row.name for row in report.layers] == ODD_NAMES
    for i, name in enumerate(ODD_NAMES):
        assert report.layer(name).params == expected_params(i), name
    # synops of the first node: its input spikes × its fan-out (3), per sample
    assert report.layer("forward").synops == float(x.sum()) * 3 / 2


def test_the_module_keeps_nodes_out_of_its_attributes():
    module = syops.nir.to_torch(chain_graph(ODD_NAMES))
    module.train()
    assert module.training is True and all(child.training for child in module.children())
    module.eval()
    assert module.training is False and not any(child.training for child in module.children())
    assert callable(module.forward) and not isinstance(module.forward, torch.nn.Module)
    for name in ("operand_bits", "hook_data", "squeeze_forward", "batch_size", "num_timesteps"):
        assert not hasattr(module, name), name  # a probe of the model never finds a node
    for name in ODD_NAMES:
        assert module.get_submodule(name) is module._modules[name]
    x = torch.ones(2, 1, 2)
    assert torch.equal(copy.deepcopy(module)(x), module(x))
    assert torch.equal(pickle.loads(pickle.dumps(module))(x), module(x))


def test_names_survive_a_nir_file(tmp_path):
    names = ["forward", "forward_", "training", "a/b", "a.b", "τ_mem", "x" * 300]
    path = tmp_path / "names.nir"
    nir.write(path, chain_graph(names))
    report = syops.profile(path, timesteps=2)
    assert [row.name for row in report.layers] == names
    for i, name in enumerate(names):
        assert report.layer(name).params == expected_params(i), name


def test_names_in_a_nested_graph():
    inner = chain_graph(["forward", "b"])
    outer = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2])), "a": inner, "out": nir.Output(np.array([4]))},
        edges=[("in", "a"), ("a", "out")],
    )
    report = syops.profile(outer, inputs=torch.ones(2, 1, 2))
    assert report.layer("a.forward").params == expected_params(0)
    assert report.layer("a.b").params == expected_params(1)
    assert syops.nir.to_torch(outer).get_submodule("a.forward").out_features == 3


def test_names_that_cannot_be_told_apart_are_refused():
    with pytest.raises(SyopsError) as error:
        syops.nir.to_torch(chain_graph([""]))
    one_line(error, "node named ''")
    inner = chain_graph(["b"])
    clash = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([2])), "a": inner, "a.b": nir.Linear(np.ones((3, 3), np.float32))},
        edges=[("in", "a"), ("a", "a.b"), ("a.b", "out")],
    )
    clash.nodes["out"] = nir.Output(np.array([3]))
    with pytest.raises(SyopsError) as error:
        syops.nir.to_torch(clash)
    one_line(error, "would both be reported as 'a.b'")


# -- sizes a file declares ---------------------------------------------------------------------------------


def write_graph(path, *, weight=None, input_shape=(4,), output_shape=(3,)) -> None:
    weight = np.full((3, 4), 0.5, np.float32) if weight is None else weight
    nodes = {
        "in": nir.Input(np.array(input_shape)),
        "fc": nir.Affine(weight, np.zeros(weight.shape[0], np.float32)),
        "out": nir.Output(np.array(output_shape)),
    }
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "out")]))


def replace(path, where: str, **dataset) -> None:
    with h5py.File(path, "r+") as f:
        group, name = where.rsplit("/", 1)
        del f[where]
        f[group].create_dataset(name, **dataset)


@pytest.mark.parametrize(
    "dataset",
    [
        {"shape": (4096, 8192), "dtype": "f4"},  # 128 MiB never written: the fill value
        {"shape": (1 << 20, 1 << 20), "dtype": "f4"},  # 4 TiB never written
        {"shape": (4096, 4096), "dtype": "f4", "chunks": (1024, 4096), "compression": "gzip", "fillvalue": 0},
    ],
    ids=["unwritten-128MiB", "unwritten-4TiB", "gzip-zeros-64MiB"],
)
def test_a_tiny_file_cannot_declare_a_huge_weight(tmp_path, dataset):
    path = tmp_path / "bomb.nir"
    write_graph(path)
    replace(path, "node/nodes/fc/weight", **dataset)
    if "compression" in dataset:
        with h5py.File(path, "r+") as f:
            f["node/nodes/fc/weight"][:1024] = 0.0
    assert path.stat().st_size < 200_000
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "node 'fc'", "'weight' declares", "GiB")


def test_declared_data_must_fit_this_machine(tmp_path, monkeypatch):
    path = tmp_path / "big.nir"
    write_graph(path, weight=np.ones((256, 1024), np.float32), input_shape=(1024,), output_shape=(256,))
    syops.profile(path, timesteps=1)  # 1 MiB of weights: fine
    monkeypatch.setattr(syops.validate, "_memory_bytes", lambda device: 2 << 20)
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=1)
    one_line(error, "declared data", "node 'fc' weight [256, 1024] float32", "more than this machine has")


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (lambda f: f["node/nodes/fc"].__setitem__("loop", h5py.SoftLink("/node")), "a soft link"),
        (lambda f: f["node/nodes/fc"].__setitem__("x", h5py.ExternalLink("/etc/hostname", "/")), "external link"),
    ],
    ids=["soft-link-cycle", "external-link"],
)
def test_links_are_refused(tmp_path, link, expected):
    path = tmp_path / "links.nir"
    write_graph(path)
    with h5py.File(path, "r+") as f:
        link(f)
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, expected, "node 'fc'")


def test_a_hard_link_fan_out_is_not_expanded(tmp_path):
    """40 groups each linking the next twice: a reader that follows names visits 2**40 of them."""
    path = tmp_path / "fanout.nir"
    write_graph(path)
    with h5py.File(path, "r+") as f:
        previous = f["node/nodes/fc"].create_group("metadata")
        for i in range(40):
            following = f.create_group(f"m{i}")
            previous["a"], previous["b"] = following, following
            previous = following
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "links an object stored elsewhere in the file again")


def nested(depth: int) -> nir.NIRGraph:
    g: object = nir.Linear(np.eye(3, dtype=np.float32))
    for _ in range(depth):
        nodes = {"in": nir.Input(np.array([3])), "g": g, "out": nir.Output(np.array([3]))}
        g = nir.NIRGraph(nodes=nodes, edges=[("in", "g"), ("g", "out")])
    return g  # type: ignore[return-value]


def test_deep_nesting_is_refused(tmp_path):
    assert syops.profile(nested(8), inputs=torch.ones(2, 1, 3)).layer(".".join(["g"] * 8)).params == 9
    with pytest.raises(SyopsError) as error:
        syops.nir.to_torch(nested(200))
    one_line(error, "nested more than 64")
    path = tmp_path / "deep.nir"
    nir.write(path, nested(200))
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "nested more than 64")


# -- shapes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ([-4], "has -4"),
        ([2.5], "has 2.5"),
        ([0], "has 0"),
        ([1 << 40], f"has {1 << 40}"),
        ("abc", "not a list of whole numbers"),
        ([[4, 1]], "not a list of whole numbers"),
    ],
    ids=["negative", "fraction", "zero", "enormous", "text", "two-dimensional"],
)
def test_input_shapes_are_whole_positive_numbers(tmp_path, small_machine, shape, expected):
    path = tmp_path / "input.nir"
    write_graph(path)
    replace(path, "node/nodes/in/shape", data=np.array(shape) if not isinstance(shape, str) else shape)
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "the Input 'in' of the NIR graph", expected)


def test_the_zero_input_probe_must_fit(tmp_path, small_machine):
    path = tmp_path / "probe.nir"
    write_graph(path, input_shape=(1 << 12, 1 << 16))  # 2 × 1 GiB of zeros (main allocated them)
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "zero-input probe of shape [2, 1, 4096, 65536] needs 2 GiB, more than this machine has")


def test_an_output_shape_that_contradicts_the_graph(tmp_path):
    path = tmp_path / "output.nir"
    write_graph(path, output_shape=(7,))
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "the Output 'out' of the NIR graph declares shape [7], but the graph produces [3]")


def test_the_runner_checks_T_times_the_output(monkeypatch):
    g = chain_graph(["wide"])
    g.nodes["wide"] = nir.Affine(np.ones((100_000, 2), np.float32), np.zeros(100_000, np.float32))
    g.nodes["out"] = nir.Output(np.array([100_000]))
    module = syops.nir.to_torch(g)
    monkeypatch.setattr(syops.validate, "_memory_bytes", lambda device: 64 << 20)
    module(torch.zeros(20, 2, 2))  # 2 × 16 MB
    with pytest.raises(SyopsError) as error:
        module(torch.zeros(100, 2, 2))  # 2 × 80 MB
    one_line(error, "the NIR graph's output [100, 2, *[100000]]", "more than this machine has")


# -- parameters --------------------------------------------------------------------------------------------


def lif_graph(**overrides) -> nir.NIRGraph:
    params = {
        "tau": np.full(3, 4 * DT, np.float32),
        "r": np.ones(3, np.float32),
        "v_leak": np.zeros(3, np.float32),
        "v_threshold": np.ones(3, np.float32),
    } | overrides
    nodes = {
        "in": nir.Input(np.array([4])),
        "fc": nir.Affine(np.ones((3, 4), np.float32), np.zeros(3, np.float32)),
        "lif": nir.LIF(**params),
        "out": nir.Output(np.array([3])),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")])


def delay_graph(delay) -> nir.NIRGraph:
    nodes = {
        "in": nir.Input(np.array([3])),
        "d": nir.Delay(np.array(delay, np.float32)),
        "out": nir.Output(np.array([3])),
    }
    return nir.NIRGraph(nodes=nodes, edges=[("in", "d"), ("d", "out")])


NAN3 = np.full(3, np.nan, np.float32)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (lambda: lif_graph(tau=np.zeros(3, np.float32)), "'lif': tau must be > 0 (a time constant), got 0"),
        (lambda: lif_graph(tau=np.full(3, -DT, np.float32)), "'lif': tau must be > 0"),
        (lambda: lif_graph(tau=NAN3), "'lif': tau holds 3 non-finite value(s) (nan)"),
        (lambda: lif_graph(v_threshold=NAN3), "'lif': v_threshold holds 3 non-finite"),
        (lambda: lif_graph(r=np.full(3, np.inf, np.float32)), "'lif': r holds 3 non-finite value(s) (inf)"),
        (lambda: delay_graph([-DT] * 3), "'d': delay must be >= 0, got -0.000976562"),
        (lambda: delay_graph([np.nan] * 3), "'d': delay holds 3 non-finite"),
    ],
    ids=["tau-zero", "tau-negative", "tau-nan", "threshold-nan", "r-inf", "delay-negative", "delay-nan"],
)
def test_neuron_parameters_are_refused_by_name(tmp_path, graph, expected):
    with pytest.raises(SyopsError) as error:
        syops.profile(graph(), inputs=torch.ones(2, 1, 4 if "lif" in expected else 3), dt=DT)
    one_line(error, expected)
    path = tmp_path / "params.nir"
    nir.write(path, graph())
    result = CliRunner().invoke(cli, ["profile", str(path), "-T", "2", "--dt", str(DT)])
    assert result.exit_code == 2 and result.stderr.strip().count("\n") == 0 and expected in result.stderr


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(value):
    weight = np.full((3, 4), 0.5, np.float32)
    weight[1, 2] = value
    g = lif_graph()
    g.nodes["fc"] = nir.Affine(weight, np.zeros(3, np.float32))
    with pytest.raises(SyopsError) as error:
        syops.profile(g, inputs=torch.ones(2, 1, 4), dt=DT)
    one_line(error, "NIR node 'fc': weight holds 1 non-finite value(s)")


def test_parameters_of_mismatched_shapes_are_one_line(tmp_path):
    path = tmp_path / "mismatch.nir"
    nir.write(path, lif_graph())
    replace(path, "node/nodes/lif/tau", data=np.full(5, 4 * DT, np.float32))
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2, dt=DT)
    one_line(error, "NIR node 'lif' (LIF)")


def test_a_cycle_of_stateless_nodes_runs_one_step_late():
    """a → b → a with identity weights: b's output reaches a at the next step (docs/nir.md)."""
    eye = np.eye(3, dtype=np.float32)
    g = nir.NIRGraph(
        nodes={
            "in": nir.Input(np.array([3])),
            "a": nir.Linear(eye),
            "b": nir.Linear(eye),
            "out": nir.Output(np.array([3])),
        },
        edges=[("in", "a"), ("a", "b"), ("b", "a"), ("b", "out")],
    )
    y = syops.nir.to_torch(g)(torch.ones(3, 1, 3))
    assert y[:, 0, 0].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "edges",
    [np.array([b"in", b"fc"]), np.array([[b"in", b"fc", b"out"]]), np.array([[1, 2]])],
    ids=["one-dimensional", "triples", "numbers"],
)
def test_edges_that_are_not_pairs_of_names(tmp_path, edges):
    """A 1-D edges dataset was read as the edge 105 -> 110 (the bytes of "in"); triples raised ValueError."""
    path = tmp_path / "edges.nir"
    write_graph(path)
    replace(path, "node/edges", data=edges)
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "not a pair of node names")


def test_a_float64_parameter_beyond_float32_is_refused(tmp_path):
    """1e300 became inf in float32 without a word."""
    path = tmp_path / "overflow.nir"
    write_graph(path)
    replace(path, "node/nodes/fc/weight", data=np.full((3, 4), 1e300))
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "NIR node 'fc': weight holds 1e+300, beyond float32")


def test_the_probe_sizes_every_nodes_output_before_it_runs(tmp_path, small_machine):
    """A 1×1 conv with padding 20000 turns an 8×8 Input into 64 × 40008² floats (409 GB) per step: sized
    from the conv's arguments and refused before any of it is allocated."""
    conv = nir.Conv2d(
        input_shape=np.array([8, 8]),
        weight=np.ones((64, 1, 1, 1), np.float32),
        stride=1,
        padding=20000,
        dilation=1,
        groups=1,
        bias=np.zeros(64, np.float32),
    )
    g = nir.NIRGraph(
        nodes={"in": nir.Input(np.array([1, 8, 8])), "c": conv, "out": nir.Output(np.array([64, 40008, 40008]))},
        edges=[("in", "c"), ("c", "out")],
    )
    path = tmp_path / "padding.nir"
    nir.write(path, g)
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2)
    one_line(error, "NIR node 'c' (Conv2d): its output [1, 64, 40008, 40008], held 4× by the zero-input probe")
    assert "needs 1.53e+03 GiB" in str(error.value)


def test_a_long_delay_checks_its_state(small_machine):
    """delay / dt = 2**25 steps: the state of the last inputs is 2**25 × 3 floats (384 MiB), held 4× by the
    probe: more than the 1 GiB machine (small enough that main, which allocated it, survives the test)."""
    nodes = {
        "in": nir.Input(np.array([3])),
        "d": nir.Delay(np.full(3, 1.0, np.float32)),
        "out": nir.Output(np.array([3])),
    }
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "d"), ("d", "out")])
    with pytest.raises(SyopsError) as error:
        syops.nir.to_torch(g, dt=2.0**-25)
    one_line(error, "NIR node 'd' (Delay): its state (the last inputs) [33554432, 1, 3], held 4×")
    assert "needs 1.5 GiB" in str(error.value)
