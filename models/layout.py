"""Tensor layout conversion between NCHW (PyTorch) and NHWC (Keras / TFLite)."""

from __future__ import annotations

import numpy as np

from testbed.errors import ModelError

LAYOUTS = ("NCHW", "NHWC")


def to_layout(x_nchw: np.ndarray, layout: str) -> np.ndarray:
    """Return a 4-D NCHW array in ``layout``: ``"NCHW"`` (unchanged) or ``"NHWC"`` (contiguous copy)."""
    x = np.asarray(x_nchw)
    if layout not in LAYOUTS:
        raise ModelError(f"unknown layout '{layout}'; expected one of {', '.join(LAYOUTS)}")
    if x.ndim != 4:
        raise ModelError(f"layout conversion needs a 4-D NCHW array, got shape {list(x.shape)}")
    if layout == "NCHW":
        return x
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
