"""Text transformer hyper-parameters shared by the PyTorch and Keras builders (pure Python)."""

from __future__ import annotations

VOCAB_SIZE = 1000
SEQ_LEN = 32
D_MODEL = 64
HEADS = 4
HEAD_DIM = D_MODEL // HEADS
FFN = 128
LAYERS = 2
NUM_CLASSES = 2
LN_EPSILON = 1e-5  # torch's LayerNorm default (Keras defaults to 1e-3)
