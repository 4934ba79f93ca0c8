"""A small spiking CNN for scikit-learn's bundled 8×8 digits, its data and a seeded, deterministic
training loop: the trained model of the zoo table and of examples/trained_energy.py.

Architecture (spikingjelly, multi-step, input ``[T, B, 1, 8, 8]``): Conv 1→8 → LIF → MaxPool →
Conv 8→16 → LIF → MaxPool → Linear 64→10, the class scores the read-out's mean over T. Data: the digits'
grey levels 0–16 scaled to [0, 1], presented directly (the same frame at every step); a seeded split
holds out a fifth of them (359 images). Nothing is downloaded.

Training is deterministic on CPU: it runs in float64 on one thread with its own seeded generators, so
the float32 weights it returns are the same on every run; where another CPU's float64 arithmetic rounds
differently, a spike may flip (``syops zoo --check`` allows 0.2 % per cell; README, "Energy of your
trained model").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TIMESTEPS = 4
INPUT_SHAPE = (1, 8, 8)
SEED = 0
EPOCHS = 5


def digits_scnn(seed: int | None = None) -> nn.Sequential:
    """The architecture, randomly initialised (from ``seed`` when given)."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    if seed is not None:
        torch.manual_seed(seed)

    def lif() -> nn.Module:
        return neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), detach_reset=True)

    net = nn.Sequential(
        layer.Conv2d(1, 8, 3, padding=1),
        lif(),
        layer.MaxPool2d(2),
        layer.Conv2d(8, 16, 3, padding=1),
        lif(),
        layer.MaxPool2d(2),
        layer.Flatten(),
        layer.Linear(16 * 2 * 2, 10),
    )
    functional.set_step_mode(net, "m")
    return net


def digits_split(seed: int = SEED, test_fraction: float = 0.2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test): images ``[N, 1, 8, 8]`` in [0, 1] and labels, a seeded split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def held_out_digits(batch_size: int = 120) -> torch.utils.data.DataLoader:
    """The held-out split as (image, label) batches: the ``--data`` factory of ``syops profile``."""
    _, _, x_test, y_test = digits_split()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_test, y_test), batch_size=batch_size)


def scores(net: nn.Module, x: Tensor, timesteps: int = TIMESTEPS) -> Tensor:
    """Class scores of static frames ``x`` [B, 1, 8, 8]: the read-out averaged over the time steps."""
    from spikingjelly.activation_based import functional

    functional.reset_net(net)
    out = net(x.unsqueeze(0).expand(timesteps, *x.shape)).mean(0)
    functional.reset_net(net)
    return out


@torch.no_grad()
def accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    was_training = net.training
    net.eval()
    correct = (scores(net, x.to(next(net.parameters()).dtype)).argmax(1) == y).float().mean().item()
    net.train(was_training)
    return correct


def train_digits_scnn(
    epochs: int = EPOCHS,
    seed: int = SEED,
    batch_size: int = 64,
    lr: float = 2e-2,
    log: Callable[[str], None] | None = None,
) -> nn.Sequential:
    """The architecture trained with Adam on the training split (surrogate gradients through the LIF
    neurons); deterministic on CPU (float64, one thread), returned in float32 and eval mode."""
    x_train, y_train, x_test, y_test = digits_split(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a sum's order, hence its rounding, must not depend on the thread count
    try:
        with torch.random.fork_rng(devices=[]):
            net = digits_scnn(seed).double()
            optimizer = torch.optim.Adam(net.parameters(), lr=lr)
            generator = torch.Generator().manual_seed(seed)
            x64 = x_train.double()
            for epoch in range(1, epochs + 1):
                net.train()
                for batch in torch.randperm(len(y_train), generator=generator).split(batch_size):
                    loss = F.cross_entropy(scores(net, x64[batch]), y_train[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                if log is not None:
                    log(f"epoch {epoch}: held-out accuracy {accuracy(net, x_test, y_test):.3f}")
    finally:
        torch.set_num_threads(threads)
    return net.float().eval()


__all__ = [
    "INPUT_SHAPE",
    "TIMESTEPS",
    "accuracy",
    "digits_scnn",
    "digits_split",
    "held_out_digits",
    "train_digits_scnn",
]
