"""Helpers shared by the converter modules (all imports of heavy frameworks stay local)."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads, restoring the previous setting afterwards.

    Exporting with several threads on small hosts can be far slower than with one.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Swallow what tools print on Python's stdout (progress, "Saved artifact at ..." banners)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def import_tensorflow() -> Any:
    """Import TensorFlow with its C++ info logging turned down (unless the user set it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def input_dtype(model: Any) -> Any:
    """The numpy dtype of the model's input: ``model.spec.input_dtype`` (float32 images, int32 or
    int64 token ids); float32 for a model without a spec."""
    import numpy as np

    return np.dtype(getattr(getattr(model, "spec", None), "input_dtype", None) or "float32")


def torch_example(model: Any) -> Any:
    """The model's batch-1 NCHW example input as a torch tensor of the model's input dtype."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(model.example_input(layout="NCHW"), dtype=input_dtype(model)))


def keras_signature(model: Any) -> list[Any]:
    """The ``tf.TensorSpec`` input signature (batch 1, NHWC for images, the model's input dtype)
    of the model's Keras form."""
    tf = import_tensorflow()
    shape = list(model.example_input(layout="NHWC").shape)
    return [tf.TensorSpec(shape, tf.as_dtype(input_dtype(model)), name="input")]


# Samples of ``model.calibration_set()`` that static quantization calibrates on (part of options()).
CALIBRATION_SAMPLES = 64


def calibration_inputs(model: Any, layout: str, n: int = CALIBRATION_SAMPLES) -> list[Any]:
    """``n`` calibration inputs of ``model`` as batch-1 arrays in ``layout``, of the model's input
    dtype (float32 images; int32 token ids stay integers: only weights and activations get quantized).

    The artifacts have a fixed batch of 1, so calibration runs them one sample at a time.
    """
    import numpy as np

    from testbed_zoo import to_layout

    batch = to_layout(np.asarray(model.calibration_set(n), dtype=input_dtype(model)), layout)
    return [np.ascontiguousarray(batch[i : i + 1]) for i in range(len(batch))]


def pt2e_quantize(module: Any, sample: Any, quantizer: Any, calibration: list[Any] | None,
                  fold_quantize: bool = True) -> Any:
    """PT2E post-training quantization: export → ``prepare_pt2e`` → calibrate → ``convert_pt2e``.

    Returns the quantized ``torch.fx.GraphModule`` (quantize/dequantize ops around the
    quantized ops), ready to be exported again by the caller. Run it under ``torch.no_grad()``
    and :func:`torch_threads`. ``calibration`` is None for dynamic quantization: the graph
    then runs once on ``sample`` anyway, because the weight observers only record the weights'
    ranges during a forward pass (without one, the int8 weights come out garbage).
    """
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, (sample,), strict=False).module()
    graph = prepare_pt2e(graph, quantizer)
    if calibration:
        for x in calibration:
            graph(torch.from_numpy(x))
    else:
        graph(sample)
    return convert_pt2e(graph, fold_quantize=fold_quantize)


def litert_loads(path: Any) -> None:
    """Load a .tflite file in LiteRT and allocate its tensors, as the board's runtime does: with
    the default resolver (XNNPACK delegate applied) and with the built-in kernels alone
    (``runtime_settings.litert.xnnpack: false``). Raises LiteRT's own error (e.g. a kernel's
    failed Prepare) when either cannot."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        Interpreter(model_path=str(path), experimental_op_resolver_type=resolver).allocate_tensors()
