"""The digits CNN in Keras (NHWC), built from the PyTorch weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..frameworks import import_keras
from ..porting import conv_kernel, dense_after_flatten

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1, num_classes: int = 10) -> keras.Model:
    """Keras twin of ``DigitsCNN`` with input ``(batch_size, 8, 8, 1)`` and the given torch weights.

    Stride-1 3x3 "same" padding is symmetric (1 on each side) so it matches torch's padding=1.
    """
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(8, 8, 1), batch_size=batch_size, name="input", dtype="float32")
    conv1 = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")
    conv2 = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")
    fc = layers.Dense(num_classes, name="fc")
    x = conv1(inputs)
    x = conv2(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = fc(x)
    conv1.set_weights([conv_kernel(weights["conv1.weight"]), weights["conv1.bias"]])
    conv2.set_weights([conv_kernel(weights["conv2.weight"]), weights["conv2.bias"]])
    fc.set_weights([dense_after_flatten(weights["fc.weight"], (32, 4, 4)), weights["fc.bias"]])
    return keras.Model(inputs, outputs, name="digits_cnn")
