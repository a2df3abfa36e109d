"""ResNet-18 in Keras (NHWC), written by hand, built from the PyTorch weights.

Convs are ``keras_blocks.conv_bn`` (explicit symmetric padding, as torch pads). The stem's
max-pool pads with zeros where torch pads with -inf; its input is post-ReLU (>= 0), so the
maxima are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..frameworks import import_keras
from ..keras_blocks import conv_bn, dense
from .arch import STEM_CHANNELS, blocks

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1) -> keras.Model:
    """Keras ResNet-18 with input ``(batch_size, 224, 224, 3)`` and the given torch state dict
    (the class count follows the classifier weights)."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(224, 224, 3), batch_size=batch_size, name="input", dtype="float32")
    x = conv_bn(keras, inputs, weights, "stem", STEM_CHANNELS, 7, stride=2, act="relu")
    x = layers.ZeroPadding2D(1, name="maxpool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool")(x)
    for i, block in enumerate(blocks()):
        prefix = f"blocks.{i}"
        y = conv_bn(keras, x, weights, f"{prefix}.conv1", block.out_channels, 3, block.stride, act="relu")
        y = conv_bn(keras, y, weights, f"{prefix}.conv2", block.out_channels, 3, act=None)
        if block.downsample:
            x = conv_bn(keras, x, weights, f"{prefix}.downsample", block.out_channels, 1, block.stride, act=None)
        x = layers.Add(name=f"blocks_{i}_add")([y, x])
        x = layers.ReLU(name=f"blocks_{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = dense(keras, x, weights, "fc")
    return keras.Model(inputs, outputs, name="resnet18")
