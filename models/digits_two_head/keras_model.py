"""The two-head digits CNN in Keras (NHWC), built from the PyTorch weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..frameworks import import_keras
from ..porting import conv_kernel, dense_after_flatten

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

# The trunk's output before flatten, torch order (C, H, W): the heads' dense rows are reordered for it.
TRUNK_CHW = (32, 4, 4)


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1) -> keras.Model:
    """Keras twin of ``DigitsTwoHead``: input ``input`` ``(batch_size, 8, 8, 1)``, outputs
    ``[digit, loops]`` in that order, with the given torch weights.

    Stride-1 3x3 "same" padding is symmetric (1 on each side) so it matches torch's padding=1.
    Head sizes come from the weights.
    """
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(8, 8, 1), batch_size=batch_size, name="input", dtype="float32")
    conv1 = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")
    conv2 = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")
    digit = layers.Dense(len(weights["digit.bias"]), name="digit")
    loops = layers.Dense(len(weights["loops.bias"]), name="loops")
    x = conv2(conv1(inputs))
    x = layers.MaxPooling2D(2, name="pool")(x)
    features = layers.Flatten(name="flatten")(x)
    outputs = [digit(features), loops(features)]
    conv1.set_weights([conv_kernel(weights["conv1.weight"]), weights["conv1.bias"]])
    conv2.set_weights([conv_kernel(weights["conv2.weight"]), weights["conv2.bias"]])
    for head in (digit, loops):
        head.set_weights([dense_after_flatten(weights[f"{head.name}.weight"], TRUNK_CHW), weights[f"{head.name}.bias"]])
    return keras.Model(inputs, outputs, name="digits_two_head")
