"""MobileNetV2 in PyTorch, written by hand, with seeded random weights and BatchNorm statistics.

State-dict keys (which the Keras port reads): ``stem.*``, ``blocks.<i>.{expand,depthwise,project}.*``,
``head.*`` (each ``conv.weight`` + ``bn.{weight,bias,running_mean,running_var}``) and
``classifier.{weight,bias}``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..frameworks import torch_threads
from .arch import DROPOUT, HEAD_CHANNELS, STEM_CHANNELS, Block, blocks

INIT_SEED = 0
# Seeded inputs whose statistics become the BatchNorm running stats (keeps activations sane).
STATS_BATCH = 4
STATS_SIZE = 224


class ConvBN(nn.Module):
    """Conv2d (no bias, "same" padding) -> BatchNorm2d -> optional ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=(kernel - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act: nn.Module = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conv, normalise, clip."""
        return self.act(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1 (t > 1) -> depthwise 3x3 -> linear project 1x1 (+ shortcut)."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.residual = block.residual
        hidden = block.hidden
        self.expand: nn.Module = ConvBN(block.in_channels, hidden, 1) if block.expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, 3, block.stride, groups=hidden)
        self.project = ConvBN(hidden, block.out_channels, 1, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block; adds the input back when shapes allow."""
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0: NCHW ``[N, 3, 224, 224]`` -> logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        plan = blocks()
        self.stem = ConvBN(3, STEM_CHANNELS, 3, stride=2)
        self.blocks = nn.Sequential(*(InvertedResidual(b) for b in plan))
        self.head = ConvBN(plan[-1].out_channels, HEAD_CHANNELS, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features, global average pool, classifier."""
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(self.dropout(x))


def build(num_classes: int = 1000, seed: int = INIT_SEED) -> MobileNetV2:
    """A MobileNetV2 with reproducible random weights, in eval mode.

    Convs get Kaiming-normal (fan-out) weights, the classifier N(0, 0.01); BatchNorm gamma and
    beta are random, and the running mean/variance are measured on a seeded random batch and
    then jittered, so they are far from the trivial 0/1 and a wrong port would show.
    The caller's torch RNG state is left untouched.
    """
    with torch_threads(1), torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model = MobileNetV2(num_classes)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.uniform_(m.bias, -0.1, 0.1)
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)
        # Measure real per-channel statistics (cumulative average over one batch).
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
        model.train()
        model(torch.randn(STATS_BATCH, 3, STATS_SIZE, STATS_SIZE))
        for bn in bns:
            bn.momentum = 0.1
            std = bn.running_var.sqrt()
            bn.running_mean.add_(torch.randn_like(std) * 0.1 * std)
            bn.running_var.mul_(torch.empty_like(std).uniform_(0.7, 1.3))
        model.eval()
    return model
