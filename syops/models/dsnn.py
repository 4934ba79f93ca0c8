"""A DSNN-style spiking ResNet: the auxiliary-accumulation-pathway network of Chen et al., "Training Full
Spike Neural Networks via Auxiliary Accumulation Pathway" (arXiv:2301.11929), whose figures syops-counter
publishes (DSNN18, AAP).

Each residual block has a spike path (conv-BN-IF twice, an IAND shortcut: identity · (1 − spikes)) and an
accumulation path that adds the block's output spikes to a running sum; where the resolution halves, the
sum passes a depthwise 3×3 (stride 2) + pointwise conv, a BatchNorm and a ReLU. Both paths end in a
classifier; the logits are their sum. Written here from the paper's description, multi-step
([T, B, C, H, W]) with spikingjelly's IF neurons.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _seq(*layers: nn.Module) -> nn.Module:
    from spikingjelly.activation_based import layer

    return layer.SeqToANNContainer(*layers)


def _if_node() -> nn.Module:
    from spikingjelly.activation_based import neuron, surrogate

    return neuron.IFNode(surrogate_function=surrogate.ATan(), detach_reset=True, step_mode="m")


class AccumulationBlock(nn.Module):
    """One basic block: (spikes, accumulated sum) in, (spikes, accumulated sum) out."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _seq(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.sn1 = _if_node()
        self.conv2 = _seq(nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.sn2 = _if_node()
        self.downsample: nn.Module | None = None
        self.accumulation: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                _seq(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)),
                _if_node(),
            )
            spatial = (
                [nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False)]
                if stride != 1
                else []
            )
            self.accumulation = _seq(
                *spatial,
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )

    def forward(self, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        spikes, accumulated = state
        out = self.sn2(self.conv2(self.sn1(self.conv1(spikes))))
        identity = spikes if self.downsample is None else self.downsample(spikes)
        if self.accumulation is not None:
            accumulated = self.accumulation(accumulated)
        accumulated = accumulated + out
        return identity * (1.0 - out), accumulated  # IAND shortcut on the spike path


class DSNN(nn.Module):
    """DSNN-18: a ResNet-18 layout of AccumulationBlocks; input [T, B, 3, H, W]."""

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = _seq(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64))
        self.sn1 = _if_node()
        self.maxpool = _seq(nn.MaxPool2d(3, 2, 1))
        stages: list[nn.Module] = []
        channels = 64
        for index, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            for block in range(count):
                stride = 2 if index > 0 and block == 0 else 1
                stages.append(AccumulationBlock(channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*stages)
        self.avgpool = _seq(nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(channels, num_classes)
        self.fc_accumulated = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        spikes = self.maxpool(self.sn1(self.stem(x)))
        spikes, accumulated = self.blocks((spikes, spikes))
        logits = self.fc(torch.flatten(self.avgpool(spikes), 2).mean(0))
        return logits + self.fc_accumulated(torch.flatten(self.avgpool(accumulated), 2).mean(0))


def dsnn18(num_classes: int = 1000) -> DSNN:
    return DSNN((2, 2, 2, 2), num_classes)
