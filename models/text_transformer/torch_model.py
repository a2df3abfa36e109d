"""The text transformer in PyTorch (attention written out with matmul + softmax), and its training.

State-dict keys (which the Keras port reads): ``embed.weight`` ``[V, D]``, ``pos`` ``[1, T, D]``,
``layers.<i>.{norm1,norm2}.{weight,bias}``, ``layers.<i>.attn.{q,k,v,out}.{weight,bias}``,
``layers.<i>.{ffn1,ffn2}.{weight,bias}``, ``norm.*`` and ``classifier.*``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..torch_blocks import train_classifier
from .arch import (
    D_MODEL,
    FFN,
    HEAD_DIM,
    HEADS,
    LAYERS,
    LN_EPSILON,
    NUM_CLASSES,
    SEQ_LEN,
    VOCAB_SIZE,
)

TRAIN_SEED = 0
EPOCHS = 3
BATCH_SIZE = 64
LEARNING_RATE = 3e-3

# Times train() ran in this process; lets tests prove a cached load does not retrain.
TRAINING_RUNS = 0


class SelfAttention(nn.Module):
    """Multi-head self-attention from plain ops: linear q/k/v, ``softmax(q k^T * s) v``, linear out."""

    def __init__(self) -> None:
        super().__init__()
        self.q = nn.Linear(D_MODEL, D_MODEL)
        self.k = nn.Linear(D_MODEL, D_MODEL)
        self.v = nn.Linear(D_MODEL, D_MODEL)
        self.out = nn.Linear(D_MODEL, D_MODEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, T, D]`` -> ``[N, T, D]``."""
        n, t, _ = x.shape
        q = self.q(x).reshape(n, t, HEADS, HEAD_DIM).permute(0, 2, 1, 3)  # [N, H, T, Dh]
        k = self.k(x).reshape(n, t, HEADS, HEAD_DIM).permute(0, 2, 3, 1)  # [N, H, Dh, T]
        v = self.v(x).reshape(n, t, HEADS, HEAD_DIM).permute(0, 2, 1, 3)  # [N, H, T, Dh]
        weights = torch.softmax(torch.matmul(q, k) * (1.0 / math.sqrt(HEAD_DIM)), dim=-1)
        y = torch.matmul(weights, v).permute(0, 2, 1, 3).reshape(n, t, D_MODEL)
        return self.out(y)


class EncoderLayer(nn.Module):
    """Pre-LN encoder layer: ``x + attn(ln1(x))``, then ``x + ffn2(relu(ffn1(ln2(x))))``."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(D_MODEL, eps=LN_EPSILON)
        self.attn = SelfAttention()
        self.norm2 = nn.LayerNorm(D_MODEL, eps=LN_EPSILON)
        self.ffn1 = nn.Linear(D_MODEL, FFN)
        self.ffn2 = nn.Linear(FFN, D_MODEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One layer."""
        x = x + self.attn(self.norm1(x))
        return x + self.ffn2(torch.relu(self.ffn1(self.norm2(x))))


class TextTransformer(nn.Module):
    """Token ids ``[N, T]`` (int32 or int64) -> logits ``[N, NUM_CLASSES]``."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB_SIZE, D_MODEL)
        self.pos = nn.Parameter(torch.randn(1, SEQ_LEN, D_MODEL) * 0.02)
        self.layers = nn.ModuleList(EncoderLayer() for _ in range(LAYERS))
        self.norm = nn.LayerNorm(D_MODEL, eps=LN_EPSILON)
        self.classifier = nn.Linear(D_MODEL, NUM_CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Embed, add positions, encode, mean-pool over tokens, classify."""
        x = self.embed(ids) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.norm(x).mean(dim=1))


def train(x: np.ndarray, y: np.ndarray, seed: int = TRAIN_SEED) -> dict[str, np.ndarray]:
    """Train a fresh TextTransformer on ``(x, y)`` deterministically; returns its numpy state dict.

    One torch thread, a forked global RNG seeded with ``seed`` (the caller's RNG state is left
    untouched) and a seeded shuffling generator make the result reproducible.
    """
    global TRAINING_RUNS
    TRAINING_RUNS += 1

    def make_optimiser(model: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        optimiser = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
        steps = EPOCHS * math.ceil(len(x) / BATCH_SIZE)
        return optimiser, torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=LEARNING_RATE, total_steps=steps)

    return train_classifier(
        TextTransformer,
        make_optimiser,
        x,
        y,
        x_dtype=np.int32,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        seed=seed,
        schedule_per_batch=True,
    )
