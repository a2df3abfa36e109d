"""Named tensors: inputs and outputs are lists of (name, shape, dtype), ready for several of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .versions import SchemaError, _check_fields


@dataclass(frozen=True)
class TensorSpec:
    """One named tensor: ``{"name": "input", "shape": [1, 28, 28, 1], "dtype": "float32"}``."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_wire(cls, raw: Any) -> TensorSpec:
        _check_fields("tensor", raw, ("name", "shape", "dtype"), ("name", "shape", "dtype"))
        name, shape, dtype = raw["name"], raw["shape"], raw["dtype"]
        if not isinstance(name, str) or not name:
            raise SchemaError(f"a tensor's name must be a non-empty string, got {name!r:.40}")
        if (not isinstance(shape, (list, tuple))
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise SchemaError(f"tensor {name}: shape must be a list of sizes >= 0, got {shape!r:.60}")
        if not isinstance(dtype, str) or not dtype:
            raise SchemaError(f"tensor {name}: dtype must be a string such as 'float32'")
        return cls(name, tuple(shape), dtype)

    @classmethod
    def of(cls, name: str, array: Any) -> TensorSpec:
        """The spec of a numpy array (anything with ``shape`` and ``dtype``)."""
        return cls(name, tuple(int(d) for d in array.shape), str(array.dtype))


def tensors_from_wire(raw: Any, what: str) -> list[TensorSpec] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise SchemaError(f"{what} must be a list of {{name, shape, dtype}} tensors")
    specs = [TensorSpec.from_wire(t) for t in raw]
    names = [t.name for t in specs]
    if len(set(names)) != len(names):
        raise SchemaError(f"{what}: tensor names must be unique, got {names}")
    return specs


def tensors_to_wire(specs: list[TensorSpec] | None) -> list[dict[str, Any]] | None:
    return None if specs is None else [t.to_wire() for t in specs]
