"""Keras (NHWC) twins of :mod:`testbed_zoo.torch_blocks`, built from a torch state dict.

Every spatial conv uses an explicit ``ZeroPadding2D`` + ``padding="valid"``: Keras "same"
padding with stride 2 pads only bottom/right, whereas torch pads both sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .porting import batchnorm, conv_kernel, dense_kernel, depthwise_kernel

BN_EPSILON = 1e-5  # torch's BatchNorm2d default (Keras defaults to 1e-3)


def layer_name(prefix: str) -> str:
    """A Keras layer name for a torch state-dict prefix (``blocks.3.se`` -> ``blocks_3_se``)."""
    return prefix.replace(".", "_")


def activation(keras: Any, act: str | None, name: str) -> Any:
    """The Keras layer for an activation name of ``torch_blocks.ACTIVATIONS`` (None: no layer)."""
    layers = keras.layers
    if act is None:
        return None
    if act == "relu":
        return layers.ReLU(name=name)
    if act == "relu6":
        return layers.ReLU(6.0, name=name)
    if act in ("hard_swish", "hard_sigmoid"):  # x * relu6(x + 3) / 6 and relu6(x + 3) / 6, as torch
        return layers.Activation(act, name=name)
    raise ValueError(f"unknown activation {act!r}")


def apply_activation(keras: Any, x: Any, act: str | None, name: str) -> Any:
    """``x`` through the activation ``act`` (unchanged when None)."""
    layer = activation(keras, act, name)
    return x if layer is None else layer(x)


def conv_bn(
    keras: Any,
    x: Any,
    weights: dict[str, np.ndarray],
    prefix: str,
    filters: int,
    kernel: int,
    stride: int = 1,
    depthwise: bool = False,
    act: str | None = "relu",
    eps: float = BN_EPSILON,
) -> Any:
    """Keras twin of ``torch_blocks.ConvBN`` under state-dict ``prefix``; sets the layers' weights."""
    layers = keras.layers
    name = layer_name(prefix)
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
    bn = layers.BatchNormalization(epsilon=eps, name=f"{name}_bn")
    x = bn(x)
    bn.set_weights(batchnorm(f"{prefix}.bn", weights))
    return apply_activation(keras, x, act, f"{name}_{act}")


def conv(keras: Any, x: Any, weights: dict[str, np.ndarray], prefix: str, act: str | None = None) -> Any:
    """Keras twin of a biased 1x1 ``nn.Conv2d`` stored under ``prefix`` (+ optional activation)."""
    weight = weights[f"{prefix}.weight"]
    name = layer_name(prefix)
    layer = keras.layers.Conv2D(weight.shape[0], weight.shape[2:], padding="valid", name=f"{name}_conv")
    x = layer(x)
    layer.set_weights([conv_kernel(weight), weights[f"{prefix}.bias"]])
    return apply_activation(keras, x, act, f"{name}_{act}")


def dense(keras: Any, x: Any, weights: dict[str, np.ndarray], prefix: str, act: str | None = None) -> Any:
    """Keras twin of ``nn.Linear`` stored under ``prefix`` (+ optional activation); any input rank."""
    weight = weights[f"{prefix}.weight"]
    name = layer_name(prefix)
    layer = keras.layers.Dense(weight.shape[0], name=name)
    x = layer(x)
    layer.set_weights([dense_kernel(weight), weights[f"{prefix}.bias"]])
    return apply_activation(keras, x, act, f"{name}_{act}")


_POSITIONS: dict[int, type] = {}


def positions_layer(keras: Any) -> type:
    """The ``AddPositions`` layer class: adds a learned ``[1, length, dim]`` positional embedding to
    its ``[N, length, dim]`` input (the transformers' position table; defined lazily, once per Keras
    module: Keras must not load at import time)."""
    if id(keras) in _POSITIONS:
        return _POSITIONS[id(keras)]

    @keras.saving.register_keras_serializable(package="testbed_zoo")
    class AddPositions(keras.layers.Layer):
        """Adds a learned ``[1, length, dim]`` positional embedding to its ``[N, length, dim]`` input."""

        def __init__(self, length: int, dim: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.length, self.dim = length, dim

        def build(self, input_shape: Any) -> None:
            self.positions = self.add_weight(shape=(1, self.length, self.dim), initializer="zeros", name="positions")

        def call(self, x: Any) -> Any:
            return x + self.positions

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "length": self.length, "dim": self.dim}

    _POSITIONS[id(keras)] = AddPositions
    return AddPositions


def layer_norm(keras: Any, x: Any, weights: dict[str, np.ndarray], prefix: str, epsilon: float) -> Any:
    """``LayerNormalization`` with torch's ``<prefix>.weight``/``<prefix>.bias`` and its epsilon."""
    layer = keras.layers.LayerNormalization(epsilon=epsilon, name=layer_name(prefix))
    x = layer(x)
    layer.set_weights([weights[f"{prefix}.weight"], weights[f"{prefix}.bias"]])
    return x
