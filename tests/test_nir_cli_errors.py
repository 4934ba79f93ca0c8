"""NIR graphs on the command line (`syops profile net.nir`) and every error path, in the API and on the
CLI: one line, a non-zero exit, and a `.nir` file never unpickled."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass, field

import h5py
import nir
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from nir_graphs import DT, feedforward, full, nested, recurrent
from torch.utils.data import DataLoader, TensorDataset

import syops
import syops.nir
from syops import SyopsError
from syops.cli.main import main as cli

HERE = __name__
UNPICKLED: list[str] = []


class _Payload:
    def __reduce__(self):
        return (UNPICKLED.append, ("unpickled",))


@dataclass(eq=False)
class Foo(nir.NIRNode):
    """A node type syops does not know."""

    gain: np.ndarray
    metadata: dict = field(default_factory=dict)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.output


def static_frames() -> DataLoader:
    g = torch.Generator().manual_seed(3)
    return DataLoader(TensorDataset(torch.rand(4, 8, generator=g)), batch_size=2)


# -- the command line --------------------------------------------------------------------------------------


def test_cli_profiles_a_nir_file_like_the_api(tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, feedforward())
    result = invoke("profile", str(path), "--timesteps", "5", "--dt", str(DT), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    api = json.loads(syops.profile(feedforward(), timesteps=5, dt=DT).to_json())  # same seeded random input
    assert data["model"] == "net.nir" and data["timesteps"] == 5 and data["input_shape"] == [8]
    assert data["layers"] == api["layers"] and data["totals"] == api["totals"]
    assert [layer["name"] for layer in data["layers"]][:3] == ["fc", "skip", ""]


def test_cli_nir_with_poisson_encoding_and_data(tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, feedforward())
    args = ("profile", str(path), "-T", "4", "--dt", str(DT), "--format", "json", "--encoding", "poisson")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["layers"][0]["input_event_rate"] is not None  # rate-coded spikes: the first layer on events
    result = invoke(*args, "--data", f"{HERE}:static_frames")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    lif = next(layer for layer in data["layers"] if layer["name"] == "lif")
    assert data["samples"] == 4 and lif["neurons"] == 6 and lif["calls"] == 2 * 4
    table = invoke("profile", str(path), "-T", "3", "--dt", str(DT))
    assert table.exit_code == 0 and "lif" in table.stdout and "CubaLIF" not in table.stdout


@pytest.mark.parametrize(
    "extra, expected",
    [
        ((), "no dt"),
        (("--dt", "-1"), "dt must be a positive number"),
        (("--dt", str(DT), "--time-layout", "BT"), "runs --time-layout TB only"),
        (("--dt", str(DT), "--input-shape", "5"), "expects [T, B, 6]"),
        (("--dt", str(DT), "--arch", "snntorch_mlp"), "do not apply to a NIR file"),
    ],
)
def test_cli_nir_errors(tmp_path, extra, expected):
    path = tmp_path / "net.nir"
    nir.write(path, recurrent())
    one_line_error(invoke("profile", str(path), "-T", "3", *extra), expected)


def test_cli_missing_dt_names_the_nodes(tmp_path):
    path = tmp_path / "net.nir"
    nir.write(path, recurrent())
    result = invoke("profile", str(path), "-T", "3")
    one_line_error(result, "nodes lif1, lif2")


def test_cli_dt_for_a_torch_model_is_an_error():
    one_line_error(invoke("profile", "snntorch_mlp", "--dt", "0.001"), "--dt applies to a NIR graph")


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "pickle", "not-nir-hdf5", "unknown-type", "missing"])
def test_bad_nir_files(tmp_path, kind):
    path = tmp_path / "bad.nir"
    expected = {
        "corrupt": "not a readable HDF5 file",
        "truncated": "not a readable HDF5 file",
        "pickle": "not a readable HDF5 file",
        "not-nir-hdf5": "without a NIR graph",
        "unknown-type": "unknown NIR node type 'Foo' (node 'lif')",
        "missing": "no NIR file",
    }[kind]
    if kind == "corrupt":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    elif kind == "truncated":
        nir.write(path, recurrent())
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "pickle":
        path.write_bytes(pickle.dumps(_Payload()))
    elif kind == "not-nir-hdf5":
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=np.zeros(3))
    elif kind == "unknown-type":
        nir.write(path, recurrent())
        with h5py.File(path, "r+") as f:
            del f["node/nodes/lif1/type"]
            f["node/nodes/lif1/type"] = "Foo"
        expected = "unknown NIR node type 'Foo' (node 'lif1')"
    with pytest.raises(SyopsError) as error:
        syops.profile(path, timesteps=2, dt=DT)
    assert expected in str(error.value) and "\n" not in str(error.value)
    one_line_error(invoke("profile", str(path), "-T", "2", "--dt", str(DT)), expected)
    assert UNPICKLED == []  # neither the API nor the CLI unpickled the file


def test_an_hdf5_file_is_nir_whatever_its_name(tmp_path):
    """A .nir file under another name is still read as HDF5, never handed to torch.load."""
    path = tmp_path / "net.pt"
    nir.write(path, feedforward())
    result = invoke("profile", str(path), "-T", "2", "--dt", str(DT), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "net.pt"


# -- the API -----------------------------------------------------------------------------------------------


def _graph(nodes: dict, edges: list[tuple[str, str]]) -> nir.NIRGraph:
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _two_inputs():
    g = feedforward()
    g.nodes["input2"] = nir.Input(np.array([8]))
    g.edges.append(("input2", "skip"))
    return g


def _unknown_type():
    g = feedforward()
    g.nodes["lif"] = Foo(gain=np.ones(6))
    return g


def _shape_mismatch():
    g = feedforward()
    g.nodes["input"] = nir.Input(np.array([6]))
    return g


def _merge_mismatch():
    g = feedforward()
    g.nodes["skip"] = nir.Linear(np.ones((5, 8), dtype=np.float32))
    return g


def _neuron_shape():
    g = feedforward()
    g.nodes["if"] = nir.IF(r=full(5, 1.0), v_threshold=full(5, 1.0))
    return g


def _missing_edge_end():
    g = feedforward()
    g.edges.append(("lif", "nowhere"))
    return g


def _unreached():
    g = feedforward()
    g.nodes["island"] = nir.Linear(np.ones((4, 4), dtype=np.float32))
    return g


def _nested_no_dt():
    return nested()


@pytest.mark.parametrize(
    "build, kwargs, expected",
    [
        (_two_inputs, {"dt": DT}, "has 2 Input nodes (input, input2)"),
        (_unknown_type, {"dt": DT}, "unknown NIR node type 'Foo' (node 'lif')"),
        (_shape_mismatch, {"dt": DT}, "NIR node 'fc' (Affine) expects input of shape [8] per sample, got [6]"),
        (_merge_mismatch, {"dt": DT}, "NIR node 'lif' receives edges of different shapes: fc [6], skip [5]"),
        (_neuron_shape, {"dt": DT}, "NIR node 'if' (IF) expects input of shape [5] per sample, got [4]"),
        (_missing_edge_end, {"dt": DT}, "to a node it does not have ('nowhere')"),
        (_unreached, {"dt": DT}, "no path from its Input to island"),
        (feedforward, {}, "time constants (nodes lif, li) but no dt"),
        (_nested_no_dt, {}, "time constants (nodes sub.lif) but no dt"),
        (feedforward, {"dt": 0.0}, "dt must be a positive number"),
        (feedforward, {"dt": DT, "time_layout": "BT"}, "a NIR graph runs [T, B, ...] inputs"),
        (feedforward, {"dt": DT, "inputs": torch.zeros(3, 2, 6)}, "expects [T, B, 8]"),
    ],
)
def test_graph_errors_are_one_line(build, kwargs, expected):
    kwargs = {"timesteps": None, **kwargs}
    with pytest.raises(SyopsError) as error:
        syops.profile(build(), **kwargs)
    message = str(error.value)
    assert expected in message and "\n" not in message, message
    if "inputs" not in kwargs and "time_layout" not in kwargs:
        with pytest.raises(SyopsError, match=r"^[^\n]+$"):
            syops.nir.to_torch(build(), dt=kwargs.get("dt"))


def test_dt_is_for_graphs_only():
    with pytest.raises(SyopsError, match="dt applies to a NIR graph"):
        syops.profile(torch.nn.Linear(2, 2), input_res=(2,), dt=0.1)
    with pytest.raises(SyopsError, match=r"model must be a torch\.nn\.Module"):
        syops.profile("net.pt", input_res=(2,))  # a path that is not a NIR file goes nowhere near nir


def test_dynapcnn_reads_the_nmnist_csnn_from_a_nir_file(tmp_path):
    """The NIR paper's CSNN was made for Speck: read from its .nir file (input shape from the graph), its
    IF nodes are the chip's IAF neurons and its SumPool2d the chip's sum pooling."""
    from test_nir import csnn

    path = tmp_path / "csnn.nir"
    nir.write(path, csnn())
    result = invoke("dynapcnn", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fits"] and [layer["name"] for layer in data["layers"]] == ["conv1", "conv2", "conv3", "fc1", "fc2"]

    def kernel_memory(c, k, f):  # c · 2^(⌈log2 k⌉ + ⌈log2 f⌉), sinabs' memory_summary
        return c * 2 ** (math.ceil(math.log2(k)) + math.ceil(math.log2(f)))

    want = [kernel_memory(2, 25, 16), kernel_memory(16, 9, 16), kernel_memory(16, 9, 8)]
    want += [kernel_memory(8, 16, 256), kernel_memory(256, 1, 10)]  # a Linear is a conv over its whole input
    assert [layer["kernel_memory"] for layer in data["layers"]] == want
    assert [layer["output_shape"] for layer in data["layers"]] == [
        [16, 16, 16],
        [16, 8, 8],
        [8, 4, 4],
        [256, 1, 1],
        [10, 1, 1],
    ]
    assert sum(layer["neuron_memory_theoretical"] for layer in data["layers"]) == 8970
    assert [layer["core"] for layer in data["layers"]] == [0, 1, 2, 3, 4]
