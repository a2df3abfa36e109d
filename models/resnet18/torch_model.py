"""ResNet-18 in PyTorch, written by hand, with seeded random weights and BatchNorm statistics.

State-dict keys (which the Keras port reads): ``stem.*``, ``blocks.<i>.{conv1,conv2,downsample}.*``
(``ConvBN``: ``conv.weight`` + ``bn.*``) and ``fc.{weight,bias}``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..torch_blocks import ConvBN, randomize_
from .arch import STEM_CHANNELS, Block, blocks

INIT_SEED = 0
# Seeded inputs whose statistics become the BatchNorm running stats (keeps activations sane).
STATS_BATCH = 2
STATS_SIZE = 224


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU -> 3x3 conv-BN, plus the (projected) input, then ReLU."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.conv1 = ConvBN(block.in_channels, block.out_channels, 3, block.stride, act="relu")
        self.conv2 = ConvBN(block.out_channels, block.out_channels, 3, act=None)
        self.downsample: nn.Module = (
            ConvBN(block.in_channels, block.out_channels, 1, block.stride, act=None)
            if block.downsample else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual block."""
        return torch.relu(self.conv2(self.conv1(x)) + self.downsample(x))


class ResNet18(nn.Module):
    """ResNet-18: NCHW ``[N, 3, 224, 224]`` -> logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        plan = blocks()
        self.stem = ConvBN(3, STEM_CHANNELS, 7, stride=2, act="relu")
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.blocks = nn.Sequential(*(BasicBlock(b) for b in plan))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(plan[-1].out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, four stages, global average pool, classifier."""
        x = self.blocks(self.maxpool(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def build(num_classes: int = 1000, seed: int = INIT_SEED) -> ResNet18:
    """A ResNet-18 with reproducible random weights (``torch_blocks.randomize_``), in eval mode."""
    return randomize_(ResNet18(num_classes), seed, (STATS_BATCH, 3, STATS_SIZE, STATS_SIZE))
