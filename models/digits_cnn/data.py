"""scikit-learn's bundled digits (8x8 grayscale, 10 classes), split 80/20 stratified, seed 0."""

from __future__ import annotations

import functools

import numpy as np

from ..trained import DataSplit

SPLIT_SEED = 0
TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=1)
def split() -> DataSplit:
    """The fixed train/held-out split: x float32 NCHW ``[N, 1, 8, 8]`` in [0, 1], y int64 ``[N]``.

    Computed once per process; the arrays are read-only.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED
    )
    arrays = [np.ascontiguousarray(a) for a in (x_train, y_train, x_test, y_test)]
    for a in arrays:
        a.setflags(write=False)
    return DataSplit(*arrays)
