"""The model and data of the distributed test, built identically in every process."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    g = torch.Generator().manual_seed(1)
    frames = (torch.rand(11, 1, 6, 6, generator=g) < 0.3).float()  # spikes: the conv counts ACs
    return model, DataLoader(TensorDataset(frames, torch.zeros(11)), batch_size=3)


def model():
    """For the command line: ``syops profile distributed_model:model``."""
    return build()[0]


def data():
    """For the command line: ``--data distributed_model:data``."""
    return build()[1]
