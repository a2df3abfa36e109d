"""Arrays in and out of a measurement: the inputs ``.npz`` the host sends, and outputs as base64
``.npy`` inside the result JSON. Used by ``measure`` and by runtimes that measure by themselves."""

from __future__ import annotations

import base64
import io

import numpy as np


def npy_b64(array: np.ndarray) -> str:
    """base64 of ``np.save`` bytes, the form arrays travel in inside JSON."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def load_inputs(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``timing`` array and the optional ``eval`` array of an inputs .npz."""
    with np.load(path, allow_pickle=False) as npz:
        if "timing" not in npz.files:
            raise ValueError(f"the inputs .npz has no 'timing' array (keys: {npz.files})")
        timing = np.ascontiguousarray(npz["timing"])
        evals = np.ascontiguousarray(npz["eval"]) if "eval" in npz.files else None
    if evals is not None and evals.ndim < 1:
        raise ValueError("the inputs .npz 'eval' array must be [N, ...] samples")
    return timing, evals
