"""MobileNetV3-Small (width 1.0) layer plan shared by the PyTorch and Keras builders (pure Python)."""

from __future__ import annotations

from typing import NamedTuple

STEM_CHANNELS = 16
HEAD_CHANNELS = 576
CLASSIFIER_HIDDEN = 1024
DROPOUT = 0.2
BN_EPSILON = 1e-3  # as in the reference implementation (torch's default is 1e-5)

# (kernel, expanded channels, output channels, squeeze-excite, activation, stride), from the paper.
SETTINGS: tuple[tuple[int, int, int, bool, str, int], ...] = (
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hard_swish", 2),
    (5, 240, 40, True, "hard_swish", 1),
    (5, 240, 40, True, "hard_swish", 1),
    (5, 120, 48, True, "hard_swish", 1),
    (5, 144, 48, True, "hard_swish", 1),
    (5, 288, 96, True, "hard_swish", 2),
    (5, 576, 96, True, "hard_swish", 1),
    (5, 576, 96, True, "hard_swish", 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor``, never more than 10 % below it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class Block(NamedTuple):
    """One bottleneck: 1x1 expand (if widened), kxk depthwise, squeeze-excite?, 1x1 linear project."""

    in_channels: int
    expanded: int
    out_channels: int
    kernel: int
    stride: int
    se: bool
    act: str

    @property
    def squeeze(self) -> int:
        """Channels inside the squeeze-excite bottleneck."""
        return make_divisible(self.expanded // 4)

    @property
    def residual(self) -> bool:
        """Identity shortcut when the block keeps resolution and width."""
        return self.stride == 1 and self.in_channels == self.out_channels


def blocks() -> list[Block]:
    """The 11 bottleneck blocks in order."""
    out: list[Block] = []
    channels = STEM_CHANNELS
    for kernel, expanded, cout, se, act, stride in SETTINGS:
        out.append(Block(channels, expanded, cout, kernel, stride, se, act))
        channels = cout
    return out
