"""digits_cnn: a small CNN trained once per source version on scikit-learn's digits.

Trained weights are cached as ``<cache>/weights/digits_cnn-<source_hash>.npz``; later loads
read the file and never retrain. Data comes from the bundled data set (no downloads).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from testbed.errors import ModelError
from testbed.paths import cache_dir

from ..base import ZooModel
from ..layout import to_layout
from ..spec import ModelSpec
from .data import DigitsSplit, split

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch

CALIBRATION_SEED = 1


class Model(ZooModel):
    """The digits CNN with real data: held-out eval set, training-image calibration."""

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        super().__init__(spec, folder)
        self._weights: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------ weights

    def weights_path(self) -> Path:
        """Where this source version's trained weights are cached."""
        return cache_dir("weights") / f"{self.id}-{self.source_hash()}.npz"

    def weights(self) -> dict[str, np.ndarray]:
        """Trained weights (torch state-dict layout, numpy); trains and caches them if missing."""
        if self._weights is None:
            path = self.weights_path()
            cached = _read_npz(path)
            if cached is None:
                from . import torch_model

                d = split()
                cached = torch_model.train(d.x_train, d.y_train, self.spec.num_classes)
                _write_npz(path, cached)
            self._weights = cached
        return self._weights

    def _build_torch(self) -> torch.nn.Module:
        from ..frameworks import load_numpy_state
        from .torch_model import DigitsCNN

        module = DigitsCNN(self.spec.num_classes)
        load_numpy_state(module, self.weights())
        return module

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        from .keras_model import build

        return build(self.weights(), batch_size=batch_size, num_classes=self.spec.num_classes)

    # ------------------------------------------------------------ data

    def example_input(self, layout: str = "NCHW", seed: int = 0) -> np.ndarray:
        """Held-out image number ``seed`` (modulo the set size), batch 1."""
        x = self._split().x_test
        return to_layout(x[seed % len(x)][None].copy(), layout)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The stratified 20 % held-out split: x float32 ``[N, 1, 8, 8]``, y int64 ``[N]``."""
        d = self._split()
        return d.x_test.copy(), d.y_test.copy()

    def calibration_set(self, n: int = 64) -> np.ndarray:
        """``n`` training images, a fixed seeded choice (never held-out ones)."""
        x = self._split().x_train
        if not 1 <= n <= len(x):
            raise ModelError(f"model '{self.id}': calibration set size must be 1..{len(x)}, got {n}")
        order = np.random.default_rng(CALIBRATION_SEED).permutation(len(x))
        return x[np.sort(order[:n])].copy()

    def parity_inputs(self, n: int = 8) -> np.ndarray:
        """The first ``n`` held-out images."""
        x = self._split().x_test
        if not 1 <= n <= len(x):
            raise ModelError(f"model '{self.id}': parity set size must be 1..{len(x)}, got {n}")
        return x[:n].copy()

    @staticmethod
    def _split() -> DigitsSplit:
        return split()


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """Arrays of a cached ``.npz``, or None when it is missing or unreadable (then retrain)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (temp file + rename) so concurrent loaders never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
