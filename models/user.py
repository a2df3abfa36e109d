"""User models: a model file or a factory function, wrapped as a :class:`ZooModel`.

``testbed_zoo.load`` hands anything that is not a zoo id to :func:`load_user`:

=====================================  ==============  ==================================================
spec string                            frameworks      how it is read
=====================================  ==============  ==================================================
``path/model.pt2``                     pytorch         ``torch.export.load``; ``.module()`` runs it
``path/model.keras``                   keras           ``keras.models.load_model`` (safe mode)
``path/saved_model_dir/``              keras           ``keras.layers.TFSMLayer`` on ``serving_default``
``path/model.onnx``                    onnx            used as is; onnxruntime runs the file
``path/model.tflite``                  tflite          used as is; the LiteRT interpreter runs the file
``package.module:function``            pytorch|keras   ``function()`` returns ``(model, example_inputs)``
=====================================  ==============  ==================================================

Rules every kind follows: exactly one input tensor of float32, int32 or int64, batch 1 (a
dynamic batch dim is taken as 1; other dims must be static); the first output is the model's
output, flattened per sample to ``[N, num_classes]``; 4-D inputs are NCHW in the spec (pytorch is
NCHW, keras NHWC; an onnx/tflite file's layout is guessed from where its small channel dim
sits, default NCHW for ONNX and NHWC for TFLite: ``spec.file_layout``; what such a file computes
in, fp32 / fp16 / int8, is read from its ops and tensor types: ``spec.file_precision``, see
models/precision.py). No eval set; calibration
and parity inputs are seeded random (integers in ``[0, USER_INT_HIGH)``); the example input is
the program's / factory's own example where there is one. ``source_hash`` is the sha256 of the
file bytes (a SavedModel: of all its files; a factory: of its module's source file and the
function name). Every problem is one :class:`ModelError` line naming the spec and the fix.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from .base import ZooModel, first_output
from .errors import ModelError, first_line
from .frameworks import import_keras
from .layout import guess_layout, shape_to_nchw, to_layout
from .spec import ModelSpec

FILE_KINDS = {".pt2": "torch.export program", ".keras": "Keras model", ".onnx": "ONNX model", ".tflite": "TFLite model"}
SUPPORTED = ".pt2 (torch.export), .keras, a SavedModel folder, .onnx, .tflite, or package.module:function"
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_DTYPES = ("float32", "int32", "int64")
_SINGLE_INPUT = "testbed supports single-input models only"  # the fix for a model with more inputs


def looks_like_user_model(text: str) -> bool:
    """Whether ``text`` names a file, folder or factory (rather than a mistyped zoo id)."""
    return bool(_FACTORY.match(text)) or "/" in text or "\\" in text or bool(Path(text).suffix) or Path(text).exists()


def load_user(text: str) -> ZooModel:
    """Load a user model from a path or ``package.module:function`` (see the module docstring)."""
    if _FACTORY.match(text) and not Path(text).exists():
        return _load_factory(text)
    path = Path(text).expanduser()
    if not path.exists():
        raise ModelError(f"{text}: no such file or folder; give an existing {SUPPORTED}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return _load_saved_model(path, text)
        raise ModelError(f"{text}: a folder, but not a SavedModel (no saved_model.pb); give a {SUPPORTED}")
    loaders: dict[str, Callable[[Path, str], ZooModel]] = {
        ".pt2": _load_pt2,
        ".keras": _load_keras_file,
        ".onnx": _load_onnx,
        ".tflite": _load_tflite,
    }
    suffix = path.suffix.lower()
    if suffix not in loaders:
        raise ModelError(f"{text}: unknown model file extension '{path.suffix}'; give a {SUPPORTED}")
    return loaders[suffix](path, text)


# ---------------------------------------------------------------------------- the model class


class UserModel(ZooModel):
    """A user's model: spec from inspecting it, hash of its bytes, the loaded object kept.

    ``runner`` computes the first output for one batch in the framework's own layout (the
    onnx/tflite files only; torch and keras use the base class paths). References run one
    sample at a time, since user models often have a fixed batch of 1.
    """

    _reference_chunk = 1

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
        return _keras_with_batch(self._loaded_keras, batch_size, self.spec)

    def _reference_onnx(self, x: np.ndarray) -> np.ndarray:
        return self._run_file(x)

    def _reference_tflite(self, x: np.ndarray) -> np.ndarray:
        return self._run_file(x)

    def _run_file(self, x: np.ndarray) -> np.ndarray:
        assert self._runner is not None
        return self._runner(to_layout(x, self.layout(self.spec.frameworks[0])))

    def _count_stats(self) -> dict[str, Any]:
        return self._stats_fn() if self._stats_fn is not None else super()._count_stats()


# ---------------------------------------------------------------------------- spec building


def _fail(text: str, what: str, exc: BaseException | None = None, fix: str = "") -> ModelError:
    """One line: the spec string, what is wrong (with the tool's first line) and the fix."""
    detail = f": {type(exc).__name__}: {first_line(exc, 200)}" if exc is not None else ""
    return ModelError(f"{text}: {what}{detail}{'; ' + fix if fix else ''}")


def _identifier(name: str) -> str:
    """A readable id from a file stem / function name that is also a safe identifier."""
    ident = re.sub(r"\W+", "_", name).strip("_") or "model"
    return f"m_{ident}" if ident[0].isdigit() else ident


def _dtype(text: str, dtype: Any) -> str:
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in _DTYPES:
        raise _fail(text, f"input dtype {name} is not supported", fix="use a float32, int32 or int64 input")
    return name


def _batch1_shape(text: str, dims: list[Any]) -> list[int]:
    """Static ints with batch 1: a dynamic batch becomes 1; other dynamic dims are an error."""
    if not dims:
        raise _fail(text, "the input is a scalar", fix="give the model a batched input [1, ...]")
    out: list[int] = []
    for i, d in enumerate(dims):
        static = isinstance(d, (int, np.integer)) and d > 0
        if i == 0:
            if static and d != 1:
                raise _fail(text, f"the input batch dimension is {d}", fix="export / save it with a batch-1 input")
            out.append(1)
        elif static:
            out.append(int(d))
        else:
            raise _fail(text, f"input dimension {i} is dynamic ({d})", fix="export / save it with a static input shape")
    return out


def _make_spec(text: str, name: str, framework: str, native_shape: list[int], dtype: str, outputs: int,
               layout: str, file_layout: str | None = None, file_precision: str | None = None) -> ModelSpec:
    """The spec of a user model (input shape given in the framework's ``layout``)."""
    shape = shape_to_nchw(native_shape, layout)
    kind = ("image" if len(shape) == 4 and dtype == "float32"
            else "tokens" if len(shape) == 2 and dtype != "float32" else "tensor")
    try:  # the strings are checked here by pydantic: a bad one is the user's error below
        return ModelSpec.model_validate(dict(
            id=_identifier(name),
            description=f"User {framework} model from {text}",
            task="other",
            input_kind=kind,
            input_shape=shape,
            input_dtype=dtype,
            num_classes=outputs,
            trained=False,
            weights="user",
            frameworks=[framework],
            file_layout=file_layout,
            file_precision=file_precision,
            origin=text,
        ))
    except ValidationError as exc:
        raise _fail(text, f"cannot describe the model: {exc.errors()[0]['msg']}") from exc


def _outputs(text: str, run: Callable[[], Any]) -> int:
    """Run the model once on its batch-1 example; values per sample of its first output."""
    try:
        out = np.asarray(first_output(run()))
    except ModelError:
        raise
    except Exception as exc:
        raise _fail(text, "running the model on its batch-1 example input failed", exc,
                    "check the input shape/dtype it was saved with") from exc
    if out.ndim == 0 or out.size == 0:
        raise _fail(text, f"the model's first output has shape {list(out.shape)}", fix="return a [1, K] output")
    return int(out.size // out.shape[0]) if out.shape[0] else int(out.size)


def _file_hash(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative names + bytes, sorted)."""
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _random_example(shape: list[int], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype == "float32":
        return rng.standard_normal(shape, dtype=np.float32)
    from .base import USER_INT_HIGH

    return rng.integers(0, USER_INT_HIGH, size=shape, dtype=np.dtype(dtype))


# ---------------------------------------------------------------------------- torch


def _torch_example(text: str, example: Any) -> np.ndarray:
    """One example tensor / array (or a 1-tuple/list of it) as numpy."""
    if isinstance(example, (tuple, list)):
        if len(example) != 1:
            raise _fail(text, f"{len(example)} example inputs given", fix=_SINGLE_INPUT)
        example = example[0]
    if hasattr(example, "detach"):
        example = example.detach().cpu().numpy()
    if not isinstance(example, np.ndarray) and hasattr(example, "numpy"):
        example = example.numpy()  # TensorFlow tensors
    if not isinstance(example, np.ndarray):
        raise _fail(text, f"the example input is a {type(example).__name__}", fix="give a tensor / numpy array")
    return example


def _torch_user_model(text: str, name: str, module: Any, example: np.ndarray, folder: Path, source_hash: str,
                      file: Path | None, any_batch: bool) -> UserModel:
    """``any_batch``: the module takes any batch size, so a larger example is cut to its first sample."""
    import torch

    dtype = _dtype(text, example.dtype)
    shape = _batch1_shape(text, [None if any_batch else example.shape[0], *example.shape[1:]] if example.ndim else [])
    example = np.ascontiguousarray(example[:1], dtype=dtype)
    with torch.no_grad():
        outputs = _outputs(text, lambda: first_output(module(torch.tensor(example))).detach().numpy())
    spec = _make_spec(text, name, "pytorch", shape, dtype, outputs, "NCHW")
    return UserModel(spec, folder, source_hash, torch_module=module, example=example, file=file)


def _load_pt2(path: Path, text: str) -> ZooModel:
    import torch

    export_log = logging.getLogger("torch.export")
    level = export_log.level
    export_log.setLevel(logging.ERROR)  # torch logs a traceback before raising on a bad archive
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise _fail(text, "cannot read the torch.export program", exc,
                    "save it with torch.export.save(torch.export.export(model, (x,)), path)") from exc
    finally:
        export_log.setLevel(level)
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise _fail(text, f"the program takes {len(user_inputs)} inputs", fix=_SINGLE_INPUT)
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_inputs[0])
    val = node.meta["val"]
    any_batch = bool(val.shape) and not isinstance(val.shape[0], int)
    example = None
    if program.example_inputs is not None:
        args, kwargs = program.example_inputs
        tensors = [*args, *kwargs.values()]
        if len(tensors) == 1:
            example = _torch_example(text, tensors[0])
    if example is None:  # no stored example: a seeded one of the placeholder's shape
        dims = [int(d) if isinstance(d, int) else None for d in val.shape]
        dims[0] = 1 if dims and dims[0] is None else dims[0]
        example = _random_example(_batch1_shape(text, dims), _dtype(text, str(val.dtype).removeprefix("torch.")))
    # ExportedProgram.module() cannot switch to eval(); it runs as it was exported (export in eval mode).
    return _torch_user_model(text, path.stem, program.module(), example, path.parent, _file_hash(path), path, any_batch)


# ---------------------------------------------------------------------------- keras


def _keras_with_batch(model: Any, batch_size: int | None, spec: ModelSpec) -> Any:
    """``model`` itself (any batch), or wrapped behind a fixed ``batch_size`` input (converters want 1)."""
    keras = import_keras()
    if batch_size is None:
        return model
    native = to_layout(np.zeros(spec.input_shape, dtype=spec.input_dtype), "NHWC").shape
    inputs = keras.Input(shape=native[1:], batch_size=batch_size, dtype=spec.input_dtype, name="input")
    return keras.Model(inputs, first_output(model(inputs)), name=spec.id)


def _keras_user_model(text: str, name: str, model: Any, folder: Path, source_hash: str, file: Path | None,
                      example_nhwc: np.ndarray | None = None) -> UserModel:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise _fail(text, "the Keras model has no defined input",
                    fix="build it with keras.Input(shape=...) before saving")
    if len(inputs) != 1:
        raise _fail(text, f"the Keras model takes {len(inputs)} inputs", fix=_SINGLE_INPUT)
    dtype = _dtype(text, inputs[0].dtype)
    shape = _batch1_shape(text, [1 if i == 0 and d is None else d for i, d in enumerate(inputs[0].shape)])
    if example_nhwc is None:
        example_nhwc = _random_example(shape, dtype)
    example_nhwc = np.ascontiguousarray(example_nhwc[:1], dtype=dtype)
    outputs = _outputs(text, lambda: np.asarray(first_output(model(example_nhwc, training=False))))
    spec = _make_spec(text, name, "keras", shape, dtype, outputs, "NHWC")
    example = example_nhwc.transpose(0, 3, 1, 2).copy() if example_nhwc.ndim == 4 else example_nhwc
    return UserModel(spec, folder, source_hash, keras_model=model, example=example, file=file)


def _load_keras_file(path: Path, text: str) -> ZooModel:
    keras = import_keras()
    try:
        model = keras.models.load_model(str(path), compile=False)
    except Exception as exc:
        raise _fail(text, "cannot load the Keras file", exc,
                    "save it with model.save('name.keras'); lambda layers need registered custom layers") from exc
    return _keras_user_model(text, path.stem, model, path.parent, _file_hash(path), path)


def _load_saved_model(path: Path, text: str) -> ZooModel:
    """A TF SavedModel through ``keras.layers.TFSMLayer`` (its ``serving_default`` signature)."""
    keras = import_keras()
    try:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serving_default"]
    except KeyError as exc:
        raise _fail(text, "the SavedModel has no 'serving_default' signature",
                    fix="save it with a serving signature (tf.saved_model.save(obj, dir, signatures=fn))") from exc
    except Exception as exc:
        raise _fail(text, "cannot load the SavedModel", exc,
                    "save it with tf.saved_model.save or model.export(dir)") from exc
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise _fail(text, f"its serving signature takes {len(specs)} inputs", fix=_SINGLE_INPUT)
    (arg, tensor_spec), = specs.items()
    dtype = _dtype(text, tensor_spec.dtype.as_numpy_dtype)
    shape = _batch1_shape(text, [1 if i == 0 and d is None else d for i, d in enumerate(tensor_spec.shape.as_list())])
    output_key = min(signature.structured_outputs)
    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default", name="saved_model")
        inputs = keras.Input(shape=shape[1:], dtype=dtype, name=arg)
        outputs = layer(inputs)
        output = outputs[output_key] if isinstance(outputs, dict) else outputs
        model = keras.Model(inputs, output, name=_identifier(path.name))
    except Exception as exc:
        raise _fail(text, "cannot wrap the SavedModel's serving signature as a Keras layer", exc) from exc
    return _keras_user_model(text, path.name, model, path, _file_hash(path), path)


# ---------------------------------------------------------------------------- onnx / tflite files


def _load_onnx(path: Path, text: str) -> ZooModel:
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise _fail(text, "cannot load the ONNX file (corrupt or not ONNX)", exc,
                    "export it again (torch.onnx.export / tf2onnx) and check it with onnx.checker") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise _fail(text, f"the ONNX graph takes {len(inputs)} inputs", fix=_SINGLE_INPUT)
    onnx_types = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}
    if inputs[0].type not in onnx_types:
        raise _fail(text, f"input type {inputs[0].type} is not supported", fix="use a float32, int32 or int64 input")
    dtype = onnx_types[inputs[0].type]
    dims = [d if isinstance(d, int) else None for d in inputs[0].shape]
    native = _batch1_shape(text, [1 if i == 0 and d is None else d for i, d in enumerate(dims)])
    layout = guess_layout(native, "NCHW")
    input_name = inputs[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: x})[0], dtype=np.float32)

    outputs = _outputs(text, lambda: run(_random_example(native, dtype)))
    precision, evidence = _file_precision(text, path, "onnx")
    spec = _make_spec(text, path.stem, "onnx", native, dtype, outputs, layout, file_layout=layout,
                      file_precision=precision)

    def stats() -> dict[str, Any]:
        from .stats import onnx_stats

        return onnx_stats(path)

    return UserModel(spec, path.parent, _file_hash(path), runner=run, file=path, stats=stats,
                     precision_evidence=evidence)


def _file_precision(text: str, path: Path, framework: str) -> tuple[str, str]:
    """``(spec.file_precision, evidence)`` of a user's .onnx / .tflite file (models/precision.py)."""
    from .precision import onnx_precision, tflite_precision

    try:
        return onnx_precision(path) if framework == "onnx" else tflite_precision(path)
    except Exception as exc:
        raise _fail(text, f"cannot read the {framework} file's tensor types", exc) from exc


def _load_tflite(path: Path, text: str) -> ZooModel:
    try:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        interpreter.allocate_tensors()
    except Exception as exc:
        raise _fail(text, "cannot load the TFLite file (corrupt or not a TFLite flatbuffer)", exc,
                    "convert it again with tf.lite.TFLiteConverter or litert-torch") from exc
    details = interpreter.get_input_details()
    if len(details) != 1:
        raise _fail(text, f"the TFLite model takes {len(details)} inputs", fix=_SINGLE_INPUT)
    dtype = _dtype(text, details[0]["dtype"])
    native = _batch1_shape(text, [int(d) for d in details[0]["shape"]])
    layout = guess_layout(native, "NHWC")
    input_index, output_index = details[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(input_index, np.ascontiguousarray(x))
        interpreter.invoke()
        return np.asarray(interpreter.get_tensor(output_index), dtype=np.float32).copy()

    outputs = _outputs(text, lambda: run(_random_example(native, dtype)))
    precision, evidence = _file_precision(text, path, "tflite")
    spec = _make_spec(text, path.stem, "tflite", native, dtype, outputs, layout, file_layout=layout,
                      file_precision=precision)

    def stats() -> dict[str, Any]:
        from .stats import tflite_stats

        return tflite_stats(path)

    return UserModel(spec, path.parent, _file_hash(path), runner=run, file=path, stats=stats,
                     precision_evidence=evidence)


# ---------------------------------------------------------------------------- factories


def _load_factory(text: str) -> ZooModel:
    module_name, func_name = text.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise _fail(text, f"cannot import module '{module_name}'", exc,
                    "put the folder that holds it on PYTHONPATH (or install it)") from exc
    func = getattr(module, func_name, None)
    if func is None or not callable(func):
        where = getattr(module, "__file__", None) or module_name
        raise _fail(text, f"module '{module_name}' ({where}) has no function '{func_name}'",
                    fix="name a function defined in that module")
    try:
        result = func()
    except Exception as exc:
        raise _fail(text, f"calling {func_name}() failed", exc) from exc
    wrong = "it must return (model, example_inputs) with a torch.nn.Module or keras.Model"
    if not (isinstance(result, tuple) and len(result) == 2):
        raise _fail(text, f"{func_name}() returned a {type(result).__name__}", fix=wrong)
    model, example = result
    torch = sys.modules.get("torch")
    keras = sys.modules.get("keras")
    source = getattr(module, "__file__", None)
    digest = hashlib.sha256(Path(source).read_bytes() if source else module_name.encode())
    digest.update(b"\0" + text.encode())
    folder = Path(source).parent if source else Path.cwd()
    if torch is not None and isinstance(model, torch.nn.Module):
        module = model.to(device="cpu").eval()
        return _torch_user_model(text, func_name, module, _torch_example(text, example), folder, digest.hexdigest(),
                                 None, True)
    if keras is not None and isinstance(model, keras.Model):
        return _keras_user_model(text, func_name, model, folder, digest.hexdigest(), None,
                                 _torch_example(text, example))
    raise _fail(text, f"{func_name}() returned a {type(model).__name__} as its model", fix=wrong)
