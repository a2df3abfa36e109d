"""text_transformer: a small transformer text classifier trained once per source version.

Trained in PyTorch on a deterministic synthetic task (does token 7 occur more often than token
11?, see ``data``); weights cached as ``<cache>/weights/text_transformer-<source_hash>.npz``.
Inputs are int32 token ids ``[N, 32]``: held-out sequences for eval, example and parity,
training sequences for calibration.
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
    """The text transformer with its synthetic data: held-out eval set, training-sequence calibration."""

    def _split(self) -> DataSplit:
        return split()

    def _train(self) -> dict[str, np.ndarray]:
        from . import torch_model

        d = split()
        return torch_model.train(d.x_train, d.y_train)

    def _untrained_torch(self) -> torch.nn.Module:
        from .torch_model import TextTransformer

        return TextTransformer()

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        from .keras_model import build

        return build(self.weights(), batch_size=batch_size)
