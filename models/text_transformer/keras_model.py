"""The text transformer in Keras, built from the PyTorch weights.

Attention is written with the same plain ops as the torch model (dense q/k/v, reshape/transpose,
``keras.ops.matmul``, softmax, dense out), so converters see matching graphs. The learned
positional embedding is a tiny registered layer (``AddPositions``) holding the ``[1, T, D]`` weight.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..frameworks import import_keras
from ..keras_blocks import dense, layer_name, layer_norm, positions_layer
from .arch import D_MODEL, HEAD_DIM, HEADS, LAYERS, LN_EPSILON, SEQ_LEN

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras


def _attention(keras: Any, x: Any, weights: dict[str, np.ndarray], prefix: str) -> Any:
    """Keras twin of ``SelfAttention`` under ``prefix``."""
    layers, ops = keras.layers, keras.ops
    name = layer_name(prefix)

    def heads(t: Any, which: str, order: tuple[int, int, int]) -> Any:
        t = layers.Reshape((SEQ_LEN, HEADS, HEAD_DIM), name=f"{name}_{which}_split")(t)
        return layers.Permute(order, name=f"{name}_{which}_heads")(t)

    q = heads(dense(keras, x, weights, f"{prefix}.q"), "q", (2, 1, 3))  # [N, H, T, Dh]
    k = heads(dense(keras, x, weights, f"{prefix}.k"), "k", (2, 3, 1))  # [N, H, Dh, T]
    v = heads(dense(keras, x, weights, f"{prefix}.v"), "v", (2, 1, 3))  # [N, H, T, Dh]
    scores = ops.matmul(q, k) * (1.0 / math.sqrt(HEAD_DIM))
    probs = layers.Softmax(axis=-1, name=f"{name}_softmax")(scores)
    y = layers.Permute((2, 1, 3), name=f"{name}_merge")(ops.matmul(probs, v))
    y = layers.Reshape((SEQ_LEN, D_MODEL), name=f"{name}_concat")(y)
    return dense(keras, y, weights, f"{prefix}.out")


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1) -> keras.Model:
    """Keras text transformer with int32 input ``(batch_size, SEQ_LEN)`` and the given torch state dict."""
    keras = import_keras()
    layers = keras.layers
    inputs = keras.Input(shape=(SEQ_LEN,), batch_size=batch_size, name="input", dtype="int32")
    embed = layers.Embedding(*weights["embed.weight"].shape, name="embed")
    x = embed(inputs)
    embed.set_weights([weights["embed.weight"]])
    positions = positions_layer(keras)(SEQ_LEN, D_MODEL, name="pos")
    x = positions(x)
    positions.set_weights([weights["pos"]])
    for i in range(LAYERS):
        prefix = f"layers.{i}"
        normed = layer_norm(keras, x, weights, f"{prefix}.norm1", LN_EPSILON)
        x = layers.Add(name=f"{layer_name(prefix)}_attn_add")([x, _attention(keras, normed, weights, f"{prefix}.attn")])
        y = layer_norm(keras, x, weights, f"{prefix}.norm2", LN_EPSILON)
        y = dense(keras, dense(keras, y, weights, f"{prefix}.ffn1", act="relu"), weights, f"{prefix}.ffn2")
        x = layers.Add(name=f"{layer_name(prefix)}_ffn_add")([x, y])
    x = layer_norm(keras, x, weights, "norm", LN_EPSILON)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = dense(keras, x, weights, "classifier")
    return keras.Model(inputs, outputs, name="text_transformer")
