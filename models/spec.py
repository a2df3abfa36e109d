"""The model card every zoo folder carries as ``spec.yaml``, validated by pydantic.

A folder under ``models/`` is a zoo model exactly when it holds a ``spec.yaml``. A bad file
(unreadable YAML, an unknown key, a wrong type) raises :class:`testbed_zoo.errors.ModelError` that
names the file and the offending key, so the message alone says what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .errors import ModelError

SPEC_FILENAME = "spec.yaml"

# Where a model can run as its source: the two training frameworks, or a user's ONNX / TFLite file
# used as is (only user models list "onnx" or "tflite", and then only that one).
Framework = Literal["pytorch", "keras", "onnx", "tflite"]
FILE_FRAMEWORKS = ("onnx", "tflite")
# What the single input tensor holds. "image": float32 [1, C, H, W] (NCHW here; Keras/TFLite see NHWC);
# "tokens": integer ids [1, T] (layout-free); "tensor": anything else a user model takes (rank >= 1).
InputKind = Literal["image", "tokens", "tensor"]
# Element types a model's tensors may have (every form, every runtime the agent feeds).
TensorDtype = Literal["float32", "float16", "int8", "uint8", "int32", "int64", "bool"]
InputDtype = TensorDtype
Layout = Literal["NCHW", "NHWC"]
# What one input holds, which decides how seeded inputs are drawn for it: "image" float [1, C, H, W]
# (NCHW; laid out NHWC for Keras/TFLite), "tokens" integer ids in [0, high), "mask" 0/1 (an attention
# mask), "segment" token type ids in [0, high) (default 2), "tensor" anything else (floats standard
# normal, integers in [0, high)). A scalar input is a "tensor" of shape [].
InputRole = Literal["image", "tokens", "mask", "segment", "tensor"]
# What one output holds, which decides how its parity is judged (testbed.stats.output_parity):
# "logits" top-1 agreement, "embedding" cosine similarity, "boxes" IoU, "tensor" max |delta| only.
OutputRole = Literal["logits", "embedding", "boxes", "tensor"]


class InputDecl(BaseModel):
    """One named model input: ``{name: input_ids, shape: [1, 128], dtype: int64, kind: tokens, high: 30522}``.

    ``shape`` holds sizes, or names for dynamic dimensions (``[batch, 16000]``): a named dimension
    gets its size from the model's own example or from the user (``--input-shape NAME=1,16000``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    shape: list[int | str]
    dtype: TensorDtype = "float32"
    kind: InputRole = "tensor"
    # Integer inputs: seeded values are drawn from [0, high) (tokens: the vocabulary size).
    high: int | None = None

    @property
    def dynamic(self) -> list[int]:
        """Positions of the dimensions without a size."""
        return [i for i, d in enumerate(self.shape) if isinstance(d, str) or d < 0]

    def concrete(self) -> tuple[int, ...]:
        """The shape with sizes only; a ModelError-worthy ValueError names a dynamic dimension."""
        if self.dynamic:
            dims = ", ".join(str(self.shape[i]) for i in self.dynamic)
            raise ValueError(f"input '{self.name}' has dynamic dimension(s) {dims} {self.shape}: give its shape "
                             f"with --input-shape {self.name}=" + ",".join("1" if isinstance(d, str) or d < 0
                                                                         else str(d) for d in self.shape))
        return tuple(int(d) for d in self.shape)


class OutputDecl(BaseModel):
    """One named model output and how its parity is judged (``kind``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: OutputRole = "tensor"


class ModelSpec(BaseModel):
    """Static description of one zoo model (what converters and reports need to know)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Model id; equals the folder name under models/ and the import name testbed_zoo.<id>.
    id: str
    # One human sentence: what the model is and where its weights come from.
    description: str
    # What the model computes: "classification" (logits out; top-1 agreement and accuracy), "embedding"
    # (a vector per sample; judged by cosine similarity and whether pair similarity rankings hold),
    # "other" for user models, whose outputs are only compared for parity.
    task: Literal["classification", "embedding", "other"] = "classification"
    # What the input is (see InputKind); decides the shape rules below and whether layouts apply.
    input_kind: InputKind = "image"
    # Input tensor shape with batch 1. image: NCHW [1, C, H, W] (Keras/TFLite take it as NHWC);
    # tokens: [1, T]; tensor: [1, ...] as the model takes it.
    input_shape: list[int]
    # Element type of the input tensor: float32 for images, int32 (or a user model's int64) for tokens.
    input_dtype: InputDtype = "float32"
    # tokens only: ids are drawn from [0, vocab_size); None for other kinds and for user models
    # whose vocabulary is unknown (their random ids come from a small range).
    vocab_size: int | None = None
    # Number of output values per sample: the logits (classes) of a classifier.
    num_classes: int
    # True when the weights were learned on real data (accuracy is meaningful).
    trained: bool
    # Where the weights come from: "trained" on data, seeded "random" init (speed only), or
    # "user": whatever a user's file / factory holds (not known to be trained, never checked).
    weights: Literal["trained", "random", "user"]
    # Source frameworks the model runs in; every one listed has identical weights.
    frameworks: list[Framework]
    # onnx/tflite files only: the layout the file's 4-D input expects (input_shape stays NCHW);
    # None for everything else (pytorch is NCHW, keras is NHWC).
    file_layout: Layout | None = None
    # onnx/tflite files only: what the file computes in, read from its ops and tensors
    # (models/precision.py): "fp32", "fp16" or "int8" (already quantized: used as is, labelled
    # e.g. onnx-file-int8, never quantized again). None for everything else.
    file_precision: Literal["fp32", "fp16", "int8"] | None = None
    # User models only: the path or "module:function" string they were loaded from; None in the zoo.
    origin: str | None = None
    # Human description of the held-out evaluation data, or None when there is none.
    eval_set: str | None = None
    # Every input and output in the model's order. A spec may give them (several inputs/outputs),
    # or the single-input fields above (input_shape, input_dtype, input_kind, vocab_size), from which
    # one input named "input" and one output ("logits" for classifiers) are derived; either way both
    # lists are filled, and input_shape / input_dtype describe the first input.
    inputs: list[InputDecl] = []
    outputs: list[OutputDecl] = []

    @model_validator(mode="before")
    @classmethod
    def _fill_io(cls, data: Any) -> Any:
        """Fill ``inputs``/``outputs`` from the single-input fields, or those from ``inputs[0]``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        inputs = data.get("inputs")
        if not inputs and "input_shape" in data:
            kind = data.get("input_kind", "image")
            data["inputs"] = [{"name": "input", "shape": data["input_shape"],
                               "dtype": data.get("input_dtype", "float32"),
                               "kind": kind, "high": data.get("vocab_size")}]
        elif inputs and isinstance(inputs, list) and isinstance(inputs[0], dict):
            first = inputs[0]
            shape = first.get("shape")
            if "input_shape" not in data and isinstance(shape, list):
                data["input_shape"] = [d if isinstance(d, int) and d > 0 else 1 for d in shape] or [1]
                data.setdefault("input_dtype", first.get("dtype", "float32"))
                kind = first.get("kind", "tensor")
                data.setdefault("input_kind", kind if kind in ("image", "tokens") else "tensor")
                if kind == "tokens" and first.get("high"):
                    data.setdefault("vocab_size", first["high"])
        if not data.get("outputs"):
            data["outputs"] = [{"name": "output",
                                "kind": {"classification": "logits", "embedding": "embedding"}.get(
                                    data.get("task", "classification"), "tensor")}]
        return data

    @field_validator("inputs", "outputs")
    @classmethod
    def _names_unique(cls, value: list[Any]) -> list[Any]:
        names = [v.name for v in value]
        if not names or len(set(names)) != len(names) or not all(names):
            raise ValueError(f"need one or more uniquely named tensors, got names {names}")
        return value

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, value: str) -> str:
        """Ids double as Python package names, so they must be identifiers."""
        if not value.isidentifier():
            raise ValueError(f"must be a Python identifier (folder/package name), got {value!r}")
        return value

    @field_validator("input_shape")
    @classmethod
    def _shape_is_batch1(cls, value: list[int]) -> list[int]:
        """Positive dims, batch first and equal to 1 (the rank is checked per input_kind below)."""
        if not value or any(d <= 0 for d in value):
            raise ValueError(f"must be positive ints [1, ...], got {value}")
        if value[0] != 1:
            raise ValueError(f"batch dimension must be 1, got {value[0]}")
        return value

    @field_validator("num_classes")
    @classmethod
    def _positive_classes(cls, value: int) -> int:
        """At least one output."""
        if value < 1:
            raise ValueError(f"must be >= 1, got {value}")
        return value

    @field_validator("frameworks")
    @classmethod
    def _frameworks_nonempty(cls, value: list[str]) -> list[str]:
        """At least one framework, none twice."""
        if not value or len(set(value)) != len(value):
            raise ValueError(f"must list each framework once (pytorch, keras), got {value}")
        if any(f in FILE_FRAMEWORKS for f in value) and len(value) != 1:
            raise ValueError(f"an onnx or tflite file is its only framework, got {value}")
        return value

    @model_validator(mode="after")
    def _input_matches_kind(self) -> ModelSpec:
        """Rank and dtype fit ``input_kind``; ``vocab_size`` only for tokens."""
        shape, kind = self.input_shape, self.input_kind
        if kind == "image" and (len(shape) != 4 or self.input_dtype != "float32"):
            raise ValueError(
                f"input_kind image needs a float32 [1, C, H, W] input_shape, got {self.input_dtype} {shape}")
        if kind == "tokens" and (len(shape) != 2 or self.input_dtype not in ("int32", "int64")):
            raise ValueError(
                f"input_kind tokens needs an int32/int64 [1, T] input_shape, got {self.input_dtype} {shape}")
        if self.vocab_size is not None and (kind != "tokens" or self.vocab_size < 2):
            raise ValueError(
                f"vocab_size must be None unless input_kind is tokens, and then >= 2; got {self.vocab_size}")
        if self.file_layout is not None and not any(f in FILE_FRAMEWORKS for f in self.frameworks):
            raise ValueError("file_layout is only for onnx/tflite files used as is")
        if self.file_precision is not None and not any(f in FILE_FRAMEWORKS for f in self.frameworks):
            raise ValueError("file_precision is only for onnx/tflite files used as is")
        return self

    @model_validator(mode="after")
    def _trained_matches_weights(self) -> ModelSpec:
        """``trained`` and ``weights`` say the same thing twice; they must agree."""
        if self.trained != (self.weights == "trained"):
            raise ValueError(f"trained={self.trained} contradicts weights={self.weights!r}")
        return self


def _format_error(path: Path, exc: ValidationError) -> str:
    """One line naming the file, the first bad key and why."""
    err = exc.errors()[0]
    key = ".".join(str(part) for part in err["loc"]) or "<root>"
    if err["type"] == "extra_forbidden":
        reason = "unknown key"
    else:
        reason = err["msg"]
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: key '{key}': {reason}{suffix}"


def load_spec(path: Path | str) -> ModelSpec:
    """Read and validate one ``spec.yaml``; any problem is a ModelError naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model spec: {exc.strerror or exc}") from exc
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a model spec must be a YAML mapping, got {type(data).__name__}")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise ModelError(_format_error(path, exc)) from exc
