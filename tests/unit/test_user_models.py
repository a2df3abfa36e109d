"""User models: .pt2 / .keras / SavedModel / .onnx / .tflite files and factories, and their errors.

Every fixture file is made here with the real frameworks (tiny models, seeded weights).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import testbed_zoo
from testbed.errors import ModelError
from testbed_zoo import ZooModel

ATOL = 1e-5
# Tiny net: conv3x3(3->4) + ReLU + global mean + linear(4->5) on [1, 3, 8, 8].
TINY_PARAMS = 4 * 3 * 9 + 4 + 4 * 5 + 5
TINY_MACS = 4 * 6 * 6 * 27 + 4 * 5

FACTORY_SOURCE = '''
import numpy as np
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 5)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(torch.relu(self.conv(x)).mean(dim=(2, 3))))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 2)

    def forward(self, ids):
        return self.fc(self.embed(ids).mean(dim=1))


def make():
    torch.manual_seed(0)
    return Tiny(), torch.randn(2, 3, 8, 8)  # a batch of 2: the first sample is the example


def make_tokens():
    torch.manual_seed(0)
    return Tokens(), (torch.randint(0, 10, (1, 6)),)


def make_keras():
    import keras

    inputs = keras.Input(shape=(8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs), np.ones((1, 8, 8, 3), np.float32)


def returns_junk():
    return 42


def returns_bad_model():
    return object(), np.zeros((1, 3))


def boom():
    raise ValueError("weights missing")


not_a_function = 3
'''


@pytest.fixture(scope="module", autouse=True)
def testbed_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("testbed_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tiny models saved in every supported format, plus the torch / keras originals."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import torch

    root = tmp_path_factory.mktemp("user_models")
    (root / "tiny_factory.py").write_text(textwrap.dedent(FACTORY_SOURCE))
    namespace: dict[str, Any] = {}
    exec(compile(FACTORY_SOURCE, "tiny_factory", "exec"), namespace)  # noqa: S102 - our own source
    module, example = namespace["make"]()
    module.eval()
    with torch.no_grad():
        program = torch.export.export(module, (example[:1],))
    torch.export.save(program, root / "tiny.pt2")

    keras_model, _ = namespace["make_keras"]()
    keras_model.save(root / "tiny-net.keras")
    keras_model.export(str(root / "saved"), verbose=False)
    tflite = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    (root / "tiny.tflite").write_bytes(tflite)
    _write_onnx(root / "tiny.onnx", batch="N")
    _write_onnx(root / "batch2.onnx", batch=2)
    _write_onnx(root / "dynamic.onnx", batch=1, width="W")
    return {"root": root, "torch": module, "keras": keras_model}


def _write_onnx(path: Path, batch: int | str, width: int | str = 8) -> None:
    """Conv(3->4, 3x3, seeded) + ReLU + Flatten, NCHW input [batch, 3, 8, width]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("Flatten", ["r"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, None])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _check_common(model: ZooModel, framework: str, num_classes: int) -> None:
    spec = model.spec
    assert spec.frameworks == [framework] and spec.weights == "user" and not spec.trained
    assert spec.eval_set is None and model.eval_set() is None and spec.origin
    cal, parity = model.calibration_set(3), model.parity_inputs(4)
    assert cal.shape == (3, *spec.input_shape[1:]) and cal.dtype == np.dtype(spec.input_dtype)
    assert np.array_equal(parity, model.parity_inputs(4))
    out = model.reference(framework, parity)
    assert out.shape == (4, num_classes) and out.dtype == np.float32
    assert len(model.source_hash()) == 64 and model.id.isidentifier()


# ------------------------------------------------------------------ each kind loads


@pytest.mark.framework
def test_pt2(files: dict[str, Any]) -> None:
    import torch

    path = files["root"] / "tiny.pt2"
    model = testbed_zoo.load(str(path))
    assert model.id == "tiny" and model.source_file() == path
    assert model.spec.input_shape == [1, 3, 8, 8] and model.spec.input_kind == "image"
    _check_common(model, "pytorch", 5)
    x = model.parity_inputs(3)
    with torch.no_grad():
        expected = files["torch"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.reference("pytorch", x), expected, rtol=0, atol=ATOL)
    assert model.torch_module() is model.torch_module()
    with pytest.raises(ModelError, match="not available in keras"):
        model.keras_model()
    stats = model.stats()
    assert stats["params"] == TINY_PARAMS and stats["macs"] == TINY_MACS
    import hashlib

    assert model.source_hash() == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.framework
def test_keras_file(files: dict[str, Any]) -> None:
    path = files["root"] / "tiny-net.keras"
    model = testbed_zoo.load(str(path))
    assert model.id == "tiny_net" and model.source_file() == path
    assert model.spec.input_shape == [1, 3, 8, 8]  # NHWC [1, 8, 8, 3] seen as NCHW
    _check_common(model, "keras", 5)
    x = model.parity_inputs(2)
    expected = np.asarray(files["keras"](x.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(model.reference("keras", x), expected, rtol=0, atol=ATOL)
    fixed = model.keras_model()
    assert tuple(fixed.input_shape) == (1, 8, 8, 3)
    np.testing.assert_allclose(np.asarray(fixed(model.example_input("NHWC"))), model.reference("keras", model.example_input()), atol=ATOL)
    assert model.stats()["params"] == TINY_PARAMS and model.stats()["macs"] == TINY_MACS


@pytest.mark.framework
def test_saved_model_folder(files: dict[str, Any]) -> None:
    path = files["root"] / "saved"
    model = testbed_zoo.load(str(path))
    assert model.id == "saved" and model.source_file() == path
    assert model.spec.input_shape == [1, 3, 8, 8]
    _check_common(model, "keras", 5)
    x = model.parity_inputs(2)
    expected = np.asarray(files["keras"](x.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(model.reference("keras", x), expected, rtol=0, atol=ATOL)
    assert tuple(model.keras_model().input_shape) == (1, 8, 8, 3)


@pytest.mark.framework
def test_onnx_file_used_as_is(files: dict[str, Any]) -> None:
    import torch

    path = files["root"] / "tiny.onnx"
    model = testbed_zoo.load(str(path))
    assert model.source_file() == path and model.spec.file_layout == "NCHW" and model.layout("onnx") == "NCHW"
    assert model.spec.input_shape == [1, 3, 8, 8]  # dynamic batch "N" taken as 1
    _check_common(model, "onnx", 4 * 6 * 6)
    with pytest.raises(ModelError, match="not available in pytorch"):
        model.torch_module()
    x = model.parity_inputs(2)
    import onnx
    from onnx import numpy_helper

    weight = numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0])
    expected = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight))).flatten(1).numpy()
    np.testing.assert_allclose(model.reference("onnx", x), expected, rtol=0, atol=1e-4)
    stats = model.stats()
    assert stats["params"] == 4 * 3 * 9 and stats["macs"] == 4 * 6 * 6 * 27


@pytest.mark.framework
def test_tflite_file_used_as_is(files: dict[str, Any]) -> None:
    path = files["root"] / "tiny.tflite"
    model = testbed_zoo.load(str(path))
    assert model.source_file() == path and model.spec.file_layout == "NHWC"
    assert model.spec.input_shape == [1, 3, 8, 8]
    _check_common(model, "tflite", 5)
    x = model.parity_inputs(3)
    expected = np.asarray(files["keras"](x.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(model.reference("tflite", x), expected, rtol=0, atol=ATOL)
    stats = model.stats()
    assert stats["params"] == TINY_PARAMS - 5 and stats["macs"] == TINY_MACS  # the all-zero Dense bias is dropped
    assert model.spec.file_precision == "fp32" and model.precision_evidence == ""


def _write_fp16_onnx(path: Path) -> None:
    """The tiny Conv with its weight stored as float16 and cast to float at run time (as
    float16-converted files keep their weights), float32 input and output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float16), "w16")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["w16"], ["w"], to=TensorProto.FLOAT),
            helper.make_node("Conv", ["x", "w"], ["c"]),
            helper.make_node("Flatten", ["c"], ["y"]),
        ],
        "tiny16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, None])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_onnx_file_precision_is_read_from_ops_and_initializers(tmp_path: Path) -> None:
    """fp32 as written; float16 weights; ORT quantize_dynamic's int8 (here ConvInteger) — each a
    user model whose spec says so, with the evidence (the int8 cases from every ORT mode and
    TFLite are in test_converters)."""
    from onnxruntime.quantization import quantize_dynamic

    _write_onnx(tmp_path / "plain.onnx", batch=1)
    _write_fp16_onnx(tmp_path / "half.onnx")
    quantize_dynamic(str(tmp_path / "plain.onnx"), str(tmp_path / "dyn.onnx"), op_types_to_quantize=["Conv"])
    plain, half, dyn = (testbed_zoo.load(str(tmp_path / f"{n}.onnx")) for n in ("plain", "half", "dyn"))
    assert (plain.spec.file_precision, plain.precision_evidence) == ("fp32", "")
    assert (half.spec.file_precision, half.precision_evidence) == ("fp16", "1 float16 initializer")
    assert dyn.spec.file_precision == "int8" and "ConvInteger x1" in dyn.precision_evidence
    assert "int8/uint8 initializer" in dyn.precision_evidence


def test_file_precision_is_only_for_files() -> None:
    from testbed_zoo.spec import ModelSpec

    with pytest.raises(ValueError, match="file_precision is only for onnx/tflite files"):
        ModelSpec(id="m", description="d", input_shape=[1, 3, 8, 8], num_classes=2, trained=False,
                  weights="random", frameworks=["pytorch"], file_precision="int8")


@pytest.mark.framework
def test_factories(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(files["root"]))
    model = testbed_zoo.load("tiny_factory:make")
    assert model.id == "make" and model.source_file() is None
    assert model.spec.input_shape == [1, 3, 8, 8] and model.spec.frameworks == ["pytorch"]
    assert not model.torch_module().training  # dropout off
    _check_common(model, "pytorch", 5)
    import tiny_factory  # type: ignore[import-not-found]

    assert np.array_equal(model.example_input(), tiny_factory.make()[1][:1].numpy())  # the factory's own example

    tokens = testbed_zoo.load("tiny_factory:make_tokens")
    assert tokens.spec.input_kind == "tokens" and tokens.spec.input_dtype == "int64" and tokens.spec.input_shape == [1, 6]
    cal = tokens.calibration_set(16)
    assert cal.dtype == np.int64 and 0 <= cal.min() and cal.max() < 10
    assert tokens.example_input("NHWC").shape == (1, 6)
    _check_common(tokens, "pytorch", 2)

    keras_model = testbed_zoo.load("tiny_factory:make_keras")
    assert keras_model.spec.frameworks == ["keras"] and keras_model.spec.input_shape == [1, 3, 8, 8]
    assert keras_model.example_input().shape == (1, 3, 8, 8) and keras_model.example_input().min() == 1.0
    _check_common(keras_model, "keras", 5)
    assert model.source_hash() != keras_model.source_hash()


# ------------------------------------------------------------------ every error is one clear line


def _error(spec: str) -> str:
    with pytest.raises(ModelError) as info:
        testbed_zoo.load(spec)
    message = str(info.value)
    assert "\n" not in message and spec in message, message
    return message


@pytest.mark.framework
def test_file_errors(files: dict[str, Any], tmp_path: Path) -> None:
    root = files["root"]
    assert "no such file" in _error(str(tmp_path / "missing.onnx"))
    rng = np.random.default_rng(0)
    for name in ("junk.onnx", "junk.tflite", "junk.pt2", "junk.keras"):
        (tmp_path / name).write_bytes(rng.bytes(4096))
        assert "cannot load" in _error(str(tmp_path / name)) or "cannot read" in _error(str(tmp_path / name))
    (tmp_path / "model.h5").write_bytes(b"x")
    assert "unknown model file extension '.h5'" in _error(str(tmp_path / "model.h5"))
    (tmp_path / "folder").mkdir()
    assert "not a SavedModel" in _error(str(tmp_path / "folder"))
    assert "batch dimension is 2" in _error(str(root / "batch2.onnx"))
    assert "dimension 3 is dynamic" in _error(str(root / "dynamic.onnx"))


def test_unknown_id_mentions_user_models() -> None:
    message = _error("nope")
    assert "unknown model 'nope'" in message and ".onnx" in message and "package.module:function" in message


@pytest.mark.framework
def test_factory_errors(files: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(files["root"]))
    assert "cannot import module 'no_such_module_xyz'" in _error("no_such_module_xyz:make")
    assert "has no function 'missing'" in _error("tiny_factory:missing")
    assert "has no function 'not_a_function'" in _error("tiny_factory:not_a_function")
    assert "returned a int" in _error("tiny_factory:returns_junk")
    assert "returned a object as its model" in _error("tiny_factory:returns_bad_model")
    assert "ValueError: weights missing" in _error("tiny_factory:boom")
