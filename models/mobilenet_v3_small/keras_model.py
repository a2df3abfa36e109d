"""MobileNetV3-Small in Keras (NHWC), written by hand, built from the PyTorch weights.

Convs are ``keras_blocks.conv_bn`` (explicit symmetric padding, as torch pads); hard-swish and
hard-sigmoid are Keras' built-ins, which equal torch's (``x * relu6(x + 3) / 6``, ``relu6(x + 3) / 6``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..frameworks import import_keras
from ..keras_blocks import conv, conv_bn, dense
from .arch import BN_EPSILON, DROPOUT, HEAD_CHANNELS, STEM_CHANNELS, blocks

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras


def _squeeze_excite(keras: Any, x: Any, weights: dict[str, np.ndarray], prefix: str) -> Any:
    """Keras twin of ``SqueezeExcite`` under ``prefix``."""
    layers = keras.layers
    name = prefix.replace(".", "_")
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = conv(keras, s, weights, f"{prefix}.fc1", act="relu")
    s = conv(keras, s, weights, f"{prefix}.fc2", act="hard_sigmoid")
    return layers.Multiply(name=f"{name}_scale")([x, s])


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1) -> keras.Model:
    """Keras MobileNetV3-Small with input ``(batch_size, 224, 224, 3)`` and the given torch state dict
    (the class count follows the classifier weights)."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(224, 224, 3), batch_size=batch_size, name="input", dtype="float32")
    x = conv_bn(keras, inputs, weights, "stem", STEM_CHANNELS, 3, stride=2, act="hard_swish", eps=BN_EPSILON)
    for i, block in enumerate(blocks()):
        prefix = f"blocks.{i}"
        y = x
        if block.expanded != block.in_channels:
            y = conv_bn(keras, y, weights, f"{prefix}.expand", block.expanded, 1, act=block.act, eps=BN_EPSILON)
        y = conv_bn(
            keras, y, weights, f"{prefix}.depthwise", block.expanded, block.kernel, block.stride,
            depthwise=True, act=block.act, eps=BN_EPSILON,
        )
        if block.se:
            y = _squeeze_excite(keras, y, weights, f"{prefix}.se")
        y = conv_bn(keras, y, weights, f"{prefix}.project", block.out_channels, 1, act=None, eps=BN_EPSILON)
        x = layers.Add(name=f"blocks_{i}_add")([x, y]) if block.residual else y
    x = conv_bn(keras, x, weights, "head", HEAD_CHANNELS, 1, act="hard_swish", eps=BN_EPSILON)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = dense(keras, x, weights, "pre_classifier", act="hard_swish")
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    outputs = dense(keras, x, weights, "classifier")
    return keras.Model(inputs, outputs, name="mobilenet_v3_small")
