"""Train an ANN to need fewer synaptic operations when it runs as an SNN, offline.

The workflow of sinabs' tutorial "Training an ANN with fewer SynOps" on syops alone: a small CNN whose
activations are NeuromorphicReLUs (integer spike counts forward, ReLU gradient backward), the synops it
would cause read from ``syops.hooks.register_synops_hooks`` after every forward pass, and a loss term
that pulls the total synops per sample toward a target. Data: scikit-learn's bundled 8×8 digits (no
download), each pixel's grey level 0–16 taken as that many input spikes.

    python examples/train_fewer_synops.py --epochs 30 --target-fraction 0.4 --png losses.png

Prints test accuracy and synops per epoch and writes a PNG of both loss terms.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from syops.hooks import register_synops_hooks
from syops.layers import NeuromorphicReLU


def load_digits_tensors(seed: int = 0, test_fraction: float = 0.2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test): images [N, 1, 8, 8] of spike counts 0–16, a seeded split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def build_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        NeuromorphicReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        NeuromorphicReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 10, bias=False),
    )


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """(accuracy, synops per sample) on (x, y); ``model`` must have the synops hooks registered."""
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    accuracy = (out.argmax(1) == y).float().mean().item()
    return accuracy, float(model.hook_data["total_synops_per_timestep"])


@dataclass
class History:
    target: float
    initial_synops: float
    model_losses: list[float] = field(default_factory=list)  # per training step
    synops_losses: list[float] = field(default_factory=list)
    epochs: list[tuple[float, float]] = field(default_factory=list)  # (test accuracy, test synops) per epoch


def train(
    epochs: int = 30,
    target_fraction: float = 0.4,
    synops_weight: float = 1.0,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    train_limit: int | None = None,
    log: Callable[[str], None] = print,
) -> tuple[nn.Module, History]:
    """Train with cross-entropy + synops_weight · ((synops − target) / target)², target = target_fraction
    × the synops of the untrained model on the test set. ``train_limit`` trains on the first samples only."""
    x_train, y_train, x_test, y_test = load_digits_tensors(seed)
    if train_limit is not None:
        x_train, y_train = x_train[:train_limit], y_train[:train_limit]
    model = build_model(seed)
    remove_hooks = register_synops_hooks(model)
    accuracy, initial = evaluate(model, x_test, y_test)
    history = History(target=target_fraction * initial, initial_synops=initial)
    target = torch.tensor(history.target)
    log(f"untrained: accuracy {accuracy:.3f}, synops {initial:,.0f} per sample; target {history.target:,.0f}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in torch.randperm(len(y_train), generator=generator).split(batch_size):
            out = model(x_train[batch])
            model_loss = F.cross_entropy(out, y_train[batch])
            synops = model.hook_data["total_synops_per_timestep"]
            synops_loss = synops_weight * ((synops - target) / target) ** 2
            optimizer.zero_grad()
            (model_loss + synops_loss).backward()
            optimizer.step()
            history.model_losses.append(model_loss.item())
            history.synops_losses.append(synops_loss.item())
        accuracy, synops_now = evaluate(model, x_test, y_test)
        history.epochs.append((accuracy, synops_now))
        log(
            f"epoch {epoch:3d}: accuracy {accuracy:.3f}, synops {synops_now:,.0f} per sample "
            f"({100 * (synops_now / history.target - 1):+.1f}% of target)"
        )
    remove_hooks()
    return model, history


def plot_losses(history: History, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history.model_losses, label="prediction (cross-entropy)")
    ax.plot(history.synops_losses, label="synops term")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--target-fraction", type=float, default=0.4, help="target synops / untrained synops")
    parser.add_argument("--synops-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", default="train_fewer_synops.png", help="where to write the plot of both losses")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 4))
    _, history = train(args.epochs, args.target_fraction, args.synops_weight, seed=args.seed)
    accuracy, synops = history.epochs[-1]
    off = synops / history.target - 1
    print(f"final: accuracy {accuracy:.3f}, synops {synops:,.0f} per sample, {100 * off:+.1f}% of the target")
    plot_losses(history, args.png)
    print(f"wrote {args.png}")
    return 0 if abs(off) <= 0.1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
