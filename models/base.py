"""``ZooModel``: one model of the zoo, the same weights in every framework it lists.

Each model folder's ``__init__.py`` defines ``Model``, a subclass that supplies the framework
builders and, where real data exists, the data sets. Everything heavy is built lazily and
cached on the instance.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from testbed.errors import ModelError

from .layout import to_layout
from .spec import SPEC_FILENAME, ModelSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch

ZOO_ROOT = Path(__file__).resolve().parent

# Seeds for the synthetic inputs of models without real data; distinct so sets do not overlap.
CALIBRATION_SEED = 1
PARITY_SEED = 2

_REFERENCE_CHUNK = 32


def hash_sources(folder: Path, extra: tuple[Path, ...] = ()) -> str:
    """sha256 hex over the ``*.py`` files and ``spec.yaml`` under ``folder`` plus ``extra`` files.

    Paths enter the hash relative to their root so a moved checkout hashes the same.
    """
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and (p.suffix == ".py" or p.name == SPEC_FILENAME)
    )
    entries = [(p.relative_to(folder).as_posix(), p) for p in files]
    entries += [(f"<extra>/{p.name}", p) for p in extra]
    for name, path in entries:
        content = path.read_bytes()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(str(len(content)).encode("ascii") + b"\0")
        digest.update(content)
    return digest.hexdigest()


class ZooModel:
    """A zoo model: spec, folder, lazily built framework models and its data sets."""

    id: str
    spec: ModelSpec
    folder: Path

    def __init__(self, spec: ModelSpec, folder: Path) -> None:
        """Wrap an already validated spec and the folder it came from."""
        self.id = spec.id
        self.spec = spec
        self.folder = Path(folder)
        self._torch: torch.nn.Module | None = None
        self._keras: keras.Model | None = None
        self._keras_any_batch: keras.Model | None = None
        self._hash: str | None = None

    def __repr__(self) -> str:
        return f"ZooModel(id={self.id!r}, folder={str(self.folder)!r})"

    # ----------------------------------------------------------------- identity

    def source_hash(self) -> str:
        """sha256 hex over this model's source files and the shared ``models/spec.py``."""
        if self._hash is None:
            self._hash = hash_sources(self.folder, (ZOO_ROOT / "spec.py",))
        return self._hash

    # ----------------------------------------------------------------- frameworks

    def torch_module(self) -> torch.nn.Module:
        """The PyTorch model: eval mode, CPU, float32, weights loaded. Built once per instance."""
        self._require("pytorch")
        if self._torch is None:
            import torch

            self._torch = self._build_torch().to(device="cpu", dtype=torch.float32).eval()
        return self._torch

    def keras_model(self) -> keras.Model:
        """The Keras model: NHWC input with a fixed batch of 1, same weights as torch."""
        self._require("keras")
        if self._keras is None:
            self._keras = self._build_keras(batch_size=1)
        return self._keras

    def reference(self, framework: str, x_nchw: np.ndarray) -> np.ndarray:
        """Run the source model of ``framework`` on an NCHW batch; float32 ``[N, num_classes]``."""
        x = self._check_batch(x_nchw)
        if framework == "pytorch":
            return self._reference_torch(x)
        if framework == "keras":
            return self._reference_keras(x)
        raise ModelError(f"unknown framework '{framework}' for model '{self.id}'; expected pytorch or keras")

    # ----------------------------------------------------------------- data

    def example_input(self, layout: str = "NCHW", seed: int = 0) -> np.ndarray:
        """One batch-1 float32 input in ``layout`` (seeded random unless the model has data)."""
        return to_layout(self._random(1, seed), layout)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Held-out ``(x NCHW float32, y int64)``, or None when the model has no eval data."""
        return None

    def calibration_set(self, n: int = 64) -> np.ndarray:
        """``n`` NCHW float32 inputs for quantisation calibration (seeded random by default)."""
        return self._random(n, CALIBRATION_SEED)

    def parity_inputs(self, n: int = 8) -> np.ndarray:
        """``n`` NCHW float32 inputs for cross-framework parity checks; identical every call."""
        return self._random(n, PARITY_SEED)

    # ----------------------------------------------------------------- for subclasses

    def _build_torch(self) -> torch.nn.Module:
        """Build the torch module with its weights (subclasses override)."""
        raise ModelError(f"model '{self.id}' has no PyTorch implementation")

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        """Build the Keras model with ``batch_size`` (1 or None) and its weights (subclasses override)."""
        raise ModelError(f"model '{self.id}' has no Keras implementation")

    # ----------------------------------------------------------------- helpers

    def _require(self, framework: str) -> None:
        if framework not in self.spec.frameworks:
            raise ModelError(
                f"model '{self.id}' is not available in {framework}; it lists {', '.join(self.spec.frameworks)}"
            )

    def _random(self, n: int, seed: int) -> np.ndarray:
        """``n`` seeded standard-normal float32 inputs of this model's shape, NCHW."""
        if n < 1:
            raise ModelError(f"need at least one sample, got n={n}")
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n, *self.spec.input_shape[1:]), dtype=np.float32)

    def _check_batch(self, x_nchw: np.ndarray) -> np.ndarray:
        x = np.asarray(x_nchw)
        expected = tuple(self.spec.input_shape[1:])
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            raise ModelError(
                f"model '{self.id}' expects an NCHW batch [N, {', '.join(map(str, expected))}], got {list(x.shape)}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)

    def _reference_torch(self, x: np.ndarray) -> np.ndarray:
        import torch

        module = self.torch_module()
        with torch.no_grad():
            out = module(torch.tensor(x))
        return out.detach().cpu().numpy().astype(np.float32, copy=False)

    def _reference_keras(self, x: np.ndarray) -> np.ndarray:
        self._require("keras")
        if self._keras_any_batch is None:
            self._keras_any_batch = self._build_keras(batch_size=None)
        model = self._keras_any_batch
        x_nhwc = to_layout(x, "NHWC")
        outs: list[Any] = []
        for start in range(0, len(x_nhwc), _REFERENCE_CHUNK):
            outs.append(np.asarray(model(x_nhwc[start : start + _REFERENCE_CHUNK], training=False)))
        return np.concatenate(outs, axis=0).astype(np.float32, copy=False)
