"""``UserModel``: a user's model file or factory wrapped as a ``ZooModel`` (see :mod:`testbed_zoo.user`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .base import ZooModel, first_output
from .frameworks import import_keras
from .layout import to_layout
from .spec import ModelSpec


class UserModel(ZooModel):
    """A user's model: spec from inspecting it, hash of its bytes, the loaded object kept.

    ``runner`` computes the first output for one batch in the framework's own layout (the
    onnx/tflite files only; torch and keras use the base class paths). References run one
    sample at a time, since user models often have a fixed batch of 1.
    """

    _reference_chunk = 1
    # Not cached: loading a user model already imported its framework (nothing to save), and a
    # factory's hash covers its module's source, not weights it may draw at random on each load.
    _cache_references = False

    def __init__(
        self,
        spec: ModelSpec,
        folder: Path,
        source_hash: str,
        *,
        torch_module: Any = None,
        keras_model: Any = None,
        runner: Callable[[np.ndarray], np.ndarray] | None = None,
        example: np.ndarray | None = None,
        file: Path | None = None,
        stats: Callable[[], dict[str, Any]] | None = None,
        precision_evidence: str = "",
    ) -> None:
        super().__init__(spec, folder)
        self._hash = source_hash
        self._torch = torch_module
        self._loaded_keras = keras_model
        self._runner = runner
        self._example = example
        self._file = file
        self._stats_fn = stats
        # What shows the file's ``spec.file_precision`` (its quantization ops / tensor types), e.g.
        # "ops MatMulInteger x2, DynamicQuantizeLinear x2"; "" for fp32 and non-file models.
        self.precision_evidence = precision_evidence

    def __repr__(self) -> str:
        return f"UserModel(id={self.id!r}, origin={self.spec.origin!r})"

    def source_file(self) -> Path | None:
        """The file (or SavedModel folder) this model was loaded from; None for factories."""
        return self._file

    def example_input(self, layout: str = "NCHW", seed: int = 0) -> np.ndarray:
        """Seed 0: the program's / factory's own example where it has one; else seeded random."""
        if seed == 0 and self._example is not None:
            return to_layout(self._example.copy(), layout)
        return super().example_input(layout, seed)

    def _build_keras(self, batch_size: int | None) -> Any:
        return keras_with_batch(self._loaded_keras, batch_size, self.spec)

    def _reference_onnx(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run_file(xs)

    def _reference_tflite(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run_file(xs)

    def _run_file(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        assert self._runner is not None
        (x,) = xs.values()
        return [self._runner(to_layout(x, self.layout(self.spec.frameworks[0])))]

    def _count_stats(self) -> dict[str, Any]:
        return self._stats_fn() if self._stats_fn is not None else super()._count_stats()


def keras_with_batch(model: Any, batch_size: int | None, spec: ModelSpec) -> Any:
    """``model`` itself (any batch), or wrapped behind a fixed ``batch_size`` input (converters want 1)."""
    keras = import_keras()
    if batch_size is None:
        return model
    native = to_layout(np.zeros(spec.input_shape, dtype=spec.input_dtype), "NHWC").shape
    inputs = keras.Input(shape=native[1:], batch_size=batch_size, dtype=spec.input_dtype, name="input")
    return keras.Model(inputs, first_output(model(inputs)), name=spec.id)
