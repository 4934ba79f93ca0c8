"""Parameters come back as they came without a copy of every parameter (syops.guard): each write path
restores the values and storage; a parameter nothing writes is never copied."""

from __future__ import annotations

import copy
from typing import ClassVar

import pytest
import torch
from torch import nn

import syops
from syops import guard


def _writes(path: str):
    """A forward that writes the Linear's weight one way (and doubles its output either way)."""

    def write(w: nn.Parameter) -> None:
        with torch.no_grad():
            if path == "data":
                w.data.mul_(2)
            elif path == "inplace":
                w.add_(1)
            elif path == "setitem":
                w[0, 0] = 7.0
            elif path == "view":
                w.view(-1)[3] = -1.0
            elif path == "detach":
                w.detach().zero_()
            elif path == "numpy":
                w.detach().numpy()[1, 1] = 9.0
            elif path == "out":
                torch.add(w, 1.0, out=w)
            elif path == "foreach":
                torch._foreach_mul_([w], 3.0)
            elif path == "operator":
                w *= 2
            elif path == "replace":
                w.data = torch.zeros(5, 4)  # another storage, another shape
            elif path == "set":
                w.set_(torch.ones(2, 2))

    return write


PATHS = ("data", "inplace", "setitem", "view", "detach", "numpy", "out", "foreach", "operator", "replace", "set")


@pytest.mark.parametrize("path", PATHS)
def test_every_write_path_is_restored(path):
    write = _writes(path)

    class Writer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l = nn.Linear(4, 3)

        def forward(self, x):
            write(self.l.weight)
            return self.l.bias.sum() + x.sum()  # the weight may no longer fit a Linear

    net = Writer()
    weight = net.l.weight
    values, storage = weight.detach().clone(), weight.untyped_storage().data_ptr()
    syops.profile(net, inputs=torch.ones(2, 4))
    assert net.l.weight is weight and type(weight) is nn.Parameter
    assert weight.shape == (3, 4) and weight.untyped_storage().data_ptr() == storage
    assert torch.equal(weight.detach(), values) and weight.requires_grad
    assert not guard._PENDING  # nothing left guarded


def test_a_parameter_nothing_writes_is_never_copied():
    seen = {}

    class Reader(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            y = self.conv(x) * self.scale
            seen["type"] = type(self.scale)
            seen["shape"] = tuple(self.scale.shape)  # a getter hands out nothing writable
            seen["pending"] = {id(self.conv.weight), id(self.conv.bias), id(self.scale)} <= set(guard._PENDING)
            return y

    net = Reader()
    syops.profile(net, inputs=torch.ones(1, 2, 5, 5))
    assert seen["pending"] and seen["shape"] == (1,)
    assert seen["type"] is not nn.Parameter and seen["type"].__name__ == "Parameter"
    assert issubclass(seen["type"], nn.Parameter)
    assert all(type(p) is nn.Parameter for p in net.parameters()) and not guard._PENDING


def test_a_view_handed_out_is_copied_once_and_written_back():
    class Transposing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.arange(6.0).view(2, 3))
            self.kept = []

        def forward(self, x):
            t = self.w.t()  # a view: written later, unseen by the guard
            self.kept.append(t)
            with torch.no_grad():
                t.mul_(0)
            return x @ self.w.t()

    net = Transposing()
    syops.profile(net, inputs=torch.ones(1, 3))
    assert torch.equal(net.w.detach(), torch.arange(6.0).view(2, 3)) and net.kept == []


def test_shared_deep_copied_and_raising_cases():
    shared = nn.Linear(3, 3)

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = shared, nn.Linear(3, 3)
            self.b.weight = shared.weight  # tied
            self.copies = []

        def forward(self, x):
            self.copies.append(copy.deepcopy(self.a))
            with torch.no_grad():
                self.b.weight.mul_(2)
            return self.b(self.a(x))

    net = Odd()
    before = shared.weight.detach().clone()
    syops.profile(net, inputs=torch.ones(1, 3))
    assert torch.equal(shared.weight.detach(), before) and net.b.weight is shared.weight
    assert type(shared.weight) is nn.Parameter

    class Raising(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l = nn.Linear(3, 3)
            self.copies = []

        def forward(self, x):
            self.copies.append(copy.deepcopy(self.l))
            with torch.no_grad():
                self.l.weight.zero_()
            raise RuntimeError("boom")

    net = Raising()
    before = net.l.weight.detach().clone()
    with pytest.raises(syops.SyopsError, match="boom"):
        syops.profile(net, inputs=torch.ones(1, 3))
    assert torch.equal(net.l.weight.detach(), before) and type(net.l.weight) is nn.Parameter
    assert not guard._PENDING


def test_a_deep_copy_made_while_profiling_is_a_plain_parameter():
    copies = []

    class Copying(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l = nn.Linear(3, 3)

        def forward(self, x):
            copies.append(copy.deepcopy(self.l))
            return self.l(x)

    net = Copying()
    syops.profile(net, inputs=torch.ones(1, 3))
    (twin,) = copies
    assert type(twin.weight) is nn.Parameter and torch.equal(twin.weight, net.l.weight)


@pytest.mark.parametrize("training", [False, True])
def test_running_statistics_held_as_parameters_are_restored(training):
    """A norm call is no write to its parameters, unless it trains with parameters as running statistics."""

    class StatsAsParameters(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mean = nn.Parameter(torch.zeros(3), requires_grad=False)
            self.var = nn.Parameter(torch.ones(3), requires_grad=False)
            self.scale = nn.Parameter(torch.full((3,), 2.0))

        def forward(self, x):
            y = torch.nn.functional.batch_norm(x, self.mean, self.var, self.scale, None, training=training)
            return torch.nn.functional.layer_norm(y, (3,), self.scale)

    net = StatsAsParameters()
    before = copy.deepcopy(net.state_dict())
    syops.profile(net, inputs=torch.randn(8, 3) + 5.0)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(type(p) is nn.Parameter for p in net.parameters())


class _Logged(torch.Tensor):
    """A user's tensor subclass whose handler records the torch calls it sees."""

    calls: ClassVar[list] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


def test_stock_layers_run_with_the_guard_paused_and_other_subclasses_keep_their_handlers():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    before = copy.deepcopy(net.state_dict())
    plain = syops.profile(net, inputs=torch.randn(2, 3, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(type(p) is nn.Parameter for p in net.parameters())
    _Logged.calls = []
    logged = syops.profile(net, inputs=torch.randn(2, 3, 8, 8).as_subclass(_Logged))
    assert "conv2d" in _Logged.calls  # the subclass input's handler ran inside the layer: no pause
    assert logged.layer("0").macs == plain.layer("0").macs


def test_a_stock_layer_that_raises_leaves_no_pause_behind():
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2))  # the second Linear gets 3 features: it raises
    with pytest.raises(syops.SyopsError, match="forward pass failed"):
        syops.profile(net, inputs=torch.randn(2, 4))
    _Logged.calls = []
    torch.ones(2).as_subclass(_Logged) + 1  # subclass handlers are on again
    assert _Logged.calls
    assert all(type(p) is nn.Parameter for p in net.parameters())


def test_a_global_forward_hook_that_writes_a_weight_keeps_the_guard_on():
    """A process-wide forward hook runs before a module's own hooks: inside a pause it would write unseen."""
    net = nn.Sequential(nn.Linear(3, 2))
    before = net[0].weight.detach().clone()

    def scale(module, args, output):
        if isinstance(module, nn.Linear):
            with torch.no_grad():
                module.weight.mul_(2)

    handle = torch.nn.modules.module.register_module_forward_hook(scale)
    try:
        syops.profile(net, inputs=torch.randn(4, 3))
    finally:
        handle.remove()
    assert torch.equal(net[0].weight, before)


def test_a_stock_layer_raising_inside_a_caught_exception_ends_its_pause():
    """A parent that catches a layer's exception and goes on: the rest of its forward runs with every
    tensor subclass's handler on again (the guard's pause ends with the raising layer, not the parent)."""

    class TriesThenFallsBack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wide = nn.Linear(5, 2)  # the input has 4 features: raises
            self.narrow = nn.Linear(4, 2)

        def forward(self, x):
            try:
                return self.wide(x)
            except RuntimeError:
                seen = len(_Logged.calls)
                torch.ones(1).as_subclass(_Logged) * 2
                assert len(_Logged.calls) > seen, "a subclass handler was off after the caught exception"
                return self.narrow(x)

    _Logged.calls = []
    net = TriesThenFallsBack()
    before = copy.deepcopy(net.state_dict())
    report = syops.profile(net, inputs=torch.randn(3, 4))
    assert report.layer("narrow").macs == 4 * 2 + 2  # counted: the stale frame of `wide` is gone (bias adds too)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
