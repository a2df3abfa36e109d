"""digits_two_head: a two-output CNN trained once per source version on scikit-learn's digits.

One shared conv trunk, two heads: ``digit`` (10 logits, the digit) and ``loops`` (3 logits, how
many closed loops the digit has: :data:`LOOPS_PER_DIGIT`). Both are trained jointly in PyTorch;
the torch module returns ``(digit_logits, loops_logits)`` and the Keras twin has the outputs
``[digit, loops]`` in that order. The data is ``digits_cnn``'s split, imported (not copied); its
file is part of this model's source hash. Weights are cached as
``<cache>/weights/digits_two_head-<source_hash>.npz``; later loads never retrain. The eval set's
labels are the first head's (digits); :func:`loops_of` derives the second head's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..base import ZOO_ROOT
from ..digits_cnn.data import split
from ..sources import SHARED_SOURCES, hash_sources
from ..trained import DataSplit, TrainedModel

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch

# Closed loops of each digit 0..9 as commonly written: 1 for 0, 4, 6, 9; 2 for 8; 0 for the rest.
LOOPS_PER_DIGIT = np.array([1, 0, 0, 0, 1, 0, 1, 0, 2, 1], dtype=np.int64)
NUM_LOOP_CLASSES = 3

# The data module this model shares with digits_cnn: hashed with this folder, so a changed split retrains.
DATA_SOURCE = ZOO_ROOT / "digits_cnn" / "data.py"


def loops_of(digits: np.ndarray) -> np.ndarray:
    """The ``loops`` head's labels (int64 0..2) for digit labels 0..9."""
    return LOOPS_PER_DIGIT[np.asarray(digits, dtype=np.int64)]


class Model(TrainedModel):
    """The two-head digits CNN with real data: held-out eval set (digit labels), training-image calibration."""

    def source_hash(self) -> str:
        """The base hash (this folder and the shared sources) plus ``digits_cnn/data.py``."""
        if self._hash is None:
            extra = (*(ZOO_ROOT / name for name in SHARED_SOURCES), DATA_SOURCE)
            self._hash = hash_sources(self.folder, extra)
        return self._hash

    def _split(self) -> DataSplit:
        return split()

    def _train(self) -> dict[str, np.ndarray]:
        from . import torch_model

        d = split()
        return torch_model.train(d.x_train, d.y_train, loops_of(d.y_train))

    def _untrained_torch(self) -> torch.nn.Module:
        from .torch_model import DigitsTwoHead

        return DigitsTwoHead(self.spec.num_classes, NUM_LOOP_CLASSES)

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        from .keras_model import build

        return build(self.weights(), batch_size=batch_size)
