"""A deterministic synthetic text task: does token X occur more often than token Y?

Each sequence has ``SEQ_LEN`` ids. Filler ids are uniform over the vocabulary minus the two
marked tokens; X (id 7) and Y (id 11) are then placed ``cx`` and ``cy`` times at random
positions, with ``cx != cy`` drawn from 0..6. Label 1 when ``cx > cy``, else 0 (balanced by
construction). A model must count occurrences across the sequence, so chance is 0.5.
"""

from __future__ import annotations

import functools

import numpy as np

from ..trained import DataSplit
from .arch import SEQ_LEN, VOCAB_SIZE

TOKEN_X = 7
TOKEN_Y = 11
MAX_COUNT = 6
TRAIN_SIZE = 2000
TEST_SIZE = 1000
SEED = 0


def generate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences (int32 ``[n, SEQ_LEN]``) and labels (int64 ``[n]``)."""
    fillers = np.setdiff1d(np.arange(VOCAB_SIZE), [TOKEN_X, TOKEN_Y])
    x = rng.choice(fillers, size=(n, SEQ_LEN)).astype(np.int32)
    y = np.empty(n, dtype=np.int64)
    for i in range(n):
        cx, cy = rng.choice(MAX_COUNT + 1, size=2, replace=False)
        positions = rng.permutation(SEQ_LEN)
        x[i, positions[:cx]] = TOKEN_X
        x[i, positions[cx : cx + cy]] = TOKEN_Y
        y[i] = int(cx > cy)
    return x, y


@functools.lru_cache(maxsize=1)
def split() -> DataSplit:
    """The fixed train / held-out sets (generated once per process; arrays are read-only)."""
    rng = np.random.default_rng(SEED)
    x_train, y_train = generate(TRAIN_SIZE, rng)
    x_test, y_test = generate(TEST_SIZE, rng)
    arrays = [np.ascontiguousarray(a) for a in (x_train, y_train, x_test, y_test)]
    for a in arrays:
        a.setflags(write=False)
    return DataSplit(*arrays)
