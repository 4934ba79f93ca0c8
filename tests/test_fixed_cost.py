"""The steps of a profile that read the model before it runs share one walk of its tree (syops.tree) and
find what torch's own walks find; the snapshot's cheaper bookkeeping restores what it restored before."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import syops
from syops import frameworks, neurobench
from syops.inputs import _is_squeeze_layer
from syops.profiler import _parameters_of
from syops.tree import ModuleTree, has_children, named_children


def _awkward() -> nn.Module:
    """Shared modules (under two parents, and twice under one), a None child, tied parameters, a None
    parameter and buffer, a Linear with children, recurrent layers, nested activations."""
    shared = nn.ReLU()
    lin = nn.Linear(3, 3)
    net = nn.Sequential(nn.Sequential(shared, lin), nn.Sequential(shared, nn.Sigmoid(), lin), nn.Sequential())
    net.add_module("none", None)
    net.add_module("again", lin)
    odd = nn.Linear(3, 3)
    odd.inner = nn.Sequential(nn.ReLU(), nn.Conv1d(1, 2, 2))
    net.add_module("odd", odd)
    net.add_module("rnn", nn.GRU(3, 4))
    net.add_module("cell", nn.LSTMCell(3, 4))
    tied = nn.Linear(3, 3, bias=False)
    tied.register_parameter("alias", tied.weight)
    tied.register_parameter("nothing", None)
    tied.register_buffer("count", torch.zeros(()))
    tied.register_buffer("empty", None)
    net.add_module("tied", tied)
    net.add_module("bn", nn.BatchNorm1d(3))
    return net


def _models() -> list[nn.Module]:
    import torchvision

    return [_awkward(), torchvision.models.resnet18(), nn.Linear(2, 2), nn.Sequential()]


def _same(a, b) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("index", range(4))
def test_tree_is_torchs_walk(index):
    model = _models()[index]
    tree = ModuleTree(model)
    assert [n for n, _ in tree.named] == [n for n, _ in model.named_modules()]
    assert _same(tree.modules, list(model.modules()))
    assert _same(tree.parameters, list(model.parameters()))
    assert _same(tree.buffers, list(model.buffers()))
    assert _same(list(tree.tensors()), [*model.parameters(), *model.buffers()])
    for module in tree.modules:
        assert [n for n, _ in named_children(module)] == [n for n, _ in module.named_children()]
        assert _same([c for _, c in named_children(module)], list(module.children()))
        assert has_children(module) == any(True for _ in module.children())


def _oracle_layers(module: nn.Module, types: tuple[type, ...], prefix: str = ""):
    """NeuroBench's recursion: children matching ``types``, else their children."""
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(child, types):
            yield path, child
        elif any(True for _ in child.children()):
            yield from _oracle_layers(child, types, path)


def _oracle_sparsity(model: nn.Module) -> list[torch.Tensor]:
    tensors = []
    for module in model.modules():
        if any(True for _ in module.children()):
            continue
        if isinstance(module, neurobench.STATELESS_LAYERS):
            tensors.append(module.weight)
        elif isinstance(module, neurobench.RECURRENT_LAYERS):
            tensors += neurobench._recurrent_tensors(module)
    return tensors


@pytest.mark.parametrize("index", range(4))
def test_recorder_finds_neurobenchs_layers(index):
    model = _models()[index]
    connections = list(_oracle_layers(model, neurobench.STATELESS_LAYERS + neurobench.RECURRENT_LAYERS))
    activations = [path for path, _ in _oracle_layers(model, neurobench.ACTIVATIONS)]
    for recorder in (neurobench.ConnectionRecorder(model), neurobench.ConnectionRecorder(model, ModuleTree(model))):
        stateless = [(p, m) for p, m in connections if isinstance(m, neurobench.STATELESS_LAYERS)]
        assert [p for p, _ in recorder.layers] == [p for p, _ in stateless]
        assert _same([m for _, m in recorder.layers], [m for _, m in stateless])
        assert recorder.recurrent == tuple(p for p, m in connections if isinstance(m, neurobench.RECURRENT_LAYERS))
        assert list(recorder.activations) == activations
        assert _same(recorder.sparsity, _oracle_sparsity(model))
        tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}.values()
        assert recorder.footprint == sum(t.numel() * t.element_size() for t in tensors)
    if index == 0:  # the shared Linear is a connection under each of its three paths
        assert [p for p, m in connections if m is model.again] == ["0.1", "1.2", "again"]


def test_module_containing_itself_is_a_recursion_error():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    net[1].add_module("back", net)
    with pytest.raises(RecursionError):
        neurobench.ConnectionRecorder(net)


def test_frameworks_in_order_of_first_use():
    import sinabs.layers as sl
    import snntorch

    model = nn.Sequential(nn.Linear(2, 2), snntorch.Leaky(beta=0.5), sl.IAF(), snntorch.Leaky(beta=0.5))
    oracle = []
    for module in model.modules():
        for cls in type(module).__mro__:
            package = cls.__module__.split(".")[0]
            if package in frameworks.ADAPTERS and package not in oracle:
                oracle.append(package)
    assert frameworks.frameworks_of(model) == oracle == ["snntorch", "sinabs"]
    assert frameworks.frameworks_of(model, ModuleTree(model).modules) == oracle


def test_squeeze_layers_found_as_hasattr_finds_them():
    import sinabs.layers as sl

    class DuckSqueeze(nn.Module):  # the interface as instance attributes, not a class's method
        def __init__(self) -> None:
            super().__init__()
            self.squeeze_forward = lambda x: x
            self.num_timesteps = 2
            self.batch_size = None

    class Named(nn.Module):  # "squeeze_forward" a submodule, found by Module.__getattr__
        def __init__(self) -> None:
            super().__init__()
            self.squeeze_forward = nn.Identity()
            self.num_timesteps = 2
            self.batch_size = 1

    def oracle(m: nn.Module) -> bool:
        return hasattr(m, "squeeze_forward") and hasattr(m, "num_timesteps") and hasattr(m, "batch_size")

    for module in (sl.IAFSqueeze(batch_size=2), sl.IAF(), nn.Linear(2, 2), DuckSqueeze(), Named(), nn.Sequential()):
        assert _is_squeeze_layer(module) == oracle(module)
    assert all(_is_squeeze_layer(m) for m in (DuckSqueeze(), Named(), sl.IAFSqueeze(batch_size=2)))


@pytest.mark.parametrize("recurse", [True, False])
def test_report_parameters_are_torchs(recurse):
    for module in ModuleTree(_awkward()).modules:
        found = _parameters_of(module, recurse)
        assert _same(sorted(found, key=id), sorted(module.parameters(recurse=recurse), key=id))


SEEN: list[bool] = []  # outside the model: a list attribute would be restored, emptied
CALLS: list[bool] = []


class _Recording(nn.Module):
    """Records whether any of its modules was training when its forward ran."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        SEEN.append(self.training or self.fc.training or self.drop.training)
        return self.drop(self.fc(x))


def test_eval_for_the_profile_and_training_mode_back():
    net = _Recording().train()
    SEEN.clear()
    syops.profile(net, (4,))
    assert SEEN == [False]
    assert net.training and net.fc.training and net.drop.training


def test_overridden_train_is_called():
    class Custom(_Recording):
        def train(self, mode: bool = True):
            CALLS.append(mode)
            return super().train(mode)

    net = nn.Sequential(Custom()).train()
    CALLS.clear()
    SEEN.clear()
    syops.profile(net, (4,))
    assert CALLS == [False]  # (the snapshot restores the flags without calling train)
    assert SEEN == [False] and net.training and net[0].fc.training


def test_containers_a_forward_fills_are_emptied_in_place():
    class Filler(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)
            self.log: list = []
            self.cache: dict = {}
            self.tags: set = set()
            self.kept = [1, 2]

        def forward(self, x):
            self.log.append(x)
            self.cache["x"] = x
            self.tags.add("ran")
            self.kept.pop()
            self.fc.register_forward_hook(lambda *a: None)  # fills an empty hook dictionary
            return self.fc(x)

    net = Filler()
    log, cache, tags, kept, hooks = net.log, net.cache, net.tags, net.kept, net.fc._forward_hooks
    syops.profile(net, (4,))
    assert net.log is log and net.cache is cache and net.tags is tags and net.kept is kept
    assert log == [] and cache == {} and tags == set() and kept == [1, 2]
    assert net.fc._forward_hooks is hooks and len(hooks) == 0


def test_parameter_viewed_as_another_dtype_comes_back():
    """Same storage, offset, shape and strides, another dtype of the same size: restore must still put the
    float back."""

    class Viewer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            out = self.fc(x)
            self.fc.weight.data = self.fc.weight.data.view(torch.complex32)
            return out

    net = Viewer()
    before = net.fc.weight.detach().clone()
    storage = net.fc.weight.untyped_storage().data_ptr()
    syops.profile(net, (4,))
    assert net.fc.weight.dtype == torch.float32 and torch.equal(net.fc.weight.detach(), before)
    assert net.fc.weight.untyped_storage().data_ptr() == storage


def test_cpu_profile_seeds_only_the_cpu_generator(monkeypatch):
    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc((torch.rand_like(x) > 0.5).float())  # random events from the global generator

    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: seeded.append(seed))
    net = Noisy()
    state = torch.get_rng_state()
    first = syops.profile(net, (8,), seed=3).layer("fc").synops
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator as it was
    assert syops.profile(net, (8,), seed=3).layer("fc").synops == first
    torch.manual_seed(3)
    assert first == 3 * float((torch.rand(1, 8) > 0.5).sum())  # the forward's draws, seeded by seed=3
    assert seeded == [3]  # by the test's own torch.manual_seed only: the profile left CUDA's generators alone


def test_a_hook_set_behaves_as_torchs_registered_hooks():
    """HookSet's hooks see what torch's registered ones see (kwargs; its forward hook before the module's
    own), take ids no other hook has, and leave every hook dictionary as it was once removed."""
    from syops.hookset import HookSet

    class Keyword(nn.Module):
        def forward(self, x, *, scale=1.0):
            return x * scale

    m = Keyword()
    seen = []
    user = m.register_forward_hook(lambda mod, args, out: seen.append("user"))
    before = [dict(d) for d in (m._forward_pre_hooks, m._forward_pre_hooks_with_kwargs, m._forward_hooks)]
    hooks = HookSet()
    hooks.add(
        m,
        lambda mod, args, kwargs: seen.append(("pre", kwargs)),
        lambda mod, args, kwargs, out: seen.append(("post", kwargs)),
    )
    later = m.register_forward_pre_hook(lambda mod, args: seen.append("later"))
    m(torch.ones(2), scale=3.0)
    assert seen == [("pre", {"scale": 3.0}), "later", ("post", {"scale": 3.0}), "user"]
    hooks.remove()
    later.remove()
    after = [dict(d) for d in (m._forward_pre_hooks, m._forward_pre_hooks_with_kwargs, m._forward_hooks)]
    assert after == before and not m._forward_hooks_with_kwargs
    user.remove()


def test_a_hook_sets_always_called_hook_runs_when_the_forward_raises():
    from syops.hookset import HookSet

    class Raises(nn.Module):
        def forward(self, x):
            raise ValueError("no")

    m = Raises()
    seen = []
    hooks = HookSet()
    hooks.add(m, lambda *a: None, lambda *a: seen.append("post"), lambda mod, args, kwargs, out: seen.append("always"))
    with pytest.raises(ValueError):
        m(torch.ones(1))
    assert seen == ["always"]
    hooks.remove()
    assert not m._forward_hooks and not m._forward_hooks_always_called and not m._forward_pre_hooks
