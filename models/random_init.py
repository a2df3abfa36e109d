"""``RandomInitModel``: a zoo model with seeded random PyTorch weights, ported to Keras."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import ZooModel
from .spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch


class RandomInitModel(ZooModel):
    """Seeded random weights made in PyTorch; the Keras twin is built from them.

    The model's package provides ``torch_model.build(num_classes) -> nn.Module`` (seeded, eval
    mode) and ``keras_model.build(weights, batch_size) -> keras.Model`` (weights: the torch state
    dict as numpy); its ``Model`` class only needs to subclass this one.
    """

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        super().__init__(spec, folder)
        self._weights: dict[str, np.ndarray] | None = None

    def weights(self) -> dict[str, np.ndarray]:
        """The torch state dict as numpy arrays (builds the torch module on first use)."""
        if self._weights is None:
            from .frameworks import state_dict_to_numpy

            self._weights = state_dict_to_numpy(self.torch_module())
        return self._weights

    def _build_torch(self) -> torch.nn.Module:
        return self._package_module("torch_model").build(self.spec.num_classes)

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        return self._package_module("keras_model").build(self.weights(), batch_size=batch_size)

    def _package_module(self, name: str) -> Any:
        """Import ``<the Model class's package>.<name>``."""
        package = sys.modules[type(self).__module__].__package__
        return importlib.import_module(f"{package}.{name}")
