"""ResNet-18 layer plan shared by the PyTorch and Keras builders (pure Python)."""

from __future__ import annotations

from typing import NamedTuple

STEM_CHANNELS = 64
# (output channels, blocks, first stride) per stage.
STAGES: tuple[tuple[int, int, int], ...] = ((64, 2, 1), (128, 2, 2), (256, 2, 2), (512, 2, 2))


class Block(NamedTuple):
    """One BasicBlock: 3x3 conv (stride) + 3x3 conv, plus a 1x1 projection shortcut when needed."""

    in_channels: int
    out_channels: int
    stride: int

    @property
    def downsample(self) -> bool:
        """Whether the shortcut needs a strided 1x1 conv + BN (shape changes)."""
        return self.stride != 1 or self.in_channels != self.out_channels


def blocks() -> list[Block]:
    """The 8 basic blocks in order."""
    out: list[Block] = []
    channels = STEM_CHANNELS
    for cout, n, stride in STAGES:
        for i in range(n):
            out.append(Block(channels, cout, stride if i == 0 else 1))
            channels = cout
    return out
