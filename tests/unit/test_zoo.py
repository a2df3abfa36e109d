"""Model zoo: discovery, spec validation, torch/keras parity, digits accuracy, weight caching."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import testbed_zoo
from helpers.zoo import PARITY_ATOL
from testbed.errors import ModelError
from testbed_zoo import ZooModel, hash_sources, load_spec, to_layout
from testbed_zoo.sources import SHARED_SOURCES

# each zoo module gets its own empty TESTBED_HOME: its weight and stats caches start empty
pytestmark = pytest.mark.usefixtures("isolated_home")


@pytest.fixture(scope="module")
def digits() -> ZooModel:
    return testbed_zoo.load("digits_cnn")


@pytest.fixture(scope="module")
def mobilenet() -> ZooModel:
    return testbed_zoo.load("mobilenet_v2")


# ------------------------------------------------------------------ discovery and specs


def test_discovery_finds_the_models() -> None:
    ids = testbed_zoo.available()
    assert ids == sorted(ids)
    assert {"digits_cnn", "mobilenet_v2", "mobilenet_v3_small", "resnet18", "text_transformer"} <= set(ids)


def test_unknown_model_lists_available() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nope'; available: .*digits_cnn.*mobilenet_v2"):
        testbed_zoo.load("nope")


def test_import_is_light() -> None:
    code = (
        "import sys, testbed_zoo; testbed_zoo.available(); testbed_zoo.load('digits_cnn'); "
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'sklearn') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


def test_specs(digits: ZooModel, mobilenet: ZooModel) -> None:
    assert digits.spec.input_shape == [1, 1, 8, 8]
    assert digits.spec.num_classes == 10 and digits.spec.trained and digits.spec.weights == "trained"
    assert digits.spec.eval_set
    assert mobilenet.spec.input_shape == [1, 3, 224, 224]
    assert mobilenet.spec.num_classes == 1000 and not mobilenet.spec.trained
    assert mobilenet.spec.eval_set is None
    for model in (digits, mobilenet):
        assert model.spec.frameworks == ["pytorch", "keras"]
        assert model.folder.name == model.id


def _valid_spec_text() -> str:
    return (Path(testbed_zoo.__file__).parent / "digits_cnn" / "spec.yaml").read_text()


def test_spec_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(_valid_spec_text() + "colour: blue\n")
    with pytest.raises(ModelError) as info:
        load_spec(path)
    assert "colour" in str(info.value) and str(path) in str(info.value)


def test_spec_bad_value_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(_valid_spec_text().replace("input_shape: [1, 1, 8, 8]", "input_shape: [2, 1, 8, 8]"))
    with pytest.raises(ModelError, match="input_shape") as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_spec_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(ModelError, match="invalid YAML"):
        load_spec(path)


# ------------------------------------------------------------------ hashing and layout


def test_source_hash_stable_and_sensitive(digits: ZooModel, tmp_path: Path) -> None:
    h = digits.source_hash()
    assert len(h) == 64 and h == testbed_zoo.load("digits_cnn").source_hash()
    copy = tmp_path / "digits_cnn"
    shutil.copytree(digits.folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shared = tuple(Path(testbed_zoo.__file__).parent / name for name in SHARED_SOURCES)
    assert hash_sources(copy, shared) == h
    (copy / "torch_model.py").write_text((copy / "torch_model.py").read_text() + "\n# changed\n")
    assert hash_sources(copy, shared) != h
    assert testbed_zoo.load("mobilenet_v2").source_hash() != h


def test_to_layout() -> None:
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    assert to_layout(x, "NCHW") is x
    y = to_layout(x, "NHWC")
    assert y.shape == (2, 4, 5, 3) and y.flags.c_contiguous
    assert y[1, 2, 3, 0] == x[1, 0, 2, 3]
    with pytest.raises(ModelError, match="layout"):
        to_layout(x, "NCWH")
    tokens = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert to_layout(tokens, "NHWC") is tokens and to_layout(tokens, "NCHW") is tokens


# ------------------------------------------------------------------ digits


def test_digits_data(digits: ZooModel) -> None:
    eval_set = digits.eval_set()
    assert eval_set is not None
    x, y = eval_set
    assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8) and 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and y.shape == (len(x),) and set(np.unique(y)) == set(range(10))
    assert 340 <= len(x) <= 380  # 20 % of 1797
    cal = digits.calibration_set(64)
    assert cal.shape == (64, 1, 8, 8) and cal.dtype == np.float32
    held_out = {row.tobytes() for row in x}
    assert sum(row.tobytes() in held_out for row in cal) < 4  # training images (digits has a few duplicates)
    p = digits.parity_inputs(8)
    assert np.array_equal(p, digits.parity_inputs(8)) and np.array_equal(p, x[:8])
    ex = digits.example_input()
    assert ex.shape == (1, 1, 8, 8) and np.array_equal(ex[0], x[0])
    assert digits.example_input("NHWC").shape == (1, 8, 8, 1)


@pytest.mark.framework
def test_digits_accuracy(digits: ZooModel) -> None:
    eval_set = digits.eval_set()
    assert eval_set is not None
    x, y = eval_set
    logits = digits.reference("pytorch", x)
    assert logits.dtype == np.float32 and logits.shape == (len(x), 10)
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= 0.95, accuracy


@pytest.mark.framework
def test_digits_second_load_does_not_retrain(digits: ZooModel, isolated_home: Path) -> None:
    from testbed_zoo.digits_cnn import torch_model

    digits.torch_module()  # trained (or read) by now
    path = digits.weights_path()  # type: ignore[attr-defined]
    assert path.is_file() and digits.source_hash() in path.name
    assert path.is_relative_to(isolated_home)
    runs, mtime = torch_model.TRAINING_RUNS, path.stat().st_mtime_ns
    again = testbed_zoo.load("digits_cnn")
    module = again.torch_module()
    assert torch_model.TRAINING_RUNS == runs
    assert path.stat().st_mtime_ns == mtime
    assert module is again.torch_module()  # cached on the instance
    x = digits.parity_inputs()
    # the saved weights come back bit for bit (data, not a computation); outputs up to float32 rounding
    for (name, a), (_, b) in zip(module.state_dict().items(), digits.torch_module().state_dict().items(),
                                 strict=True):
        assert a.equal(b), name
    np.testing.assert_allclose(again.reference("pytorch", x), digits.reference("pytorch", x), rtol=1e-6, atol=1e-6)


@pytest.mark.framework
def test_digits_torch_keras_parity(digits: ZooModel) -> None:
    _check_parity(digits)


# ------------------------------------------------------------------ mobilenet


def test_mobilenet_inputs(mobilenet: ZooModel) -> None:
    assert mobilenet.eval_set() is None
    p = mobilenet.parity_inputs(2)
    assert p.shape == (2, 3, 224, 224) and p.dtype == np.float32
    assert np.array_equal(p, mobilenet.parity_inputs(2))
    assert mobilenet.calibration_set(3).shape == (3, 3, 224, 224)
    assert mobilenet.example_input("NHWC", seed=5).shape == (1, 224, 224, 3)


@pytest.mark.framework
def test_mobilenet_torch_keras_parity(mobilenet: ZooModel) -> None:
    import torch

    module = mobilenet.torch_module()
    assert not module.training
    assert sum(p.numel() for p in module.parameters()) == 3_504_872  # MobileNetV2 1.0, 1000 classes
    bn = module.stem.bn
    assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    _check_parity(mobilenet)


def _check_parity(model: ZooModel) -> None:
    """Torch and Keras agree on the parity inputs, batched and through the fixed-batch model."""
    x = model.parity_inputs()
    torch_out = model.reference("pytorch", x)
    keras_out = model.reference("keras", x)
    assert torch_out.shape == keras_out.shape == (len(x), model.spec.num_classes)
    assert keras_out.dtype == np.float32
    assert float(np.abs(torch_out).max()) > 0.1  # not a degenerate all-zero output
    np.testing.assert_allclose(keras_out, torch_out, rtol=0, atol=PARITY_ATOL)

    keras_model = model.keras_model()
    shape = model.spec.input_shape
    assert tuple(keras_model.input_shape) == (1, shape[2], shape[3], shape[1])
    single = np.asarray(keras_model(model.example_input("NHWC"), training=False))
    np.testing.assert_allclose(single, model.reference("pytorch", model.example_input()), rtol=0, atol=PARITY_ATOL)
