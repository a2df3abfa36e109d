"""MobileNetV2 in PyTorch, written by hand, with seeded random weights and BatchNorm statistics.

State-dict keys (which the Keras port reads): ``stem.*``, ``blocks.<i>.{expand,depthwise,project}.*``,
``head.*`` (each ``conv.weight`` + ``bn.{weight,bias,running_mean,running_var}``) and
``classifier.{weight,bias}``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..torch_blocks import ConvBN, randomize_
from .arch import DROPOUT, HEAD_CHANNELS, STEM_CHANNELS, Block, blocks

INIT_SEED = 0
# Seeded inputs whose statistics become the BatchNorm running stats (keeps activations sane).
STATS_BATCH = 4
STATS_SIZE = 224


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1 (t > 1) -> depthwise 3x3 -> linear project 1x1 (+ shortcut)."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.residual = block.residual
        hidden = block.hidden
        self.expand: nn.Module = (
            ConvBN(block.in_channels, hidden, 1, act="relu6") if block.expansion != 1 else nn.Identity()
        )
        self.depthwise = ConvBN(hidden, hidden, 3, block.stride, groups=hidden, act="relu6")
        self.project = ConvBN(hidden, block.out_channels, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block; adds the input back when shapes allow."""
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0: NCHW ``[N, 3, 224, 224]`` -> logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        plan = blocks()
        self.stem = ConvBN(3, STEM_CHANNELS, 3, stride=2, act="relu6")
        self.blocks = nn.Sequential(*(InvertedResidual(b) for b in plan))
        self.head = ConvBN(plan[-1].out_channels, HEAD_CHANNELS, 1, act="relu6")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features, global average pool, classifier."""
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(self.dropout(x))


def build(num_classes: int = 1000, seed: int = INIT_SEED) -> MobileNetV2:
    """A MobileNetV2 with reproducible random weights (``torch_blocks.randomize_``), in eval mode."""
    return randomize_(MobileNetV2(num_classes), seed, (STATS_BATCH, 3, STATS_SIZE, STATS_SIZE))
