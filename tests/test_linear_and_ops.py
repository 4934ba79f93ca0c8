"""Linear, Bilinear and functional ops (residual add, SEW AND, matmul, einsum, SDPA) against brute force."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import syops
from helpers import brute_force_linear_synops, is_events, make_input

KINDS = st.sampled_from(["binary", "ternary", "integer", "dense"])


@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.lists(st.integers(1, 3), min_size=0, max_size=2),
    st.integers(1, 4),
    st.booleans(),
    KINDS,
    st.booleans(),
    st.integers(0, 999),
)
def test_linear(fin, fout, extra_dims, batch, bias, kind, skip_zero, seed):
    torch.manual_seed(seed)
    layer = nn.Linear(fin, fout, bias=bias)
    if skip_zero:
        with torch.no_grad():
            layer.weight[torch.rand(layer.weight.shape) < 0.4] = 0
    x = make_input(kind, (batch, *extra_dims, fin), torch.Generator().manual_seed(seed))
    row = syops.profile(layer, inputs=x, skip_zero_weights=skip_zero).layers[0]
    outputs = batch * torch.Size(extra_dims).numel() * fout
    dense = (outputs * fin + (outputs if bias else 0)) / batch
    assert row.dense_macs == pytest.approx(dense)
    if is_events(x):
        synops = brute_force_linear_synops(layer, x, skip_zero)
        assert row.synops == pytest.approx(synops, abs=1e-9)
        assert row.acs == pytest.approx(synops + (outputs / batch if bias else 0), abs=1e-9)
        assert row.macs == 0
    else:
        assert (row.acs, row.macs) == (0, pytest.approx(dense))


@pytest.mark.parametrize("kinds", [("binary", "binary"), ("binary", "dense"), ("integer", "ternary")])
def test_bilinear_is_event_driven_only_when_both_inputs_are_events(kinds):
    torch.manual_seed(0)
    layer = nn.Bilinear(3, 4, 5)
    g = torch.Generator().manual_seed(1)
    x1, x2 = make_input(kinds[0], (2, 3), g), make_input(kinds[1], (2, 4), g)
    row = syops.profile(layer, inputs=(x1, x2)).layers[0]
    assert row.dense_macs == pytest.approx((2 * 5 * 3 * 4 + 2 * 5) / 2)
    if kinds[1] == "dense":
        assert row.acs == 0 and row.macs == row.dense_macs
    else:
        pairs = float((x1.abs().sum(-1) * x2.abs().sum(-1)).sum()) * 5
        assert row.synops == pytest.approx(pairs / 2)
        assert row.acs == pytest.approx(pairs / 2 + 5)


class Residual(nn.Module):
    """x + f(x), an in-place add, a SEW AND (x * y) and a SEW IAND ((1 - x) * y)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Identity()

    def forward(self, x, y):
        a = x + self.body(y)
        a += y
        b = x * y
        c = (1.0 - x) * y
        return a, b, c


@pytest.mark.parametrize("kind", ["binary", "dense"])
def test_elementwise_ops_outside_modules(kind):
    g = torch.Generator().manual_seed(0)
    x, y = make_input(kind, (3, 4, 5), g), make_input(kind, (3, 4, 5), g)
    report = syops.profile(Residual(), inputs=(x, y))
    rows = {r.type: r for r in report.layers}
    n = 4 * 5  # elements per sample
    assert rows["add"].dense_macs == 2 * n and rows["add"].calls == 2
    assert rows["mul"].dense_macs == 2 * n and rows["sub"].dense_macs == n
    for row in (rows["add"], rows["mul"], rows["sub"]):
        assert row.name == ""
        if kind == "binary":
            assert (row.acs, row.macs) == (row.dense_macs, 0)
        else:
            assert (row.acs, row.macs) == (0, row.dense_macs)


def test_sew_add_of_spikes_is_integer_events():
    """ADD of two spike tensors gives {0,1,2}: integer events, counted as ACs downstream too."""

    class SewAdd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(6, 2, bias=False)

        def forward(self, x, y):
            return self.fc(x + y)

    g = torch.Generator().manual_seed(2)
    x, y = make_input("binary", (4, 6), g), make_input("binary", (4, 6), g)
    report = syops.profile(SewAdd(), inputs=(x, y))
    fc = report.layer("fc")
    assert fc.synops == pytest.approx(float((x + y).sum()) * 2 / 4)
    assert fc.macs == 0


@given(
    st.lists(st.integers(1, 3), min_size=0, max_size=2),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 4),
    KINDS,
    KINDS,
    st.integers(0, 999),
)
def test_matmul_counts_exact_products(batch_dims, n, k, m, kind_a, kind_b, seed):
    g = torch.Generator().manual_seed(seed)
    a = make_input(kind_a, (2, *batch_dims, n, k), g)
    b = make_input(kind_b, (k, m), g)

    class MatMul(nn.Module):
        def forward(self, a, b):
            return a @ b

    row = syops.profile(MatMul(), inputs=(a, b)).layers[0]
    samples = 2
    dense = a.numel() * m / samples
    assert row.type == "matmul" and row.dense_macs == pytest.approx(dense)
    ev_a, ev_b = is_events(a), is_events(b)
    # brute force: every (i, j) product whose factors are both events / the event factor's events
    prods = a.abs().unsqueeze(-1) * b.abs()  # [..., n, k, m]
    if ev_a and ev_b:
        expected = float(prods.sum()) / samples
    elif ev_a:
        expected = float(a.abs().sum()) * m / samples
    elif ev_b:
        expected = float(b.abs().sum()) * a[..., 0].numel() / samples
    else:
        expected = None
    if expected is None:
        assert (row.acs, row.macs) == (0, pytest.approx(dense))
    else:
        assert row.synops == pytest.approx(expected) and row.acs == pytest.approx(expected) and row.macs == 0


def test_einsum_with_ellipsis_and_events():
    g = torch.Generator().manual_seed(4)
    q = make_input("binary", (2, 3, 5, 4), g)
    k = make_input("binary", (2, 3, 6, 4), g)

    class Scores(nn.Module):
        def forward(self, q, k):
            return torch.einsum("...ld,...sd->...ls", q, k)

    row = syops.profile(Scores(), inputs=(q, k)).layers[0]
    assert row.dense_macs == 2 * 3 * 5 * 6 * 4 / 2
    pairs = float((q.abs().unsqueeze(-2) * k.abs().unsqueeze(-3)).sum())  # [.., l, s, d]
    assert row.synops == pytest.approx(pairs / 2)


def test_scaled_dot_product_attention():
    g = torch.Generator().manual_seed(5)
    q = make_input("binary", (2, 2, 3, 4), g)
    k = make_input("binary", (2, 2, 5, 4), g)
    v = make_input("binary", (2, 2, 5, 6), g)

    class Attn(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v)

    row = syops.profile(Attn(), inputs=(q, k, v)).layers[0]
    scores = 2 * 3 * 5  # per sample: heads × L × S
    assert row.type == "sdpa"
    assert row.dense_macs == pytest.approx(scores * 4 + scores + scores * 6)
    qk_pairs = float((q.abs().unsqueeze(-2) * k.abs().unsqueeze(-3)).sum()) / 2
    av_events = float(v.abs().sum()) * 3 / 2  # each event of V meets L dense attention weights
    assert row.synops == pytest.approx(qk_pairs + av_events)
    assert row.macs == pytest.approx(scores)  # the softmax over dense scores


def test_interpolate_counts_output_elements():
    class Up(nn.Module):
        def forward(self, x):
            return F.interpolate(x, scale_factor=2, mode="nearest")

    x = make_input("binary", (1, 2, 3, 3), torch.Generator().manual_seed(0))
    row = syops.profile(Up(), inputs=x).layers[0]
    assert (row.type, row.dense_macs, row.acs) == ("interpolate", 2 * 6 * 6, 2 * 6 * 6)


def test_ops_inside_counted_modules_are_not_counted_twice():
    """nn.Linear calls F.linear, nn.ReLU calls F.relu: one row each, no functional rows."""
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Conv1d(1, 1, 2))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            hidden = self.net[1](self.net[0](x))
            return self.net[2](hidden.unsqueeze(1))

    report = syops.profile(Net(), (4,))
    assert [r.type for r in report.layers] == ["Linear", "ReLU", "Conv1d"]
