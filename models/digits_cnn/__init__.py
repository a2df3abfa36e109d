"""digits_cnn: a small CNN trained once per source version on scikit-learn's digits.

Trained weights are cached as ``<cache>/weights/digits_cnn-<source_hash>.npz``; later loads
read the file and never retrain. Data comes from the bundled data set (no downloads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..trained import DataSplit, TrainedModel
from .data import split

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch


class Model(TrainedModel):
    """The digits CNN with real data: held-out eval set, training-image calibration."""

    def _split(self) -> DataSplit:
        return split()

    def _train(self) -> dict[str, np.ndarray]:
        from . import torch_model

        d = split()
        return torch_model.train(d.x_train, d.y_train, self.spec.num_classes)

    def _untrained_torch(self) -> torch.nn.Module:
        from .torch_model import DigitsCNN

        return DigitsCNN(self.spec.num_classes)

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        from .keras_model import build

        return build(self.weights(), batch_size=batch_size, num_classes=self.spec.num_classes)
