"""``TrainedModel``: a zoo model trained once per source version on real data, cached as ``.npz``.

``DataSplit`` is the model's fixed train / held-out data; the held-out part feeds the eval set,
the parity inputs and the example input, the training part the calibration set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .base import CALIBRATION_SEED, ZooModel
from .cache import read_npz, write_npz
from .errors import ModelError
from .layout import to_layout
from .spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch


class DataSplit(NamedTuple):
    """A model's real data: x in the model's input layout/dtype (NCHW images), y int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class TrainedModel(ZooModel):
    """Weights trained once per source version in PyTorch on real data, cached as ``.npz``.

    Subclasses implement :meth:`_split` (the fixed train/held-out data), :meth:`_train` (returns
    the numpy state dict) and :meth:`_untrained_torch` (the bare architecture); later loads read
    the cache and never retrain. Inputs come from the data: the held-out split is the eval set,
    its first samples the parity inputs, and a seeded choice of training samples calibrates.
    """

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        super().__init__(spec, folder)
        self._weights: dict[str, np.ndarray] | None = None
        self._data_split: DataSplit | None = None

    def weights_path(self) -> Path:
        """Where this source version's trained weights are cached."""
        from .paths import cache_dir

        return cache_dir("weights") / f"{self.id}-{self.source_hash()}.npz"

    def _weights_stamp(self) -> str:
        """The trained weights file's size and mtime: retrained weights (a deleted cache) give
        other references, even if training is meant to be deterministic."""
        try:
            st = self.weights_path().stat()
        except OSError:
            return ":untrained"
        return f":{st.st_size}:{st.st_mtime_ns}"

    def weights(self) -> dict[str, np.ndarray]:
        """Trained weights (torch state-dict layout, numpy); trains and caches them if missing."""
        if self._weights is None:
            path = self.weights_path()
            cached = read_npz(path)
            if cached is None:
                cached = self._train()
                write_npz(path, cached)
            self._weights = cached
        return self._weights

    def _build_torch(self) -> torch.nn.Module:
        from .frameworks import load_numpy_state

        module = self._untrained_torch()
        load_numpy_state(module, self.weights())
        return module

    def _split(self) -> DataSplit:
        """The fixed train / held-out data (subclasses override; should be cached)."""
        raise NotImplementedError

    def _data(self) -> DataSplit:
        """``_split()``, kept as ``.npz`` per source version under ``cache_dir("data")``: a
        deploy needs the held-out inputs, not the library that makes them (scikit-learn and the
        SciPy it imports cost 3-15 s on a loaded 2-core machine for digits' 1,797 images)."""
        if self._data_split is None:
            from .paths import cache_dir

            path = cache_dir("data") / f"{self.id}-{self.source_hash()[:32]}.npz"
            cached = read_npz(path)
            if cached is None or set(DataSplit._fields) - set(cached):
                cached = self._split()._asdict()
                write_npz(path, cached)
            arrays = [np.ascontiguousarray(cached[name]) for name in DataSplit._fields]
            for a in arrays:
                a.setflags(write=False)
            self._data_split = DataSplit(*arrays)
        return self._data_split

    def _train(self) -> dict[str, np.ndarray]:
        """Train deterministically; the torch state dict as numpy arrays (subclasses override)."""
        raise NotImplementedError

    def _untrained_torch(self) -> torch.nn.Module:
        """The torch architecture with any weights (subclasses override)."""
        raise NotImplementedError


    # ------------------------------------------------------------ data

    def example_input(self, layout: str = "NCHW", seed: int = 0) -> np.ndarray:
        """Held-out sample number ``seed`` (modulo the set size), batch 1."""
        x = self._data().x_test
        return to_layout(x[seed % len(x)][None].copy(), layout)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out split ``(x, y int64)``."""
        d = self._data()
        return d.x_test.copy(), d.y_test.copy()

    def calibration_set(self, n: int = 64) -> np.ndarray:
        """``n`` training samples, a fixed seeded choice (never held-out ones)."""
        x = self._data().x_train
        if not 1 <= n <= len(x):
            raise ModelError(f"model '{self.id}': calibration set size must be 1..{len(x)}, got {n}")
        order = np.random.default_rng(CALIBRATION_SEED).permutation(len(x))
        return x[np.sort(order[:n])].copy()

    def parity_inputs(self, n: int = 8) -> np.ndarray:
        """The first ``n`` held-out samples."""
        x = self._data().x_test
        if not 1 <= n <= len(x):
            raise ModelError(f"model '{self.id}': parity set size must be 1..{len(x)}, got {n}")
        return x[:n].copy()
