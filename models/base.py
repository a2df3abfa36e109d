"""``ZooModel``: one model of the zoo, the same weights in every framework it lists.

Each model folder's ``__init__.py`` defines ``Model``, a subclass that supplies the framework
builders and, where real data exists, the data sets. Everything heavy is built lazily and
cached on the instance. This module holds the base (identity, frameworks, references, stats,
data) and :func:`first_output`. Two ready-made bases beside it cover the zoo's weight sources:
:class:`~testbed_zoo.random_init.RandomInitModel` (seeded random torch weights, ported to Keras)
and :class:`~testbed_zoo.trained.TrainedModel` with its ``DataSplit`` (trained once per source
version, cached as ``.npz``); :mod:`testbed_zoo.sources` hashes a model's sources.
User models (files, factories) are ``ZooModel`` subclasses too, in :mod:`testbed_zoo.user`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import reference_cache, tensors
from .cache import read_json, write_json
from .errors import ModelError
from .layout import to_layout
from .sources import SHARED_SOURCES, hash_sources
from .spec import ModelSpec

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    import torch

ZOO_ROOT = Path(__file__).resolve().parent

# Seeds for the synthetic inputs of models without real data; distinct so sets do not overlap.
CALIBRATION_SEED = 1
PARITY_SEED = 2

# Random integer inputs of a user model whose vocabulary is unknown come from [0, USER_INT_HIGH).
USER_INT_HIGH = 10

# Native layout of each source framework's 4-D inputs (onnx/tflite files: spec.file_layout).
FRAMEWORK_LAYOUTS = {"pytorch": "NCHW", "keras": "NHWC"}


def first_output(out: Any) -> Any:
    """The first tensor of a model's output: itself, the first of a list/tuple, the first dict value."""
    while isinstance(out, (list, tuple, dict)):
        if not out:
            raise ModelError("the model returned an empty output")
        out = next(iter(out.values())) if isinstance(out, dict) else out[0]
    return out


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
        self._stats: dict[str, Any] | None = None
        #: framework -> where its last reference outputs came from: "cached" or "computed"
        self.reference_sources: dict[str, str] = {}

    #: The user's own inputs (``--inputs FILE.npz``, ``{name: [N, ...]}``): timed and judged instead
    #: of the model's data or seeded samples (testbed.inputs); None otherwise.
    user_inputs: dict[str, np.ndarray] | None = None

    # Samples per call when computing references (user models with a fixed batch use 1).
    _reference_chunk = 32
    # References kept in ``reference_cache`` (zoo models: the source hash fixes the weights).
    _cache_references = True

    def __repr__(self) -> str:
        return f"ZooModel(id={self.id!r}, folder={str(self.folder)!r})"

    # ----------------------------------------------------------------- identity

    def source_hash(self) -> str:
        """sha256 hex over this model's source files and the shared ones (``SHARED_SOURCES``)."""
        if self._hash is None:
            self._hash = hash_sources(self.folder, tuple(ZOO_ROOT / name for name in SHARED_SOURCES))
        return self._hash

    def source_file(self) -> Path | None:
        """The file this model is used from as is (a user's .onnx/.tflite/.pt2/.keras file or
        SavedModel folder); None for zoo models and factories, which are built from source."""
        return None

    def layout(self, framework: str) -> str:
        """The layout ``framework``'s source model takes 4-D inputs in (pytorch NCHW, keras NHWC,
        an onnx/tflite file its ``spec.file_layout``). Non-4-D inputs have no layout at all."""
        self._require(framework)
        return FRAMEWORK_LAYOUTS.get(framework) or self.spec.file_layout or "NCHW"

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
        """The first output of a single-input model on a batch, float32 ``[N, K]`` (see :meth:`references`)."""
        out = self.references(framework, {self.spec.inputs[0].name: x_nchw})[0]
        return out.reshape(len(out), -1)

    def references(self, framework: str, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the source model of ``framework`` on a batch of named inputs; every output, in the
        model's order, float32 ``[N, ...]``.

        ``xs`` maps each input name (``spec.inputs``) to ``[N, ...]`` (NCHW for images) of its
        dtype; float arrays holding whole numbers are accepted for integer inputs. ``framework``
        is one of ``spec.frameworks``: "pytorch", "keras", or for a user's file "onnx" / "tflite"
        (the file itself runs, in onnxruntime / LiteRT). A zoo model's outputs are cached on disk
        (``reference_cache``: keyed by source hash, framework version and the inputs' sha256), so
        a repeated call in another process imports no framework; ``reference_sources`` says
        which were read back.
        """
        runners = {
            "pytorch": self._reference_torch,
            "keras": self._reference_keras,
            "onnx": self._reference_onnx,
            "tflite": self._reference_tflite,
        }
        if framework not in runners:
            raise ModelError(
                f"unknown framework '{framework}' for model '{self.id}'; "
                f"expected one of {', '.join(self.spec.frameworks)}"
            )
        self._require(framework)
        arrays = self._check_batch(xs)
        n = tensors.count(arrays)
        path = (reference_cache.path_for(self.id, self.source_hash() + self._weights_stamp(), framework, arrays)
                if self._cache_references else None)
        cached = reference_cache.load(path) if path is not None else None
        if cached is not None:  # no framework imported (reference_cache says what the key holds)
            self.reference_sources[framework] = "cached"
            return cached
        chunks = [runners[framework](tensors.take(arrays, i, i + self._reference_chunk))
                  for i in range(0, n, self._reference_chunk)]
        out = [np.concatenate([np.asarray(c[k], dtype=np.float32).reshape(-1, *np.shape(c[k])[1:])
                               for c in chunks], axis=0) for k in range(len(chunks[0]))]
        if path is not None:  # the key again: computing may have trained the weights just now
            reference_cache.save(reference_cache.path_for(self.id, self.source_hash() + self._weights_stamp(),
                                                          framework, arrays), out)
        self.reference_sources[framework] = "computed"
        return out

    # ----------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        """Size and cost for one batch-1 input: ``{"params", "macs", "flops", "macs_by_op", "counted"}``.

        ``params`` and ``macs`` (multiply-accumulates; ``flops == 2 * macs``) are counted
        analytically as :mod:`testbed_zoo.stats` documents; ``macs``/``flops`` may be None where
        the source cannot be counted. Cached as JSON per source hash in ``cache_dir("stats")``.
        """
        if self._stats is None:
            from .paths import cache_dir
            from .stats import STATS_VERSION

            path = cache_dir("stats") / f"{self.id}-{self.source_hash()[:32]}-v{STATS_VERSION}.json"
            cached = read_json(path)
            if not (isinstance(cached, dict) and isinstance(cached.get("params"), int)):
                cached = self._count_stats()
                write_json(path, cached)
            self._stats = cached
        return dict(self._stats)

    def _count_stats(self) -> dict[str, Any]:
        """Count params/MACs from the torch module (zoo models always have one), else Keras."""
        from .stats import keras_stats, torch_stats

        if "pytorch" in self.spec.frameworks:
            return torch_stats(self.torch_module(), tuple(self._torch_tensors(self.example_inputs())))
        return keras_stats(self.keras_model())

    # ----------------------------------------------------------------- data

    # Every input below has ``spec.input_dtype`` (float32 images, int32 token ids, ...) and the
    # shape ``[n, *input_shape[1:]]``; "NCHW" only matters for 4-D inputs (to_layout).

    def example_input(self, layout: str = "NCHW", seed: int = 0) -> np.ndarray:
        """One batch-1 input in ``layout`` (seeded random unless the model has data)."""
        return to_layout(self._random(1, seed), layout)

    def eval_set(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Held-out ``(x NCHW, y int64)``, or None when the model has no eval data."""
        return None

    # The named-input forms of the four above: ``{name: [n, ...]}`` in the model's input order. A
    # single-input model's come from the methods above; a multi-input model overrides these (the
    # defaults are seeded inputs fitted to each input's dtype and role, tensors.seeded).

    def example_inputs(self, layout: str = "NCHW", seed: int = 0) -> dict[str, np.ndarray]:
        """One batch-1 sample of every input, 4-D image inputs in ``layout``."""
        if len(self.spec.inputs) == 1:
            return {self.spec.inputs[0].name: self.example_input(layout, seed)}
        return tensors.lay_out(tensors.seeded(self.spec.inputs, 1, seed), self.spec.inputs, layout)

    def eval_inputs(self) -> tuple[dict[str, np.ndarray], np.ndarray | None] | None:
        """Held-out ``({name: x}, labels or None)``, or None when the model has no eval data."""
        evalset = self.eval_set()
        return None if evalset is None else ({self.spec.inputs[0].name: evalset[0]}, evalset[1])

    def calibration_inputs(self, n: int = 64) -> dict[str, np.ndarray]:
        """``n`` samples of every input for quantisation calibration."""
        if len(self.spec.inputs) == 1:
            return {self.spec.inputs[0].name: self.calibration_set(n)}
        return tensors.seeded(self.spec.inputs, n, CALIBRATION_SEED)

    def parity_input_sets(self, n: int = 8) -> dict[str, np.ndarray]:
        """``n`` samples of every input for parity checks; identical every call."""
        if len(self.spec.inputs) == 1:
            return {self.spec.inputs[0].name: self.parity_inputs(n)}
        return tensors.seeded(self.spec.inputs, n, PARITY_SEED)

    def calibration_set(self, n: int = 64) -> np.ndarray:
        """``n`` NCHW inputs for quantisation calibration (seeded random by default)."""
        return self._random(n, CALIBRATION_SEED)

    def parity_inputs(self, n: int = 8) -> np.ndarray:
        """``n`` NCHW inputs for cross-framework parity checks; identical every call."""
        return self._random(n, PARITY_SEED)

    # ----------------------------------------------------------------- for subclasses

    def _build_torch(self) -> torch.nn.Module:
        """Build the torch module with its weights (subclasses override)."""
        raise ModelError(f"model '{self.id}' has no PyTorch implementation")

    def _build_keras(self, batch_size: int | None) -> keras.Model:
        """Build the Keras model with ``batch_size`` (1 or None) and its weights (subclasses override)."""
        raise ModelError(f"model '{self.id}' has no Keras implementation")

    # ----------------------------------------------------------------- helpers

    def _weights_stamp(self) -> str:
        """What identifies weights the source hash does not fix (trained ones: their file)."""
        return ""

    def _require(self, framework: str) -> None:
        if framework not in self.spec.frameworks:
            raise ModelError(
                f"model '{self.id}' is not available in {framework}; it lists {', '.join(self.spec.frameworks)}"
            )

    def _random(self, n: int, seed: int) -> np.ndarray:
        """``n`` seeded samples of the first input (NCHW for images): floats standard normal,
        integers uniform in ``[0, vocab_size)`` (``[0, USER_INT_HIGH)`` when the vocabulary is unknown)."""
        if n < 1:
            raise ModelError(f"need at least one sample, got n={n}")
        decl = self.spec.inputs[0]
        if decl.high is None and np.dtype(decl.dtype).kind in "iu" and decl.kind != "mask":
            decl = decl.model_copy(update={"high": self.spec.vocab_size or USER_INT_HIGH})
        return tensors.seeded([decl], n, seed)[decl.name]

    def _check_batch(self, xs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every input present, ``[N, ...]`` of its rank and fixed sizes, of its dtype (whole floats
        accepted for integers); an input without a batch dimension as ``[N, *shape]``."""
        arrays = tensors.ordered(xs, self.spec.inputs)
        out = {}
        for decl, x in zip(self.spec.inputs, arrays, strict=True):
            expected = decl.shape[1:] if tensors.batched(decl.shape) else decl.shape
            if x.ndim != len(expected) + 1 or not all(tensors.dynamic(d) or d == n
                                                       for d, n in zip(expected, x.shape[1:], strict=True)):
                what = "an NCHW batch" if len(expected) == 3 and decl.kind == "image" else "a batch"
                raise ModelError(f"model '{self.id}' input '{decl.name}' expects {what} "
                                 f"[N, {', '.join(map(str, expected))}], got {list(x.shape)}")
            dtype = np.dtype(decl.dtype)
            whole = x.dtype.kind in "iub" or (x.dtype.kind == "f" and np.array_equal(x, np.round(x)))
            if dtype.kind in "iu" and not whole:
                raise ModelError(f"model '{self.id}' input '{decl.name}' takes {dtype.name} values, "
                                 f"got non-integer {x.dtype.name} values")
            out[decl.name] = np.ascontiguousarray(x, dtype=dtype)
        return out

    def _torch_tensors(self, xs: dict[str, np.ndarray]) -> list[Any]:
        """The inputs as torch tensors in the model's order (a scalar input per sample: ``[N]``)."""
        import torch

        return [torch.tensor(x) for x in tensors.ordered(xs, self.spec.inputs)]

    def _reference_torch(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        module = self.torch_module()
        with torch.no_grad():
            outs = tensors.all_outputs(module(*self._torch_tensors(xs)))
        return [o.detach().cpu().float().numpy() for o in outs]

    def _keras_reference_model(self) -> keras.Model:
        """The Keras model used for references: any batch size where it can take one."""
        if self._keras_any_batch is None:
            self._keras_any_batch = self._build_keras(batch_size=None)
        return self._keras_any_batch

    def _reference_keras(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays = tensors.ordered(tensors.lay_out(xs, self.spec.inputs, "NHWC"), self.spec.inputs)
        outs = self._keras_reference_model()(arrays[0] if len(arrays) == 1 else arrays, training=False)
        return [np.asarray(o, dtype=np.float32) for o in tensors.all_outputs(outs)]

    def _reference_onnx(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise ModelError(f"model '{self.id}' is not an ONNX file")  # user models override

    def _reference_tflite(self, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
        raise ModelError(f"model '{self.id}' is not a TFLite file")  # user models override
