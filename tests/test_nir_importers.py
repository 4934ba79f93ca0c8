"""The installed NIR importers (snnTorch's, sinabs', Norse's) on the graphs syops runs with its reference
discretisation: their modules profiled by syops, the differences in dynamics measured. Every figure in
docs/nir.md's importer table is asserted here."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import warnings

import nir
import numpy as np
import pytest
import torch
from test_nir import csnn
from torch import nn

import syops

DT = 1e-4
T, B = 20, 4


def two_layer(kind: str, r: float = 10.0, seed: int = 0) -> nir.NIRGraph:
    """Input(16) → Affine(32) → neuron → Affine(8) → neuron, normal weights; LIF τ = 1 ms, CubaLIF
    τ_syn = 0.5 ms, τ_mem = 1 ms, threshold 1, v_leak 0."""
    rng = np.random.default_rng(seed)

    def weights(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    def neuron(n: int):
        o = np.ones(n, dtype=np.float32)
        if kind == "IF":
            return nir.IF(r=o, v_threshold=o)
        if kind == "LIF":
            return nir.LIF(tau=o * 1e-3, r=o * r, v_leak=0 * o, v_threshold=o)
        return nir.CubaLIF(tau_syn=o * 5e-4, tau_mem=o * 1e-3, r=o * r, v_leak=0 * o, v_threshold=o, w_in=o)

    nodes = {
        "input": nir.Input(np.array([16])),
        "fc1": nir.Affine(weights(32, 16), rng.normal(0, 0.1, 32).astype(np.float32)),
        "n1": neuron(32),
        "fc2": nir.Affine(weights(8, 32), rng.normal(0, 0.1, 8).astype(np.float32)),
        "n2": neuron(8),
        "output": nir.Output(np.array([8])),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)))


def spikes(shape, seed: int = 1) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


class Stepper(nn.Module):
    """Threads the (output, state) of a one-step nirtorch module through [T, B, ...]."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state, outs = None, []
        for xt in x:
            y, state = self.net(xt, state)
            outs.append(y)
        return torch.stack(outs)


@contextlib.contextmanager
def quiet():
    """The importers print and log warnings (weight rescaling, ignored parameters)."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def fc2_synops(report, prefix: str = "") -> float:
    return report.layer(prefix + "fc2").synops


def hidden_rate(module: nn.Module, name: str, x: torch.Tensor, **call) -> float:
    """Spikes per neuron and step of submodule ``name``, recorded here with a forward hook."""
    seen = []
    handle = module.get_submodule(name).register_forward_hook(
        lambda m, i, o: seen.append(o[0] if isinstance(o, tuple) else o)
    )
    with torch.no_grad():
        module(x, **call)
    handle.remove()
    out = torch.cat([s.reshape(-1) for s in seen])
    return float(out.sum()) / out.numel()


def run_reference(g, x, dt=DT):
    report = syops.profile(g, inputs=x, dt=dt)
    return report.layer("n1").output_spike_rate, fc2_synops(report)


def run_snntorch(g, x):
    from snntorch.import_nir import import_from_nir  # snntorch 1.0.0 no longer exports it at the top

    with quiet():
        module = import_from_nir(g)
        report = syops.profile(module, inputs=x, time_layout="loop")
    return report.layer("n1").output_spike_rate, fc2_synops(report)


def run_sinabs(g, x):
    import sinabs

    with quiet():
        module = sinabs.from_nir(g, batch_size=x.shape[1], num_timesteps=x.shape[0])
        squeezed = x.transpose(0, 1).reshape(-1, *x.shape[2:])  # sinabs' [B·T, ...]
        report = syops.profile(module, inputs=squeezed, batch_size=x.shape[1], timesteps=x.shape[0])
    return report.layer("n1").output_spike_rate, fc2_synops(report)


def run_norse(g, x, dt=DT):
    norse_torch = pytest.importorskip("norse.torch")
    with quiet():
        module = Stepper(norse_torch.from_nir(g, dt=dt))
        report = syops.profile(module, inputs=x, time_layout="TB")
        rate = hidden_rate(module, "net.n1", x)
    return rate, fc2_synops(report, "net.")


X = spikes((T, B, 16))
UPDATES = 32 * T * B  # hidden-layer neuron updates per profile


def test_if_graph():
    """IF (non-leaky, reset to 0): sinabs' IAFSqueeze emits several spikes per step and subtracts the
    threshold (and clips at −θ); snnTorch's IF breaks the graph."""
    g = two_layer("IF")
    ref = run_reference(g, X)
    assert ref == (376 / UPDATES, 752.0)
    assert run_sinabs(g, X) == (708 / UPDATES, 1416.0)
    with pytest.raises(syops.SyopsError, match="must be Tensor, not tuple"):
        run_snntorch(g, X)  # its IF is snn.Leaky(init_hidden=False): the (spk, mem) tuple reaches fc2


def test_lif_graph():
    """LIF with τ = 10 dt and r = τ/dt: snnTorch (dt fixed at 1e-4) is the reference at that dt only;
    sinabs reads τ in time steps (no memory left) and ignores r."""
    g = two_layer("LIF")
    ref = run_reference(g, X)
    assert ref == (381 / UPDATES, 762.0)
    assert run_snntorch(g, X) == ref
    assert run_reference(g, X, dt=2e-4) == (579 / UPDATES, 1158.0)  # snnTorch stays at 762
    assert run_sinabs(g, X) == (520 / UPDATES, 1040.0)


def test_cuba_lif_graph():
    """CubaLIF with r = τ_mem/dt (snnTorch requires it): snnTorch is the reference; sinabs has no
    CubaLIF."""
    g = two_layer("CubaLIF")
    ref = run_reference(g, X)
    assert ref == (358 / UPDATES, 716.0)
    assert run_snntorch(g, X) == ref
    with pytest.raises(KeyError):
        run_sinabs(g, X)


def test_norse_importer():
    """Norse 1.1.0 (norse.torch.from_nir, dt given): IAFCell and CubaLIF count as the reference; its LIF
    ignores r (a warning), so it is the reference with r = 1."""
    assert run_norse(two_layer("IF"), X) == (376 / UPDATES, 752.0)
    assert run_norse(two_layer("CubaLIF"), X) == (358 / UPDATES, 716.0)
    assert run_norse(two_layer("LIF"), X) == (11 / UPDATES, 22.0)
    g1 = two_layer("LIF", r=1.0)
    assert run_norse(g1, X) == run_reference(g1, X) == (11 / UPDATES, 22.0)


def test_csnn_graph():
    """The N-MNIST CSNN: sinabs' multi-spike IAF multiplies the synops downstream (snnTorch's IF breaks
    it as above)."""
    steps = 5
    x = spikes((steps, 2, 2, 34, 34))
    ref = syops.profile(csnn(), inputs=x)
    import sinabs

    with quiet():
        module = sinabs.from_nir(csnn(), batch_size=2, num_timesteps=steps)
        squeezed = x.transpose(0, 1).reshape(-1, 2, 34, 34)
        sin = syops.profile(module, inputs=squeezed, batch_size=2, timesteps=steps)
    synops = {n: (ref.layer(n).synops, sin.layer(n).synops) for n in ("conv1", "conv2", "fc2")}
    assert synops == {"conv1": (301328.0, 301328.0), "conv2": (400752.0, 615088.0), "fc2": (5735.0, 539710.0)}
    assert ref.layer("if5").output_spike_rate == pytest.approx(0.49) and sin.layer("if5").output_spike_rate > 100


def test_csnn_graph_norse():
    """Norse keeps NIR's Flatten(start_dim=0) as it is, which flattens the batch: with B = 2 the first
    Affine fails, with B = 1 it gets an unbatched [128] vector, which syops refuses (it would count a
    feature dimension as samples)."""
    steps = 5
    x = spikes((steps, 2, 2, 34, 34))
    norse_torch = pytest.importorskip("norse.torch")
    with quiet():
        with pytest.raises(syops.SyopsError, match="mat1 and mat2 shapes cannot be multiplied"):
            syops.profile(Stepper(norse_torch.from_nir(csnn())), inputs=x, time_layout="TB")
        with pytest.raises(syops.SyopsError, match="unbatched input of shape \\[128\\]"):
            syops.profile(Stepper(norse_torch.from_nir(csnn())), inputs=x[:, :1], time_layout="TB")


def test_lppool_sum_pooling_is_not_always_an_integer():
    """sinabs' SumPool2d and Norse's SumPool2d import are LPPool2d(norm 1): the average × k², which for
    a 5×5 or 7×7 window of spikes is often not an integer in float32 (the next layer then counts dense
    MACs); syops' SumPool2d sums exactly."""
    x = (torch.rand(4, 8, 40, 40, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    for k, inexact in ((2, 0), (3, 0), (5, 194), (6, 0), (7, 116)):
        y = nn.LPPool2d(1, k, k)(x)
        assert int((y != y.round()).sum()) == inexact, k
        exact = syops.nir.SumPool2d(k, k, 0)(x)
        assert torch.equal(exact, exact.round())
