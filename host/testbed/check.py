"""Check an artifact on the host: run it in its runtime (the agent's own runtime classes, in
process) on real inputs and compare with the source framework — parity and accuracy.

This is what `testbed convert` reports; `testbed deploy` measures the same thing on the board.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import inputs
from .errors import first_line
from .stats import accuracy, parity


def check(artifact: Any, model: Any, references: dict[str, np.ndarray] | None = None) -> dict:
    """``{"parity": {...}, "accuracy": float|None, "error": str|None}`` for an ok artifact.

    ``references`` caches the source framework's outputs per source across artifacts of one model.
    """
    from testbed_agent.runtimes import registry as runtimes

    inset = inputs.build(model, artifact.layout)
    refs = references if references is not None else {}
    if artifact.source not in refs:
        refs[artifact.source] = model.reference(artifact.source, inset.eval_nchw)
    try:
        runtime = runtimes.get(artifact.runtime)
        runtime.prepare()
        session = runtime.load(str(artifact.path), None)
        x = np.load(inset.path)["eval"]
        outputs = np.stack([np.asarray(session.run([x[i:i + 1]])[0]).reshape(-1) for i in range(len(x))])
    except Exception as exc:  # noqa: BLE001 - any runtime failure is a finding about this artifact
        return {"parity": None, "accuracy": None, "error": f"{artifact.runtime}: {first_line(exc)}"}
    return {
        "parity": parity(outputs, refs[artifact.source]),
        "accuracy": accuracy(outputs, inset.labels) if inset.labels is not None else None,
        "error": None,
    }
