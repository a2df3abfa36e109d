"""User models with named multi-tensor inputs and outputs, dynamic dimensions and scalar inputs, in
every form: a torch factory (ids + mask), a .pt2 program, a 3-input voice .onnx (audio [batch,
samples], a scalar int64 sample rate, a state [2, batch, 128]), a 2-input .keras file, its SavedModel
and its .tflite. Every fixture is made here with the real frameworks (tiny models, seeded weights).
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

pytestmark = pytest.mark.framework

ATOL = 1e-5

FACTORY_SOURCE = '''
import numpy as np
import torch
from torch import nn


class IdsMask(nn.Module):
    """Token ids + attention mask -> (logits [N, 3], pooled [N, 4])."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.fc = nn.Linear(4, 3)

    def forward(self, ids, mask):
        h = self.embed(ids) * mask.unsqueeze(-1).float()
        pooled = h.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1).float()
        return self.fc(pooled), pooled


class Keywords(nn.Module):
    """forward(ids, token_type_ids=None, mask=None): a dict example {ids, mask} goes by keyword."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)

    def forward(self, ids, token_type_ids=None, mask=None):
        assert token_type_ids is None
        return {"pooled": (self.embed(ids) * mask.unsqueeze(-1).float()).sum(dim=1)}


class Scaled(nn.Module):
    def forward(self, x, gain):
        return x * gain


def make_ids_mask():
    torch.manual_seed(0)
    ids = torch.randint(0, 10, (2, 6))
    mask = torch.ones(2, 6, dtype=torch.int64)
    return IdsMask(), (ids, mask)  # a batch of 2: the first sample is the example


def make_keywords():
    torch.manual_seed(0)
    return Keywords(), {"ids": torch.randint(0, 10, (1, 5)), "mask": torch.ones(1, 5, dtype=torch.int64)}


def make_scalar():
    return Scaled(), (torch.randn(1, 4), torch.tensor(2.0))


def make_keras_two():
    """A 2-input Keras model (an NHWC image and a feature vector) with a dict example by input name."""
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input(shape=(8, 8, 3), name="image")
    extra = keras.Input(shape=(4,), name="extra")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image))
    out = keras.layers.Dense(2, name="head")(keras.layers.Concatenate()([pooled, extra]))
    example = {"extra": np.ones((1, 4), np.float32), "image": np.full((1, 8, 8, 3), 0.5, np.float32)}
    return keras.Model([image, extra], [out, pooled]), example


def make_bad_example():
    return Scaled(), "not a tensor"


def make_bad_dict():
    return Scaled(), {"x": torch.zeros(1, 4), "gain": [1.0]}
'''


@pytest.fixture(scope="module", autouse=True)
def testbed_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("testbed_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("multi_models")
    (folder / "multi_factory.py").write_text(textwrap.dedent(FACTORY_SOURCE))
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(folder))
        yield folder


def _error(spec: str, **kwargs: Any) -> str:
    with pytest.raises(ModelError) as info:
        testbed_zoo.load(spec, **kwargs)
    message = str(info.value)
    assert "\n" not in message and spec in message, message
    return message


# ------------------------------------------------------------------ torch: a factory and a .pt2 program


def test_two_input_two_output_torch_factory(root: Path) -> None:
    import multi_factory  # type: ignore[import-not-found]
    import torch

    model = testbed_zoo.load("multi_factory:make_ids_mask")
    spec = model.spec
    assert [(d.name, d.shape, d.dtype, d.kind) for d in spec.inputs] == [
        ("ids", [1, 6], "int64", "tokens"), ("mask", [1, 6], "int64", "mask")]
    assert [o.name for o in spec.outputs] == ["output_0", "output_1"] and spec.task == "other"
    assert spec.input_shape == [1, 6] and spec.num_classes == 3
    example = model.example_inputs()
    _, (ids, mask) = multi_factory.make_ids_mask()
    assert np.array_equal(example["ids"], ids[:1].numpy()) and np.array_equal(example["mask"], mask[:1].numpy())

    xs = model.parity_input_sets(4)
    assert xs["ids"].shape == (4, 6) and set(np.unique(xs["mask"])) <= {0, 1} and xs["mask"][:, 0].all()
    assert np.array_equal(xs["ids"], model.parity_input_sets(4)["ids"])
    out = model.references("pytorch", xs)
    with torch.no_grad():
        expected = model.torch_module()(torch.from_numpy(xs["ids"]), torch.from_numpy(xs["mask"]))
    assert len(out) == 2 and out[0].shape == (4, 3) and out[1].shape == (4, 4)
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=ATOL)
    assert model.calibration_inputs(5)["mask"].shape == (5, 6)
    assert model.stats()["params"] == 10 * 4 + 4 * 3 + 3


def test_dict_example_goes_by_keyword_and_a_scalar_input(root: Path) -> None:
    import torch

    model = testbed_zoo.load("multi_factory:make_keywords")
    assert [d.name for d in model.spec.inputs] == ["ids", "mask"] and [o.name for o in model.spec.outputs] == ["pooled"]
    xs = model.parity_input_sets(3)
    (out,) = model.references("pytorch", xs)
    inner = model.torch_module().inner
    with torch.no_grad():
        want = inner(torch.from_numpy(xs["ids"]), mask=torch.from_numpy(xs["mask"]))["pooled"].numpy()
    np.testing.assert_allclose(out, want, rtol=0, atol=ATOL)

    scalar = testbed_zoo.load("multi_factory:make_scalar")
    assert [(d.name, d.shape, d.dtype) for d in scalar.spec.inputs] == [("x", [1, 4], "float32"), ("gain", [], "float32")]
    assert scalar.example_inputs()["gain"].tolist() == [2.0]  # a scalar travels as [N]
    xs = scalar.parity_input_sets(3)
    assert xs["gain"].shape == (3,) and scalar.feed({"x": xs["x"][:1], "gain": xs["gain"][:1]})["gain"].shape == ()
    (out,) = scalar.references("pytorch", xs)
    np.testing.assert_allclose(out, xs["x"] * xs["gain"][:, None], rtol=0, atol=ATOL)


def test_pt2_program_names_and_example(root: Path) -> None:
    import multi_factory
    import torch

    module, (ids, mask) = multi_factory.make_ids_mask()
    module.eval()
    with torch.no_grad():
        torch.export.save(torch.export.export(module, (ids[:1], mask[:1])), root / "ids_mask.pt2")
    model = testbed_zoo.load(str(root / "ids_mask.pt2"))
    assert [d.name for d in model.spec.inputs] == ["ids", "mask"] and len(model.spec.outputs) == 2
    assert np.array_equal(model.example_inputs()["ids"], ids[:1].numpy())
    xs = model.parity_input_sets(2)
    out = model.references("pytorch", xs)
    with torch.no_grad():
        want = module(torch.from_numpy(xs["ids"]), torch.from_numpy(xs["mask"]))
    for got, w in zip(out, want):
        np.testing.assert_allclose(got, w.numpy(), rtol=0, atol=ATOL)


def test_pt2_dynamic_dims_from_its_example_or_the_user(root: Path) -> None:
    """A program exported with a dynamic batch and length: its own example (batch 2, cut to 1) sizes
    them, or --input-shape does (one input's size holds for the other that shares the dim's name)."""
    import multi_factory
    import torch

    module, (ids, mask) = multi_factory.make_ids_mask()
    module.eval()
    batch, seq = torch.export.Dim("batch", min=1, max=8), torch.export.Dim("seq", min=2, max=64)
    with torch.no_grad():
        program = torch.export.export(module, (ids, mask), dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
    torch.export.save(program, root / "dynamic.pt2")
    path = str(root / "dynamic.pt2")
    model = testbed_zoo.load(path)
    assert all(isinstance(d, str) for d in model.spec.inputs[0].shape)
    assert model.input_shapes == {"ids": [1, 6], "mask": [1, 6]} and model.spec.input_shape == [1, 6]
    longer = testbed_zoo.load(path + "#ids=1,12")  # a model reference (testbed_zoo.model_ref) carries the shapes
    assert longer.input_shapes == {"ids": [1, 12], "mask": [1, 12]} and longer.example_inputs()["mask"].shape == (1, 12)
    assert longer.source_hash() != model.source_hash()
    assert testbed_zoo.load(path, input_shapes={"ids": [1, 12], "mask": [1, 12]}).source_hash() == longer.source_hash()
    xs = longer.parity_input_sets(2)
    out = longer.references("pytorch", xs)
    with torch.no_grad():
        want = module(torch.from_numpy(xs["ids"]), torch.from_numpy(xs["mask"]))
    for got, w in zip(out, want):
        np.testing.assert_allclose(got, w.numpy(), rtol=0, atol=ATOL)


def test_factory_errors_are_one_line(root: Path) -> None:
    assert "the example input 'x' is a str" in _error("multi_factory:make_bad_example")
    assert "the example input 'gain' is a list" in _error("multi_factory:make_bad_dict")
    message = _error("multi_factory:make_ids_mask", input_shapes={"tokens": [1, 6]})
    assert "--input-shape names tokens" in message and "its inputs are ids, mask" in message


# ------------------------------------------------------------------ a 3-input voice model as .onnx


def _write_voice_onnx(path: Path) -> None:
    """audio [batch, samples] float, sr int64 scalar, state [2, batch, 128] float ->
    prob [batch, 1] = sigmoid(mean(audio) * sr / 16000), new_state = state * 0.5 + mean(audio)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    scale = numpy_helper.from_array(np.array(1 / 16000, np.float32), "scale")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["audio"], ["mean"], axes=[1], keepdims=1),
            helper.make_node("Cast", ["sr"], ["srf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["srf", "scale"], ["gain"]),
            helper.make_node("Mul", ["mean", "gain"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["prob"]),
            helper.make_node("Mul", ["state", "half"], ["decayed"]),
            helper.make_node("Add", ["decayed", "mean"], ["new_state"]),
        ],
        "voice",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, []),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 128])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["batch", 1]),
         helper.make_tensor_value_info("new_state", TensorProto.FLOAT, [2, "batch", 128])],
        [half, scale],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def voice(root: Path) -> Path:
    path = root / "voice.onnx"
    _write_voice_onnx(path)
    return path


def test_voice_onnx_with_input_shapes(voice: Path) -> None:
    import onnxruntime as ort

    model = testbed_zoo.load(str(voice), input_shapes={"audio": [1, 1600], "state": [2, 1, 128]})
    spec = model.spec
    assert [(d.name, d.shape, d.dtype) for d in spec.inputs] == [
        ("audio", ["batch", "samples"], "float32"), ("sr", [], "int64"), ("state", [2, "batch", 128], "float32")]
    assert [o.name for o in spec.outputs] == ["prob", "new_state"] and spec.frameworks == ["onnx"]
    assert spec.input_shape == [1, 1600] and spec.file_precision == "fp32"
    assert model.input_shapes == {"audio": [1, 1600], "sr": [], "state": [2, 1, 128]}
    # the state has no batch dim first: it travels as [N, 2, 1, 128], a sample fed as [2, 1, 128]
    xs = model.parity_input_sets(3)
    assert {k: v.shape for k, v in xs.items()} == {"audio": (3, 1600), "sr": (3,), "state": (3, 2, 1, 128)}
    prob, state = model.references("onnx", xs)
    assert prob.shape == (3, 1) and state.shape == (3, 2, 1, 128)
    session = ort.InferenceSession(str(voice), providers=["CPUExecutionProvider"])
    for i in range(3):
        want = session.run(None, {"audio": xs["audio"][i:i + 1], "sr": np.asarray(xs["sr"][i]), "state": xs["state"][i]})
        np.testing.assert_allclose(prob[i:i + 1], want[0], rtol=0, atol=ATOL)
        np.testing.assert_allclose(state[i], want[1], rtol=0, atol=ATOL)
    example = model.example_inputs()
    assert example["sr"].shape == (1,) and model.feed(example)["sr"].shape == ()
    # the state's "batch" is the audio's batch: it needs no shape of its own
    alone = testbed_zoo.load(str(voice), input_shapes={"audio": [1, 800]})
    assert alone.input_shapes["state"] == [2, 1, 128] and alone.input_shapes["audio"] == [1, 800]
    assert alone.source_hash() != model.source_hash()
    assert testbed_zoo.load(f"{voice}#audio=1,1600;state=2,1,128").source_hash() == model.source_hash()


def test_voice_onnx_shape_errors(voice: Path) -> None:
    spec = str(voice)
    message = _error(spec)
    assert "input 'audio'" in message and "--input-shape audio=1,1" in message and "samples" in message
    message = _error(spec, input_shapes={"audio": [1, 1600], "speed": [1]})
    assert "--input-shape names speed" in message and "its inputs are audio, sr, state" in message
    assert "rank 1, but the model's input 'audio' is rank 2" in _error(spec, input_shapes={"audio": [1600]})
    message = _error(spec, input_shapes={"audio": [1, 1600], "state": [3, 1, 128]})
    assert "dimension 0 is 3, but the model's input 'state' fixes it to 2" in message
    assert "batch dimension (0) is 4" in _error(spec, input_shapes={"audio": [4, 1600]})


def test_zoo_model_input_shapes_are_checked() -> None:
    testbed_zoo.load("digits_cnn", input_shapes={"input": [1, 1, 8, 8]})
    message = _error("digits_cnn", input_shapes={"pixels": [1, 1, 8, 8]})
    assert "its inputs are input" in message


# ------------------------------------------------------------------ a 2-input Keras model: .keras, SavedModel, .tflite


@pytest.fixture(scope="module")
def keras_files(root: Path) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    ids = keras.Input(shape=(6,), dtype="int64", name="ids")
    feat = keras.Input(shape=(4,), name="feat")
    joined = keras.layers.Concatenate()([keras.ops.cast(ids, "float32"), feat])
    model = keras.Model([ids, feat], [keras.layers.Dense(3, name="head_a")(joined),
                                      keras.layers.Dense(2, name="head_b")(feat)])
    model.save(root / "two.keras")
    model.export(str(root / "two_saved"), verbose=False)
    (root / "two.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    class Voice(tf.Module):  # the voice model's shape as a TFLite signature: dynamic dims, a scalar, a state
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="audio"),
                                      tf.TensorSpec([], tf.int64, name="sr"),
                                      tf.TensorSpec([2, None, 8], tf.float32, name="state")])
        def __call__(self, audio: Any, sr: Any, state: Any) -> Any:
            mean = tf.reduce_mean(audio, axis=1, keepdims=True)
            return {"prob": tf.sigmoid(mean * tf.cast(sr, tf.float32) / 16000.0), "state_out": state * 0.5 + mean[None]}

    voice = Voice()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([voice.__call__.get_concrete_function()], voice)
    (root / "voice.tflite").write_bytes(converter.convert())
    return {"model": model, "root": root}


def _keras_expected(keras_model: Any, xs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(o) for o in keras_model([xs["ids"], xs["feat"]])]


@pytest.mark.parametrize(("name", "framework", "inputs", "outputs"), [
    ("two.keras", "keras", ["ids", "feat"], ["head_a", "head_b"]),
    # a signature takes its inputs by keyword: in the signature's (sorted) keyword order, as TFLite lists them
    ("two_saved", "keras", ["feat", "ids"], ["output_0", "output_1"]),
    ("two.tflite", "tflite", ["feat", "ids"], ["output_0", "output_1"]),
])
def test_two_input_keras_forms(keras_files: dict[str, Any], name: str, framework: str, inputs: list[str],
                               outputs: list[str]) -> None:
    model = testbed_zoo.load(str(keras_files["root"] / name))
    assert [d.name for d in model.spec.inputs] == inputs
    assert {d.name: d.dtype for d in model.spec.inputs} == {"ids": "int64", "feat": "float32"}
    assert [o.name for o in model.spec.outputs] == outputs and model.spec.frameworks == [framework]
    assert model.input_shapes == {"ids": [1, 6], "feat": [1, 4]} and list(model.input_shapes) == inputs
    xs = model.parity_input_sets(3)
    out = model.references(framework, xs)
    assert [o.shape for o in out] == [(3, 3), (3, 2)]
    for got, want in zip(out, _keras_expected(keras_files["model"], xs)):
        np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    if framework == "keras":  # the batch-1 model converters use keeps every input and output
        fixed = model.keras_model()
        assert [t.shape[1] for t in fixed.inputs] == [{"ids": 6, "feat": 4}[n] for n in inputs]
        assert all(t.shape[0] == 1 for t in fixed.inputs) and len(fixed.outputs) == 2
        example = model.example_inputs("NHWC")
        for got, want in zip(fixed([example[n] for n in inputs]), model.references("keras", example)):
            np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=ATOL)


def test_voice_tflite_dynamic_dims_scalar_and_state(keras_files: dict[str, Any]) -> None:
    """A TFLite signature with [-1, -1] audio, a rank-0 int64 and a [2, -1, 8] state: TFLite names no
    dims, so each dynamic one is given; the interpreter is resized to them."""
    path = str(keras_files["root"] / "voice.tflite")
    message = _error(path)
    assert "input 'audio' dimension 1 is dynamic" in message and "--input-shape audio=" in message
    model = testbed_zoo.load(path, input_shapes={"audio": [1, 160], "state": [2, 1, 8]})
    assert [(d.name, d.shape, d.dtype) for d in model.spec.inputs] == [
        ("audio", [-1, -1], "float32"), ("sr", [], "int64"), ("state", [2, -1, 8], "float32")]
    assert [o.name for o in model.spec.outputs] == ["prob", "state_out"]
    xs = model.parity_input_sets(3)
    prob, state = model.references("tflite", xs)
    mean = xs["audio"].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-mean * xs["sr"][:, None] / 16000)), rtol=0, atol=ATOL)
    np.testing.assert_allclose(state, xs["state"] * 0.5 + mean[:, None, :, None], rtol=0, atol=ATOL)


def test_two_input_keras_factory_with_a_dict_example(keras_files: dict[str, Any]) -> None:
    model = testbed_zoo.load("multi_factory:make_keras_two")
    assert [(d.name, d.shape, d.kind) for d in model.spec.inputs] == [
        ("image", [-1, 3, 8, 8], "image"), ("extra", [-1, 4], "tensor")]  # NCHW, the batch dynamic
    assert len(model.spec.outputs) == 2 and model.spec.num_classes == 2 and model.spec.input_shape == [1, 3, 8, 8]
    example = model.example_inputs()
    assert example["image"].shape == (1, 3, 8, 8) and example["image"].min() == 0.5 and example["extra"].min() == 1.0
    assert model.example_inputs("NHWC")["image"].shape == (1, 8, 8, 3)
    xs = model.parity_input_sets(2)
    keras_model = model.keras_model()
    out = model.references("keras", xs)
    for i in range(2):
        got = keras_model([xs["image"][i:i + 1].transpose(0, 2, 3, 1), xs["extra"][i:i + 1]])
        for o, g in zip(out, got):
            np.testing.assert_allclose(o[i:i + 1], np.asarray(g), rtol=0, atol=ATOL)
