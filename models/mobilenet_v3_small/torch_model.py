"""MobileNetV3-Small in PyTorch, written by hand, with seeded random weights and BatchNorm statistics.

State-dict keys (which the Keras port reads): ``stem.*``, ``blocks.<i>.{expand,depthwise,project}.*``
(``ConvBN``: ``conv.weight`` + ``bn.*``), ``blocks.<i>.se.{fc1,fc2}.{weight,bias}`` (biased 1x1
convs), ``head.*``, ``pre_classifier.*`` and ``classifier.*`` (linear).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..torch_blocks import ConvBN, randomize_
from .arch import BN_EPSILON, CLASSIFIER_HIDDEN, DROPOUT, HEAD_CHANNELS, STEM_CHANNELS, Block, blocks

INIT_SEED = 0
# Seeded inputs whose statistics become the BatchNorm running stats (keeps activations sane).
STATS_BATCH = 4
STATS_SIZE = 224


class SqueezeExcite(nn.Module):
    """Global average -> 1x1 conv + ReLU -> 1x1 conv + hard-sigmoid -> rescale the input channels."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel attention."""
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class Bottleneck(nn.Module):
    """MobileNetV3 block: expand 1x1 (if widened) -> depthwise kxk -> SE -> linear project 1x1 (+ shortcut)."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.residual = block.residual
        e = block.expanded
        self.expand: nn.Module = (ConvBN(block.in_channels, e, 1, act=block.act, eps=BN_EPSILON)
                                  if e != block.in_channels else nn.Identity())
        self.depthwise = ConvBN(e, e, block.kernel, block.stride, groups=e, act=block.act, eps=BN_EPSILON)
        self.se: nn.Module = SqueezeExcite(e, block.squeeze) if block.se else nn.Identity()
        self.project = ConvBN(e, block.out_channels, 1, act=None, eps=BN_EPSILON)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block; adds the input back when shapes allow."""
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


class MobileNetV3Small(nn.Module):
    """MobileNetV3-Small 1.0: NCHW ``[N, 3, 224, 224]`` -> logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        plan = blocks()
        self.stem = ConvBN(3, STEM_CHANNELS, 3, stride=2, act="hard_swish", eps=BN_EPSILON)
        self.blocks = nn.Sequential(*(Bottleneck(b) for b in plan))
        self.head = ConvBN(plan[-1].out_channels, HEAD_CHANNELS, 1, act="hard_swish", eps=BN_EPSILON)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pre_classifier = nn.Linear(HEAD_CHANNELS, CLASSIFIER_HIDDEN)
        self.act = nn.Hardswish()
        self.dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Linear(CLASSIFIER_HIDDEN, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features, global average pool, two-layer classifier."""
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(self.dropout(self.act(self.pre_classifier(x))))


def build(num_classes: int = 1000, seed: int = INIT_SEED) -> MobileNetV3Small:
    """A MobileNetV3-Small with reproducible random weights (``torch_blocks.randomize_``), in eval mode."""
    return randomize_(MobileNetV3Small(num_classes), seed, (STATS_BATCH, 3, STATS_SIZE, STATS_SIZE))
