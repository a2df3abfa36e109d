"""``UserModel``: a user's model file or factory wrapped as a ``ZooModel`` (see :mod:`testbed_zoo.user`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import tensors
from .base import CALIBRATION_SEED, PARITY_SEED, ZooModel
from .frameworks import import_keras
from .layout import to_layout
from .spec import ModelSpec
from .user_io import feed, per_sample, seeded

# A file's runner: one batch-1 sample as the model takes it (by input name) -> every output.
Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


class UserModel(ZooModel):
    """A user's model: spec from inspecting it, hash of its bytes, the loaded object kept.

    ``input_shapes`` holds every input's concrete batch-1 shape (NCHW, as the model takes it): the
    model's own example, the user's ``--input-shape`` or its static dims. Seeded inputs are drawn
    at those shapes; inputs without a batch dimension travel as ``[N, *shape]`` (models/user_io.py).
    ``runner`` runs the onnx/tflite files (torch and keras run their loaded objects). References
    run one sample at a time, since user models often have a fixed batch of 1.
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
        input_shapes: Mapping[str, list[int]],
        torch_module: Any = None,
        keras_model: Any = None,
        runner: Runner | None = None,
        examples: Mapping[str, np.ndarray] | None = None,
        file: Path | None = None,
        stats: Callable[[], dict[str, Any]] | None = None,
        precision_evidence: str = "",
    ) -> None:
        super().__init__(spec, folder)
        self._hash = source_hash
        self._torch = torch_module
        self._loaded_keras = keras_model
        self._runner = runner
        self._file = file
        self._stats_fn = stats
        #: every input's concrete batch-1 shape, NCHW, as the model takes it (a scalar: [])
        self.input_shapes: dict[str, list[int]] = {k: list(v) for k, v in input_shapes.items()}
        # the model's own example ([1, ...] dict form, NCHW) when its shapes are the ones in use
        self._examples = dict(examples) if examples is not None else None
        # What shows the file's ``spec.file_precision`` (its quantization ops / tensor types), e.g.
        # "ops MatMulInteger x2, DynamicQuantizeLinear x2"; "" for fp32 and non-file models.
        self.precision_evidence = precision_evidence

    def __repr__(self) -> str:
        return f"UserModel(id={self.id!r}, origin={self.spec.origin!r})"

    def fold_into_hash(self, given: Mapping[str, Sequence[int]]) -> None:
        """Make input shapes part of ``source_hash`` (artifacts differ by shape): a model loaded with
        the user's ``--input-shape`` folds in every input's resolved shape, so the same sizes given
        either way (``ids`` alone, or ``ids`` and ``mask`` that shares its named dim) agree."""
        text = ";".join(f"{name}={','.join(str(int(d)) for d in dims)}" for name, dims in sorted(given.items()))
        self._hash = hashlib.sha256(f"{self._hash}\0{text}".encode()).hexdigest()

    def source_file(self) -> Path | None:
        """The file (or SavedModel folder) this model was loaded from; None for factories."""
        return self._file

    # ----------------------------------------------------------------- inputs

    def example_input(self, layout: str = "NCHW", seed: int = 0) -> np.ndarray:
        """Seed 0: the program's / factory's own example where it has one; else seeded random."""
        if seed == 0 and self._examples is not None:
            return to_layout(self._examples[self.spec.inputs[0].name].copy(), layout)
        return super().example_input(layout, seed)

    def example_inputs(self, layout: str = "NCHW", seed: int = 0) -> dict[str, np.ndarray]:
        """One sample of every input (seed 0: the model's own example where it has one)."""
        xs = self._examples if seed == 0 and self._examples is not None else self._seeded(1, seed)
        return tensors.lay_out({k: v.copy() for k, v in xs.items()}, self.spec.inputs, layout)

    def calibration_inputs(self, n: int = 64) -> dict[str, np.ndarray]:
        return self._seeded(n, CALIBRATION_SEED)

    def parity_input_sets(self, n: int = 8) -> dict[str, np.ndarray]:
        return self._seeded(n, PARITY_SEED)

    def _seeded(self, n: int, seed: int) -> dict[str, np.ndarray]:
        return seeded(self.spec.inputs, self.input_shapes, n, seed)

    def _random(self, n: int, seed: int) -> np.ndarray:
        return self._seeded(n, seed)[self.spec.inputs[0].name]

    def feed(self, xs: Mapping[str, np.ndarray], layout: str = "NCHW") -> dict[str, np.ndarray]:
        """One sample of ``xs`` (``[1, ...]`` each) as the model takes it, by name, in ``layout``."""
        return feed(self.spec.inputs, xs, layout)

    # ----------------------------------------------------------------- running

    def _build_keras(self, batch_size: int | None) -> Any:
        return keras_with_batch(self._loaded_keras, batch_size, self.spec, self.input_shapes)

    def _torch_tensors(self, xs: dict[str, np.ndarray]) -> list[Any]:
        import torch

        return [torch.tensor(x) for x in self.feed(xs).values()]

    def _reference_torch(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        with torch.no_grad():
            return per_sample(tensors.all_outputs(self.torch_module()(*self._torch_tensors(xs))))

    def _reference_onnx(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run_file(xs)

    def _reference_tflite(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._run_file(xs)

    def _run_file(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output of the file on one sample, each input fed by its name."""
        assert self._runner is not None
        return per_sample(self._runner(self.feed(xs, self.layout(self.spec.frameworks[0]))))

    def _count_stats(self) -> dict[str, Any]:
        return self._stats_fn() if self._stats_fn is not None else super()._count_stats()


def keras_with_batch(model: Any, batch_size: int | None, spec: ModelSpec,
                     shapes: Mapping[str, list[int]] | None = None) -> Any:
    """``model`` itself (any batch), or wrapped behind fixed ``batch_size`` inputs (converters want 1):
    every input (named as the spec names it, at its concrete shape, NHWC for images) and every output."""
    keras = import_keras()
    if batch_size is None:
        return model
    single = len(spec.inputs) == 1
    inputs = []
    for decl in spec.inputs:
        full = list((shapes or {}).get(decl.name) or decl.concrete())
        native = to_layout(np.zeros(full, dtype=np.int8), "NHWC").shape if single or decl.kind == "image" else full
        inputs.append(keras.Input(shape=tuple(native[1:]), batch_size=batch_size, dtype=decl.dtype, name=decl.name))
    outputs = tensors.all_outputs(model(inputs[0] if single else inputs))
    return keras.Model(inputs, outputs[0] if len(outputs) == 1 else outputs, name=spec.id)
