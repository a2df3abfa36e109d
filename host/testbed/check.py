"""Check an artifact on the host: run it in its runtime (the agent's own runtime classes, in
process) on real inputs and compare every output with the source framework's — parity and accuracy.

This is what `testbed convert` reports; `testbed deploy` measures the same thing on the board.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import inputs, records
from .errors import first_line


def check(artifact: Any, model: Any, references: dict[str, records.References] | None = None) -> dict:
    """``{"parity": {...}, "parity_outputs": [...], "accuracy": float|None, "input_dtype_changes":
    {name: [model dtype, artifact dtype]}|None, "error": str|None}`` for an ok artifact (``parity``:
    the worst output). ``references`` caches the source framework's outputs
    per source across artifacts of one model."""
    from testbed_agent.arrays import load_inputs
    from testbed_agent.runtimes import registry as runtimes

    inset = inputs.build(model, artifact.layout)
    refs = references if references is not None else {}
    if artifact.source not in refs:
        refs[artifact.source] = records.References.of(model, model.references(artifact.source, inset.evals))
    try:
        runtime = runtimes.get(artifact.runtime)
        runtime.prepare()
        session = runtime.load(str(artifact.path), None)
        feed = load_inputs(str(inset.path), inset.tensors)
        order = feed.ordered(session.input_names) if session.input_names else list(range(len(feed.names)))
        casts = feed.conform(session.input_dtypes, order)
        per_sample = []
        for i in range(feed.n_eval):
            sample = feed.eval_sample(i)
            per_sample.append(session.run([sample[j] for j in order]))
        outputs = [np.stack([np.asarray(s[k]) for s in per_sample]) for k in range(len(per_sample[0]))]
    except Exception as exc:  # noqa: BLE001 - any runtime failure is a finding about this artifact
        return {"parity": None, "parity_outputs": None, "accuracy": None, "input_dtype_changes": None,
                "error": f"{artifact.runtime}: {first_line(exc)}"}
    record: dict[str, Any] = {"parity": None, "parity_outputs": None, "accuracy": None,
                              "input_dtype_changes": casts or None}
    from testbed_agent.arrays import npy_b64

    records.add_parity(record, {"outputs_npy_b64": npy_b64(outputs[0]),
                                "eval_outputs_npy_b64": [npy_b64(o) for o in outputs]},
                       refs[artifact.source], inset.labels)
    return {**record, "error": None}
