"""`testbed convert`: build every selected variant of a model and check each against its source."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .check import check

Progress = Callable[[str], None]


def convert_matrix(model_id: str, formats: list[str] | None, sources: list[str] | None,
                   quantizations: list[str] | None, progress: Progress = lambda m: None) -> list[dict]:
    """One dict per variant: the artifact's facts plus parity/accuracy measured on this host."""
    import testbed_zoo

    from .converters import build, select

    model = testbed_zoo.load(model_id)
    rows = []
    refs: dict[str, np.ndarray] = {}
    for conv in converters_for(model, select(formats, sources, quantizations)):
        progress(f"converting {model.id} with {conv.name}")
        art = build(conv, model)
        row = art.to_dict() | {"parity": None, "accuracy": None}
        if art.ok:
            progress(f"checking {conv.name} against {conv.source}")
            result = check(art, model, refs)
            row.update(parity=result["parity"], accuracy=result["accuracy"])
            if result["error"]:
                row.update(status="failed", error=result["error"])
        rows.append(row)
    return rows


def converters_for(model, converters: list) -> list:  # type: ignore[no-untyped-def]
    """Only the converters whose source framework the model has (a user .onnx has no Keras side)."""
    frameworks = set(getattr(model.spec, "frameworks", []) or [])
    return [c for c in converters if not frameworks or c.source in frameworks]
