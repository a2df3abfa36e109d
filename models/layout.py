"""Tensor layout conversion between NCHW (PyTorch) and NHWC (Keras / TFLite).

Layouts only concern 4-D (image-like) tensors. Anything else — token ids ``[N, T]``, a user
model's ``[N, F]`` features — is the same in every framework, so conversion is the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ModelError

LAYOUTS = ("NCHW", "NHWC")


def _check(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ModelError(f"unknown layout '{layout}'; expected one of {', '.join(LAYOUTS)}")


def to_layout(x_nchw: np.ndarray, layout: str) -> np.ndarray:
    """Return an NCHW array in ``layout``: ``"NCHW"`` (unchanged) or ``"NHWC"`` (contiguous copy).

    Arrays that are not 4-D have no layout and come back unchanged for either layout.
    """
    x = np.asarray(x_nchw)
    _check(layout)
    if layout == "NCHW" or x.ndim != 4:
        return x
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def shape_to_nchw(shape: Sequence[int], layout: str) -> list[int]:
    """A shape given in ``layout`` as NCHW (4-D NHWC ``[N, H, W, C]`` -> ``[N, C, H, W]``; others unchanged)."""
    _check(layout)
    dims = [int(d) for d in shape]
    if layout == "NHWC" and len(dims) == 4:
        n, h, w, c = dims
        return [n, c, h, w]
    return dims


def guess_layout(shape: Sequence[int], default: str) -> str:
    """The layout of a 4-D input of a model file, from where a small channel dim (1-4) sits.

    ``[1, 3, 224, 224]`` is NCHW and ``[1, 224, 224, 3]`` NHWC; when both ends (or neither)
    look like channels the ecosystem's ``default`` wins (ONNX: NCHW, TFLite: NHWC).
    """
    _check(default)
    if len(shape) != 4:
        return default
    first, last = 1 <= shape[1] <= 4, 1 <= shape[3] <= 4
    if first != last:
        return "NCHW" if first else "NHWC"
    return default
