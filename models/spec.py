"""The model card every zoo folder carries as ``spec.yaml``, validated by pydantic.

A folder under ``models/`` is a zoo model exactly when it holds a ``spec.yaml``. A bad file
(unreadable YAML, an unknown key, a wrong type) raises :class:`testbed.errors.ModelError` that
names the file and the offending key, so the message alone says what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from testbed.errors import ModelError

SPEC_FILENAME = "spec.yaml"

Framework = Literal["pytorch", "keras"]


class ModelSpec(BaseModel):
    """Static description of one zoo model (what converters and reports need to know)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Model id; equals the folder name under models/ and the import name testbed_zoo.<id>.
    id: str
    # One human sentence: what the model is and where its weights come from.
    description: str
    # What the model computes; only classification (logits out) so far.
    task: Literal["classification"] = "classification"
    # Input tensor shape in NCHW with batch 1, e.g. [1, 1, 8, 8]; Keras models take it as NHWC.
    input_shape: list[int]
    # Element type of the input tensor.
    input_dtype: Literal["float32"] = "float32"
    # Number of output logits (classes).
    num_classes: int
    # True when the weights were learned on real data (accuracy is meaningful).
    trained: bool
    # Where the weights come from: "trained" on data, or seeded "random" init (speed only).
    weights: Literal["trained", "random"]
    # Source frameworks the model is written in; every one listed has identical weights.
    frameworks: list[Framework]
    # Human description of the held-out evaluation data, or None when there is none.
    eval_set: str | None = None

    @field_validator("id")
    @classmethod
    def _id_is_identifier(cls, value: str) -> str:
        """Ids double as Python package names, so they must be identifiers."""
        if not value.isidentifier():
            raise ValueError(f"must be a Python identifier (folder/package name), got {value!r}")
        return value

    @field_validator("input_shape")
    @classmethod
    def _shape_is_nchw_batch1(cls, value: list[int]) -> list[int]:
        """Four positive dims, batch first and equal to 1."""
        if len(value) != 4 or any(d <= 0 for d in value):
            raise ValueError(f"must be 4 positive ints [1, C, H, W], got {value}")
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
        return value

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
