"""mobilenet_v2: hand-written MobileNetV2 1.0 with seeded random weights (speed only, no eval data).

The weights are generated deterministically in PyTorch (seed 0) on first use and ported to
Keras; inputs (example, calibration, parity) are seeded standard-normal noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..base import ZooModel
from ..spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch


class Model(ZooModel):
    """MobileNetV2 in PyTorch and Keras with identical seeded random weights."""

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        super().__init__(spec, folder)
        self._weights: dict[str, np.ndarray] | None = None

    def weights(self) -> dict[str, np.ndarray]:
        """The torch state dict as numpy arrays (builds the torch module on first use)."""
        if self._weights is None:
            from ..frameworks import state_dict_to_numpy

            self._weights = state_dict_to_numpy(self.torch_module())
        return self._weights

    def _build_torch(self) -> torch.nn.Module:
        from .torch_model import build

        return build(self.spec.num_classes)

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        from .keras_model import build

        return build(self.weights(), batch_size=batch_size, num_classes=self.spec.num_classes)
