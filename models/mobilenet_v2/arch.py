"""MobileNetV2 (width 1.0) layer plan shared by the PyTorch and Keras builders (pure Python)."""

from __future__ import annotations

from typing import NamedTuple

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
DROPOUT = 0.2

# (expansion t, output channels c, repeats n, first stride s) from the MobileNetV2 paper.
SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class Block(NamedTuple):
    """One inverted residual block: 1x1 expand (if t > 1), 3x3 depthwise, 1x1 linear project."""

    in_channels: int
    out_channels: int
    stride: int
    expansion: int

    @property
    def hidden(self) -> int:
        """Channels between expansion and projection."""
        return self.in_channels * self.expansion

    @property
    def residual(self) -> bool:
        """Identity shortcut when the block keeps resolution and width."""
        return self.stride == 1 and self.in_channels == self.out_channels


def blocks() -> list[Block]:
    """The 17 inverted residual blocks in order."""
    out: list[Block] = []
    channels = STEM_CHANNELS
    for t, c, n, s in SETTINGS:
        for i in range(n):
            out.append(Block(channels, c, s if i == 0 else 1, t))
            channels = c
    return out
