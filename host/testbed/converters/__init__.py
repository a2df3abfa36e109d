"""Converters: PyTorch and Keras zoo models → ExecuTorch / ONNX / TFLite artifacts; a user's own
.onnx / .tflite file used as is (``onnx-file-fp32``, ``tflite-file-fp32``) and quantized.

Each variant (format × source × quantization) is its own registered converter, named
``<format>-<source or delegate>-<quantization>``, e.g. ``onnx-keras-int8-static``,
``executorch-xnnpack-fp32``. Quantization steps that work on a finished fp32 file (ORT on ONNX,
ai-edge-quantizer on TFLite) are :class:`post_quant.PostQuantized` converters over their base.
The framework baselines ``pytorch-export-fp32`` (a ``torch.export`` .pt2) and
``tensorflow-savedmodel-fp32`` (a SavedModel packed as a tar) are run by torch and TensorFlow
themselves on the board: what each edge path gains over the framework.
Every artifact takes the model's own input dtype (``spec.input_dtype``: int32 token ids too).
The cache key covers the converter's code (its modules and the shared ones), not only options().

Importing this package is light: it registers every converter, but torch, TensorFlow and the
conversion tools are imported only when a conversion runs.

    all_converters() / get(name) / select(formats, sources, quantizations)
    build(converter, model) -> Artifact      cached, never raises for a failed conversion
    build_all(model, converters=None) -> list[Artifact]
"""

from __future__ import annotations

from . import (  # noqa: F401  (register)
    executorch_pte,
    file_passthrough,
    onnx_keras,
    onnx_quant,
    onnx_torch,
    pytorch_export,
    tensorflow_savedmodel,
    tflite_keras,
    tflite_quant,
    tflite_torch,
)
from .base import Converter
from .cache import Artifact, build, build_all, cache_key
from .registry import all_converters, get, register, select

__all__ = [
    "Artifact",
    "Converter",
    "all_converters",
    "build",
    "build_all",
    "cache_key",
    "get",
    "register",
    "select",
]
