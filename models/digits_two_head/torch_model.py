"""The two-head digits CNN in PyTorch, and its deterministic joint training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..frameworks import state_dict_to_numpy, torch_threads

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
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsTwoHead(int(y_digit.max()) + 1, int(y_loops.max()) + 1)
        optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=EPOCHS)
        loss_fn = nn.CrossEntropyLoss()
        xs = torch.tensor(np.asarray(x, dtype=np.float32))
        digits = torch.tensor(np.asarray(y_digit, dtype=np.int64))
        loops = torch.tensor(np.asarray(y_loops, dtype=np.int64))
        shuffle = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(EPOCHS):
            order = torch.randperm(len(xs), generator=shuffle)
            for start in range(0, len(xs), BATCH_SIZE):
                idx = order[start : start + BATCH_SIZE]
                optimiser.zero_grad()
                digit_logits, loops_logits = model(xs[idx])
                loss = loss_fn(digit_logits, digits[idx]) + LOOPS_LOSS_WEIGHT * loss_fn(loops_logits, loops[idx])
                loss.backward()
                optimiser.step()
            schedule.step()
        model.eval()
        return state_dict_to_numpy(model)
