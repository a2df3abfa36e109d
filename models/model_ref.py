"""A model reference: a zoo id, a user's file or factory, plus what the user fixed about its inputs.

``voice.onnx#audio=1,1600;state=2,1,128;@inputs=/data/clips.npz`` is the model ``voice.onnx`` with
the dynamic dimensions of inputs ``audio`` and ``state`` given (``--input-shape NAME=dims``) and its
inputs read from the user's own arrays (``--inputs FILE.npz``). The whole string is the model's
name in plans, cells, the store and reports, so a resumed run or a nightly plan loads exactly the
same model; the shapes and the inputs file's bytes enter the model's source hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelError

INPUTS_KEY = "@inputs"


@dataclass(frozen=True)
class ModelRef:
    """What ``testbed_zoo.load`` needs: the model, input shapes by name, the user's inputs file."""

    model: str
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    inputs_file: Path | None = None

    def __str__(self) -> str:
        items = [f"{name}={','.join(map(str, dims))}" for name, dims in self.input_shapes.items()]
        if self.inputs_file is not None:
            items.append(f"{INPUTS_KEY}={self.inputs_file}")
        return self.model + ("#" + ";".join(items) if items else "")


def parse_shape(text: str, what: str) -> list[int]:
    """``1,512`` (or ``1x512``) -> ``[1, 512]``; ``""`` is a scalar ``[]``; anything else one line."""
    text = text.strip()
    if not text:
        return []
    try:
        dims = [int(d) for d in text.replace("x", ",").split(",")]
    except ValueError:
        raise ModelError(f"{what}: '{text}' is not a shape; give sizes like 1,512") from None
    if any(d < 0 for d in dims):
        raise ModelError(f"{what}: sizes must be >= 0, got {text}")
    return dims


def parse(ref: str) -> ModelRef:
    """Split ``MODEL#NAME=dims;...;@inputs=PATH`` (the fragment is optional)."""
    model, sep, fragment = ref.partition("#")
    if not sep:
        return ModelRef(ref)
    shapes: dict[str, list[int]] = {}
    inputs_file = None
    for item in filter(None, (part.strip() for part in fragment.split(";"))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ModelError(f"model '{ref}': '{item}' is not NAME=dims or {INPUTS_KEY}=PATH")
        if key == INPUTS_KEY:
            inputs_file = Path(value)
        else:
            shapes[key] = parse_shape(value, f"input shape {key}")
    return ModelRef(model, shapes, inputs_file)


def compose(model: str, input_shapes: Sequence[str] | Mapping[str, Sequence[int]] = (),
            inputs_file: str | Path | None = None) -> str:
    """The reference for ``model`` with CLI-style ``NAME=1,512`` items (or a mapping) and a file."""
    base = parse(model)
    shapes = dict(base.input_shapes)
    items = input_shapes.items() if isinstance(input_shapes, Mapping) else [_split(s) for s in input_shapes]
    for name, dims in items:
        shapes[name] = parse_shape(dims, f"--input-shape {name}") if isinstance(dims, str) else list(dims)
    file = Path(inputs_file).resolve() if inputs_file is not None else base.inputs_file
    return str(ModelRef(base.model, shapes, file))


def _split(item: str) -> tuple[str, str]:
    name, eq, dims = item.partition("=")
    if not eq or not name.strip():
        raise ModelError(f"--input-shape '{item}': give NAME=dims, e.g. input_ids=1,128")
    return name.strip(), dims
