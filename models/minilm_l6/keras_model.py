"""all-MiniLM-L6-v2 in Keras, built from the same weights as the PyTorch model.

The graph mirrors ``torch_model`` op for op: embeddings (word + learned positions + token type)
and LayerNorm; per layer dense q/k/v, the padded keys zeroed (``k * mask``), reshape/transpose,
``keras.ops.matmul``, the additive mask bias, softmax, dense out, residual + LayerNorm, erf GELU
feed-forward (written out with ``erf``), residual + LayerNorm; then mean pooling over the mask and
L2 normalisation (``UnitNormalization``, named ``embedding``). The positions are a tiny registered
layer (``MiniLMPositions``) holding the ``[1, 128, 384]`` table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..frameworks import import_keras
from ..keras_blocks import dense, layer_name, layer_norm, positions_layer
from . import HEAD_DIM, HEADS, HIDDEN, LAYERS, LN_EPSILON, MASK_BIAS, SEQ_LEN

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def _embedding(keras: Any, ids: Any, weights: dict[str, np.ndarray], prefix: str) -> Any:
    table = weights[f"{prefix}.weight"]
    layer = keras.layers.Embedding(*table.shape, name=layer_name(prefix))
    x = layer(ids)
    layer.set_weights([table])
    return x


def _attention(keras: Any, x: Any, keep: Any, bias: Any, weights: dict[str, np.ndarray], prefix: str) -> Any:
    """Keras twin of the attention half of ``EncoderLayer`` (before the residual)."""
    layers, ops = keras.layers, keras.ops
    name = layer_name(prefix)

    def heads(t: Any, which: str, order: tuple[int, int, int]) -> Any:
        t = layers.Reshape((SEQ_LEN, HEADS, HEAD_DIM), name=f"{name}_{which}_split")(t)
        return layers.Permute(order, name=f"{name}_{which}_heads")(t)

    q = heads(dense(keras, x, weights, f"{prefix}.query"), "q", (2, 1, 3))  # [N, H, T, Dh]
    k = heads(dense(keras, x, weights, f"{prefix}.key") * keep, "k", (2, 3, 1))  # [N, H, Dh, T]
    v = heads(dense(keras, x, weights, f"{prefix}.value"), "v", (2, 1, 3))  # [N, H, T, Dh]
    scores = ops.matmul(q, k) * (1.0 / math.sqrt(HEAD_DIM)) + bias
    probs = layers.Softmax(axis=-1, name=f"{name}_softmax")(scores)
    y = layers.Permute((2, 1, 3), name=f"{name}_merge")(ops.matmul(probs, v))
    y = layers.Reshape((SEQ_LEN, HIDDEN), name=f"{name}_concat")(y)
    return dense(keras, y, weights, f"{prefix}.attn_out")


def _encoder_layer(keras: Any, x: Any, keep: Any, bias: Any, weights: dict[str, np.ndarray], prefix: str) -> Any:
    layers, name = keras.layers, layer_name(prefix)
    x = layers.Add(name=f"{name}_attn_add")([x, _attention(keras, x, keep, bias, weights, prefix)])
    x = layer_norm(keras, x, weights, f"{prefix}.attn_norm", LN_EPSILON)
    h = dense(keras, x, weights, f"{prefix}.ffn_in")
    # erf GELU written out: keras.ops.gelu is tf.nn.gelu, whose Erfc tf2onnx cannot convert; this
    # form is torch's own decomposition, becomes ONNX Erf, and TFLite still fuses it into one GELU op.
    h = h * 0.5 * (1.0 + keras.ops.erf(h * (1.0 / math.sqrt(2.0))))
    h = dense(keras, h, weights, f"{prefix}.ffn_out")
    x = layers.Add(name=f"{name}_ffn_add")([x, h])
    return layer_norm(keras, x, weights, f"{prefix}.ffn_norm", LN_EPSILON)


def build(weights: dict[str, np.ndarray], batch_size: int | None = 1) -> keras.Model:
    """The Keras model: int32 inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape
    ``(batch_size, 128)``, output the unit-length embedding ``(batch_size, 384)``."""
    keras = import_keras()
    layers, ops = keras.layers, keras.ops
    input_ids, attention_mask, token_type_ids = (
        keras.Input(shape=(SEQ_LEN,), batch_size=batch_size, name=name, dtype="int32") for name in INPUT_NAMES
    )
    x = _embedding(keras, input_ids, weights, "word_embeddings")
    positions = positions_layer(keras)(SEQ_LEN, HIDDEN, name="position_embeddings")
    x = positions(x)
    positions.set_weights([weights["position_embeddings"][None]])
    x = layers.Add(name="embed_add")([x, _embedding(keras, token_type_ids, weights, "token_type_embeddings")])
    x = layer_norm(keras, x, weights, "embed_norm", LN_EPSILON)
    mask = ops.cast(attention_mask, "float32")  # [N, T]
    keep = ops.expand_dims(mask, -1)  # [N, T, 1]
    bias = layers.Reshape((1, 1, SEQ_LEN), name="mask_bias")((1.0 - mask) * MASK_BIAS)
    for i in range(LAYERS):
        x = _encoder_layer(keras, x, keep, bias, weights, f"layers.{i}")
    summed = ops.sum(x * keep, axis=1)
    pooled = summed / ops.maximum(ops.sum(mask, axis=1, keepdims=True), 1e-9)
    outputs = layers.UnitNormalization(axis=-1, name="embedding")(pooled)
    return keras.Model([input_ids, attention_mask, token_type_ids], outputs, name="minilm_l6")
