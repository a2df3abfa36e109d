"""The two-head digits CNN in PyTorch, and its deterministic joint training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..torch_blocks import train_classifier

TRAIN_SEED = 0
EPOCHS = 10
BATCH_SIZE = 32
LEARNING_RATE = 4e-3
# Weight of the loops head's loss in the joint loss (the digit head's is 1).
LOOPS_LOSS_WEIGHT = 1.0

# Times train() ran in this process; lets tests prove a cached load does not retrain.
TRAINING_RUNS = 0


class DigitsTwoHead(nn.Module):
    """Shared trunk conv3x3(1->16) + ReLU -> conv3x3(16->32) + ReLU -> maxpool2 -> flatten (512),
    then two dense heads: ``digit`` (512->10) and ``loops`` (512->3)."""

    def __init__(self, num_digits: int = 10, num_loops: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.digit = nn.Linear(32 * 4 * 4, num_digits)
        self.loops = nn.Linear(32 * 4 * 4, num_loops)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """NCHW ``[N, 1, 8, 8]`` -> ``(digit logits [N, 10], loops logits [N, 3])``."""
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        features = torch.flatten(self.pool(x), 1)
        return self.digit(features), self.loops(features)


def train(x: np.ndarray, y_digit: np.ndarray, y_loops: np.ndarray, seed: int = TRAIN_SEED) -> dict[str, np.ndarray]:
    """Train a fresh DigitsTwoHead on both heads at once (sum of the two cross-entropies);
    returns its numpy state dict.

    Deterministic as ``torch_blocks.train_classifier``: one torch thread, a forked global RNG
    seeded with ``seed`` (the caller's RNG state is left untouched) and a seeded shuffle.
    """
    global TRAINING_RUNS
    TRAINING_RUNS += 1
    classes = (int(y_digit.max()) + 1, int(y_loops.max()) + 1)

    def optimiser(model: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        adam = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        return adam, torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=EPOCHS)

    return train_classifier(lambda: DigitsTwoHead(*classes), optimiser, x, np.stack([y_digit, y_loops], axis=1),
                            x_dtype=np.float32, epochs=EPOCHS, batch_size=BATCH_SIZE, seed=seed,
                            head_weights=(1.0, LOOPS_LOSS_WEIGHT))
