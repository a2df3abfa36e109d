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
    """The numpy dtype of the model's first input: ``model.spec.input_dtype`` (float32 images, int32
    or int64 token ids); float32 for a model without a spec."""
    import numpy as np

    return np.dtype(getattr(getattr(model, "spec", None), "input_dtype", None) or "float32")


def input_names(model: Any) -> list[str]:
    """The model's input names in its order (``spec.inputs``; ``["input"]`` without a spec)."""
    spec = getattr(model, "spec", None)
    return [d.name for d in spec.inputs] if spec is not None else ["input"]


def output_names(model: Any) -> list[str]:
    """The model's output names in its order (``spec.outputs``; ``["output"]`` without a spec)."""
    spec = getattr(model, "spec", None)
    return [d.name for d in spec.outputs] if spec is not None else ["output"]


def example_arrays(model: Any, layout: str) -> list[Any]:
    """The model's batch-1 example inputs in its input order, in ``layout``, each of its own dtype."""
    import numpy as np

    from testbed_zoo.tensors import sample

    xs = model.example_inputs(layout=layout)
    return [sample(d, np.asarray(xs[d.name], dtype=d.dtype), 0) for d in model.spec.inputs]


def torch_examples(model: Any) -> tuple[Any, ...]:
    """The model's batch-1 NCHW example inputs as torch tensors, one per input in the model's order
    (the positional arguments of its forward)."""
    import torch

    return tuple(torch.from_numpy(x) for x in example_arrays(model, "NCHW"))


def keras_signature(model: Any) -> list[Any]:
    """The ``tf.TensorSpec`` input signature of the model's Keras form: one per input, named as the
    model names it (batch 1, NHWC for images, each input's dtype)."""
    tf = import_tensorflow()
    return [tf.TensorSpec(list(x.shape), tf.as_dtype(x.dtype), name=name)
            for name, x in zip(input_names(model), example_arrays(model, "NHWC"), strict=True)]


def keras_call(keras_model: Any, n_inputs: int) -> Any:
    """A function of the inputs as positional arguments that calls ``keras_model`` the way it takes
    them (one tensor, or a list for a multi-input model)."""
    if n_inputs == 1:
        return lambda x: keras_model(x, training=False)
    return lambda *xs: keras_model(list(xs), training=False)


# Samples of ``model.calibration_inputs()`` that static quantization calibrates on (part of options()).
CALIBRATION_SAMPLES = 64
#: Calibration samples: each ``{input name: batch-1 array}`` in the model's input order.
Calibration = list[dict[str, Any]]


def calibration_inputs(model: Any, layout: str, n: int = CALIBRATION_SAMPLES) -> Calibration:
    """``n`` calibration samples of ``model``: each ``{input name: batch-1 array}`` in the model's
    input order and in ``layout``, of each input's dtype (integer inputs stay integers: only weights
    and activations get quantized; calibration feeds the real ids).

    The artifacts have a fixed batch of 1, so calibration runs them one sample at a time.
    """
    import numpy as np

    from testbed_zoo import to_layout
    from testbed_zoo.tensors import sample

    xs = model.calibration_inputs(n)
    decls = {d.name: d for d in model.spec.inputs}
    single = len(decls) == 1
    laid = {name: (to_layout(np.asarray(x), layout) if single or decls[name].kind == "image" else np.asarray(x))
            .astype(decls[name].dtype, copy=False) for name, x in xs.items()}
    count = len(next(iter(laid.values())))
    return [{d.name: sample(d, laid[d.name], i) for d in model.spec.inputs} for i in range(count)]


def feed_by_name(names: list[str], sample: dict[str, Any]) -> dict[str, Any]:
    """One calibration sample as a feed for an artifact whose inputs are ``names``: by name when the
    artifact keeps the model's names, else by position (a tool that renames inputs, e.g.
    ``args_0``); a count that differs is a ValueError naming both."""
    if sorted(names) == sorted(sample):
        return {name: sample[name] for name in names}
    if len(names) != len(sample):
        raise ValueError(f"the artifact takes inputs {names}, the model has {list(sample)}")
    return dict(zip(names, sample.values(), strict=True))


def name_onnx_outputs(path: str, names: list[str]) -> None:
    """Give an ONNX file's graph outputs the model's own names (exporters name them after layers or
    ops: tf2onnx ``Identity:0``, torch ``linear_1``), renaming every use. An inner value that already
    bears one of those names (torch names an ``aten::embedding`` result ``embedding``) is renamed
    first, so the graph stays in SSA form. Nothing happens when the counts differ."""
    import onnx

    graph_model = onnx.load(path, load_external_data=False)
    graph = graph_model.graph
    current = [o.name for o in graph.output]
    if len(current) != len(names) or current == names:
        return
    renames = dict(zip(current, names, strict=True))
    taken = {n for n in names if n not in current}  # inner values that would clash
    renames.update({n: f"{n}__inner" for n in taken})
    for node in graph.node:
        node.output[:] = [renames.get(x, x) for x in node.output]
        node.input[:] = [renames.get(x, x) for x in node.input]
    for value in (*graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)
    onnx.save(graph_model, path)


def pt2e_quantize(module: Any, samples: tuple[Any, ...], quantizer: Any, calibration: Calibration | None,
                  fold_quantize: bool = True) -> Any:
    """PT2E post-training quantization: export → ``prepare_pt2e`` → calibrate → ``convert_pt2e``.

    Returns the quantized ``torch.fx.GraphModule`` (quantize/dequantize ops around the
    quantized ops), ready to be exported again by the caller. Run it under ``torch.no_grad()``
    and :func:`torch_threads`. ``calibration`` is None for dynamic quantization: the graph
    then runs once on ``samples`` anyway, because the weight observers only record the weights'
    ranges during a forward pass (without one, the int8 weights come out garbage).
    """
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(module, samples, strict=False).module()
    graph = prepare_pt2e(graph, quantizer)
    if calibration:
        for xs in calibration:
            graph(*(torch.from_numpy(x) for x in xs.values()))
    else:
        graph(*samples)
    return convert_pt2e(graph, fold_quantize=fold_quantize)


def litert_loads(path: Any) -> None:
    """Load a .tflite file in LiteRT and allocate its tensors, as the board's runtime does: with
    the default resolver (XNNPACK delegate applied) and with the built-in kernels alone
    (``runtime_settings.litert.xnnpack: false``). Raises LiteRT's own error (e.g. a kernel's
    failed Prepare) when either cannot."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    for resolver in (OpResolverType.AUTO, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES):
        Interpreter(model_path=str(path), experimental_op_resolver_type=resolver).allocate_tensors()
