"""The digits CNN in PyTorch, and its deterministic training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..torch_blocks import train_classifier

TRAIN_SEED = 0
EPOCHS = 20
BATCH_SIZE = 32
LEARNING_RATE = 2e-3

# Times train() ran in this process; lets tests prove a cached load does not retrain.
TRAINING_RUNS = 0


class DigitsCNN(nn.Module):
    """conv3x3(1->16) + ReLU -> conv3x3(16->32) + ReLU -> maxpool2 -> flatten -> dense(512->10)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW ``[N, 1, 8, 8]`` -> logits ``[N, num_classes]``."""
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = self.pool(x)
        return self.fc(torch.flatten(x, 1))


def train(x: np.ndarray, y: np.ndarray, num_classes: int = 10, seed: int = TRAIN_SEED) -> dict[str, np.ndarray]:
    """Train a fresh DigitsCNN on ``(x, y)`` deterministically; returns its numpy state dict.

    One torch thread, a forked global RNG seeded with ``seed`` (the caller's RNG state is left
    untouched) and a seeded shuffling generator make the result reproducible.
    """
    global TRAINING_RUNS
    TRAINING_RUNS += 1

    def make_optimiser(model: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        return optimiser, torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=EPOCHS)

    return train_classifier(
        lambda: DigitsCNN(num_classes),
        make_optimiser,
        x,
        y,
        x_dtype=np.float32,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        seed=seed,
    )
