"""Safe checkpoint loading: weights only unless trusted, nested state dicts, clear refusals."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from syops import SyopsError
from syops.checkpoint import find_state_dict, load_model, read_checkpoint


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


class FileCreator:
    """A pickle that, when loaded, opens (and so creates) a file: what a malicious checkpoint does."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def trained() -> nn.Module:
    torch.manual_seed(7)
    net = small_net()
    with torch.no_grad():
        net[1].running_mean.uniform_()
    return net


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"state_dict": sd, "epoch": 3, "optimizer": {"lr": 0.1}},
        lambda sd: {"model": sd},
        lambda sd: {"checkpoint": 1, "model": {"state_dict": sd}},
        lambda sd: {f"module.{k}": v for k, v in sd.items()},  # DataParallel
    ],
)
def test_state_dict_forms(tmp_path, wrap):
    source = trained()
    path = tmp_path / "weights.pt"
    torch.save(wrap(source.state_dict()), path)
    loaded = load_model(path, small_net)
    assert same_weights(loaded, source)


def test_whole_module_needs_trust(tmp_path):
    source = trained()
    path = tmp_path / "whole.pt"
    torch.save(source, path)
    with pytest.raises(SyopsError, match=r"torch.nn.modules.container.Sequential.*--trust-checkpoint"):
        load_model(path)
    assert same_weights(load_model(path, trust=True), source)
    with pytest.raises(SyopsError, match="drop --arch"):
        load_model(path, small_net, trust=True)


@pytest.mark.parametrize("writer", ["torch.save", "pickle protocol 2", "pickle protocol 5"])
def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path, writer):
    victim = tmp_path / "created_by_the_checkpoint.txt"
    path = tmp_path / "evil.pt"
    payload = {"state_dict": FileCreator(str(victim))}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(payload, f, protocol=int(writer[-1]))
    # Refused by name where the loader gets to the import, by opcode where it stops earlier.
    expected = r"\(io.open\), and loading them would run code" if writer != "pickle protocol 5" else "weights-only"
    with pytest.raises(SyopsError, match=expected):
        load_model(path, small_net)
    assert not victim.exists()
    with pytest.raises(SyopsError):  # from the command line, the same
        read_checkpoint(path)
    assert not victim.exists()


def test_torchscript_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    with pytest.warns(FutureWarning):  # torch.jit.script is deprecated, still what people ship
        scripted = torch.jit.script(nn.Linear(2, 2))
    with pytest.warns(FutureWarning):
        torch.jit.save(scripted, path)
    with pytest.raises(SyopsError, match="TorchScript"):
        load_model(path, small_net)


def test_unreadable_and_mismatched(tmp_path):
    with pytest.raises(SyopsError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(SyopsError, match="not a file"):
        read_checkpoint(tmp_path)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(SyopsError, match=r"cannot read checkpoint .*junk\.pt"):
        read_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 3).state_dict(), other)
    with pytest.raises(SyopsError, match=r"do not match the architecture: keys 9 missing.*2 unexpected"):
        load_model(other, small_net)
    with pytest.raises(SyopsError, match="--arch"):
        load_model(other)
    shapes = tmp_path / "shapes.pt"
    wrong = small_net()
    wrong[3] = nn.Linear(3 * 4 * 4, 6)
    torch.save(wrong.state_dict(), shapes)
    with pytest.raises(SyopsError, match=r"2 of another shape \(e.g. 3.weight: \[6, 48\] vs \[5, 48\]\)"):
        load_model(shapes, small_net)
    nothing = tmp_path / "nothing.pt"
    torch.save({"epoch": 1, "lr": 0.1}, nothing)
    with pytest.raises(SyopsError, match="holds no state_dict"):
        load_model(nothing, small_net)


def test_find_state_dict_ignores_non_tensors():
    assert find_state_dict({"a": 1}) is None
    assert find_state_dict({"model": {"w": torch.ones(1)}}) == {"w": torch.ones(1)}
    assert find_state_dict({}) is None


def test_neuron_state_saved_mid_run_is_not_a_weight(tmp_path):
    import sinabs.layers as sl

    def build():
        return nn.Sequential(nn.Linear(4, 3), sl.IAF())

    torch.manual_seed(2)
    source = build()
    with torch.no_grad():
        source(torch.rand(2, 5, 4))  # v_mem is now shaped [2, 3]
    path = tmp_path / "mid_run.pt"
    torch.save(source.state_dict(), path)
    loaded = load_model(path, build)
    assert torch.equal(loaded[0].weight, source[0].weight)
    assert loaded[1].v_mem.numel() == 0  # fresh state, reset before every batch anyway
