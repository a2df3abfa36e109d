"""MobileNetV2 in Keras (NHWC), written by hand, built from the PyTorch weights.

Convs are ``keras_blocks.conv_bn`` (explicit symmetric padding, as torch pads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..frameworks import import_keras
from ..keras_blocks import conv_bn, dense
from .arch import DROPOUT, HEAD_CHANNELS, STEM_CHANNELS, blocks

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1) -> keras.Model:
    """Keras MobileNetV2 with input ``(batch_size, 224, 224, 3)`` and the given torch state dict
    (the class count follows the classifier weights)."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(224, 224, 3), batch_size=batch_size, name="input", dtype="float32")
    x = conv_bn(keras, inputs, weights, "stem", STEM_CHANNELS, 3, stride=2, act="relu6")
    for i, block in enumerate(blocks()):
        prefix = f"blocks.{i}"
        y = x
        if block.expansion != 1:
            y = conv_bn(keras, y, weights, f"{prefix}.expand", block.hidden, 1, act="relu6")
        y = conv_bn(keras, y, weights, f"{prefix}.depthwise", block.hidden, 3, block.stride, depthwise=True,
                    act="relu6")
        y = conv_bn(keras, y, weights, f"{prefix}.project", block.out_channels, 1, act=None)
        x = layers.Add(name=f"blocks_{i}_add")([x, y]) if block.residual else y
    x = conv_bn(keras, x, weights, "head", HEAD_CHANNELS, 1, act="relu6")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    outputs = dense(keras, x, weights, "classifier")
    return keras.Model(inputs, outputs, name="mobilenet_v2")
