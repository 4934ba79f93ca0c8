"""Time steps: the TB / BT / loop layouts and squeezed [B·T, ...] inputs give the same per-sample figures;
direct and Poisson encoding of static input; DataLoaders averaged over every sample seen."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import syops
from syops.errors import SyopsError

T, B = 4, 3
KEYS = ("dense_macs", "acs", "macs", "synops", "neuron_updates")


def net(step_mode: str = "m") -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        layer.Conv2d(2, 4, 3, padding=1),
        neuron.IFNode(v_threshold=0.3),
        layer.Flatten(),
        layer.Linear(4 * 6 * 6, 3),
        neuron.LIFNode(v_threshold=0.2),
    )
    functional.set_step_mode(model, step_mode)
    return model.eval()


class BatchTimeFirst(nn.Module):
    """Takes [B, T, ...] and runs the multi-step net on [T, B, ...]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = net("m")

    def forward(self, x):
        return self.net(x.transpose(0, 1))


class Squeezed(nn.Module):
    """Takes [B·T, ...] (sinabs' squeezed layout, batch-major) and runs the multi-step net."""

    def __init__(self) -> None:
        super().__init__()
        self.net = net("m")

    def forward(self, x):
        return self.net(x.reshape(B, T, *x.shape[1:]).transpose(0, 1))


def same(a: syops.Report, b: syops.Report) -> None:
    for key in KEYS:
        assert a.totals[key] == pytest.approx(b.totals[key], rel=1e-12), key
    assert a.mean_spike_rate == pytest.approx(b.mean_spike_rate, rel=1e-12)


def test_layouts_agree():
    x = (torch.rand(T, B, 2, 6, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    tb = syops.profile(net("m"), inputs=x, time_layout="TB")
    bt = syops.profile(BatchTimeFirst(), inputs=x.transpose(0, 1).contiguous(), time_layout="BT")
    loop = syops.profile(net("s"), inputs=x, time_layout="loop")
    squeezed = syops.profile(Squeezed(), inputs=x.transpose(0, 1).reshape(B * T, 2, 6, 6), batch_size=B, timesteps=T)
    for report in (tb, bt, loop, squeezed):
        assert report.samples == B and report.timesteps == T
    same(tb, bt)
    same(tb, loop)
    same(tb, squeezed)
    assert tb.totals["neuron_updates"] == T * (4 * 6 * 6 + 3)
    assert tb.per_timestep().totals["neuron_updates"] == 4 * 6 * 6 + 3


def test_wrong_number_of_steps_is_one_clear_error():
    x = torch.zeros(T, B, 2, 6, 6)
    with pytest.raises(SyopsError, match="timesteps=5"):
        syops.profile(net("m"), inputs=x, time_layout="TB", timesteps=5)


def _record_input(model: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model[0].register_forward_pre_hook(lambda m, a: seen.append(a[0].clone()))
    return seen


def test_direct_encoding_repeats_one_seeded_frame():
    model = net("m")
    seen = _record_input(model)
    report = syops.profile(model, (2, 6, 6), timesteps=T, time_layout="TB")
    (x,) = seen
    assert x.shape == (T, 1, 2, 6, 6) and report.samples == 1 and report.timesteps == T
    assert all(torch.equal(x[0], x[t]) for t in range(T))
    assert report.layer("0").macs > 0  # a real-valued frame: dense first layer
    model_loop = net("s")
    seen_loop = _record_input(model_loop)
    syops.profile(model_loop, (2, 6, 6), timesteps=T, time_layout="loop")
    assert len(seen_loop) == T and torch.equal(torch.stack(seen_loop), x)


def test_poisson_encoding_is_seeded_rate_coding():
    model = net("m")
    seen = _record_input(model)
    first = syops.profile(model, (2, 6, 6), timesteps=T, time_layout="TB", input_encoding="poisson", seed=3)
    again = syops.profile(model, (2, 6, 6), timesteps=T, time_layout="TB", input_encoding="poisson", seed=3)
    other = syops.profile(model, (2, 6, 6), timesteps=T, time_layout="TB", input_encoding="poisson", seed=4)
    x = seen[0]
    assert bool(((x == 0) | (x == 1)).all()) and not all(torch.equal(x[0], x[t]) for t in range(T))
    assert torch.equal(seen[0], seen[1]) and not torch.equal(seen[0], seen[2])
    assert first.totals == again.totals and first.totals != other.totals
    assert first.layer("0").macs == 0 and first.layer("0").input_event_rate == pytest.approx(float(x.mean()))
    # rate from the input: a frame of probabilities in [0, 1]
    frames = torch.full((1, 2, 6, 6), 0.25)
    seen.clear()
    syops.profile(model, inputs=frames, timesteps=200, time_layout="TB", input_encoding="poisson")
    assert float(seen[0].mean()) == pytest.approx(0.25, abs=0.03)


def test_dataloader_averages_every_sample_seen():
    frames = torch.rand(8, 2, 6, 6, generator=torch.Generator().manual_seed(5))
    loader = DataLoader(TensorDataset(frames, torch.zeros(8)), batch_size=3)
    model = net("m")
    report = syops.profile(
        model, dataloader=loader, timesteps=T, time_layout="TB", input_encoding="direct", max_batches=2, progress=True
    )
    assert report.samples == 6 and report.timesteps == T
    # the same samples, one batch at a time
    parts = [
        syops.profile(model, inputs=frames[i : i + 3].unsqueeze(0).expand(T, -1, -1, -1, -1), time_layout="TB")
        for i in (0, 3)
    ]
    for key in KEYS:
        assert report.totals[key] == pytest.approx(sum(p.totals[key] for p in parts) / 2, rel=1e-12), key
    spikes = sum(p.mean_spike_rate * p.totals["neuron_updates"] for p in parts)
    assert report.mean_spike_rate == pytest.approx(spikes / sum(p.totals["neuron_updates"] for p in parts))
