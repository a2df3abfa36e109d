"""MobileNetV2 in Keras (NHWC), written by hand, built from the PyTorch weights.

Every spatial conv uses an explicit ``ZeroPadding2D`` + ``padding="valid"``: Keras "same"
padding with stride 2 pads only bottom/right, whereas torch pads both sides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..frameworks import import_keras
from ..porting import batchnorm, conv_kernel, dense_kernel, depthwise_kernel
from .arch import DROPOUT, HEAD_CHANNELS, STEM_CHANNELS, blocks

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

BN_EPSILON = 1e-5  # torch's BatchNorm2d default (Keras defaults to 1e-3)


def _conv_bn(
    keras: Any,
    x: Any,
    weights: dict[str, np.ndarray],
    prefix: str,
    filters: int,
    kernel: int,
    stride: int = 1,
    depthwise: bool = False,
    act: bool = True,
) -> Any:
    """Keras twin of torch ``ConvBN`` under state-dict ``prefix``; sets the layers' weights."""
    layers = keras.layers
    name = prefix.replace(".", "_")
    pad = (kernel - 1) // 2
    if pad:
        x = layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    torch_kernel = weights[f"{prefix}.conv.weight"]
    if depthwise:
        conv = layers.DepthwiseConv2D(kernel, strides=stride, padding="valid", use_bias=False, name=f"{name}_dw")
        x = conv(x)
        conv.set_weights([depthwise_kernel(torch_kernel)])
    else:
        conv = layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=False, name=f"{name}_conv")
        x = conv(x)
        conv.set_weights([conv_kernel(torch_kernel)])
    bn = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")
    x = bn(x)
    bn.set_weights(batchnorm(f"{prefix}.bn", weights))
    if act:
        x = layers.ReLU(6.0, name=f"{name}_relu6")(x)
    return x


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1, num_classes: int = 1000) -> keras.Model:
    """Keras MobileNetV2 with input ``(batch_size, 224, 224, 3)`` and the given torch state dict."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(224, 224, 3), batch_size=batch_size, name="input", dtype="float32")
    x = _conv_bn(keras, inputs, weights, "stem", STEM_CHANNELS, 3, stride=2)
    for i, block in enumerate(blocks()):
        prefix = f"blocks.{i}"
        y = x
        if block.expansion != 1:
            y = _conv_bn(keras, y, weights, f"{prefix}.expand", block.hidden, 1)
        y = _conv_bn(keras, y, weights, f"{prefix}.depthwise", block.hidden, 3, block.stride, depthwise=True)
        y = _conv_bn(keras, y, weights, f"{prefix}.project", block.out_channels, 1, act=False)
        x = layers.Add(name=f"blocks_{i}_add")([x, y]) if block.residual else y
    x = _conv_bn(keras, x, weights, "head", HEAD_CHANNELS, 1)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    classifier = layers.Dense(num_classes, name="classifier")
    outputs = classifier(x)
    classifier.set_weights([dense_kernel(weights["classifier.weight"]), weights["classifier.bias"]])
    return keras.Model(inputs, outputs, name="mobilenet_v2")
