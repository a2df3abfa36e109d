"""Pure-numpy weight layout conversions from PyTorch (NCHW) to Keras (NHWC).

PyTorch stores conv kernels as ``[out, in, kh, kw]`` and dense weights as ``[out, in]``;
Keras stores them as ``[kh, kw, in, out]`` and ``[in, out]``. A dense layer behind a flatten
also needs its input rows reordered, because torch flattens ``C, H, W`` and Keras ``H, W, C``.
"""

from __future__ import annotations

import numpy as np


def conv_kernel(weight: np.ndarray) -> np.ndarray:
    """Conv2d kernel ``[out, in, kh, kw]`` -> Keras Conv2D kernel ``[kh, kw, in, out]``."""
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    """Depthwise Conv2d kernel ``[C, 1, kh, kw]`` -> Keras DepthwiseConv2D ``[kh, kw, C, 1]``."""
    if weight.shape[1] != 1:
        raise ValueError(f"depthwise kernel must be [C, 1, kh, kw], got {list(weight.shape)}")
    return np.ascontiguousarray(weight.transpose(2, 3, 0, 1))


def dense_kernel(weight: np.ndarray) -> np.ndarray:
    """Linear weight ``[out, in]`` -> Keras Dense kernel ``[in, out]``."""
    return np.ascontiguousarray(weight.T)


def dense_after_flatten(weight: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Linear weight ``[out, C*H*W]`` fed by a torch flatten -> Keras kernel ``[H*W*C, out]``.

    Row ``h*W*C + w*C + c`` of the result is torch column ``c*H*W + h*W + w``.
    """
    c, h, w = chw
    out = weight.shape[0]
    if weight.shape[1] != c * h * w:
        raise ValueError(f"dense weight {list(weight.shape)} does not match flatten of {chw}")
    return np.ascontiguousarray(weight.reshape(out, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, out))


def batchnorm(prefix: str, weights: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Torch BatchNorm2d tensors under ``prefix`` -> Keras [gamma, beta, moving_mean, moving_var]."""
    return [
        weights[f"{prefix}.weight"],
        weights[f"{prefix}.bias"],
        weights[f"{prefix}.running_mean"],
        weights[f"{prefix}.running_var"],
    ]
