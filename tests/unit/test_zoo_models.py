"""Zoo models added in issue 3: MobileNetV3-Small, ResNet-18, the text transformer; token specs; stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import testbed_zoo
from helpers.zoo import PARITY_ATOL
from testbed.errors import ModelError
from testbed_zoo import ModelSpec, ZooModel, load_spec

# each zoo module gets its own empty TESTBED_HOME: its weight and stats caches start empty
pytestmark = pytest.mark.usefixtures("isolated_home")


@pytest.fixture(scope="module")
def text() -> ZooModel:
    return testbed_zoo.load("text_transformer")


def _check_parity(model: ZooModel, n: int) -> None:
    """Torch and Keras agree on ``n`` parity inputs, batched and through the fixed-batch model."""
    x = model.parity_inputs(n)
    torch_out = model.reference("pytorch", x)
    keras_out = model.reference("keras", x)
    assert torch_out.shape == keras_out.shape == (n, model.spec.num_classes)
    assert float(np.abs(torch_out).max()) > 0.1  # not a degenerate all-zero output
    np.testing.assert_allclose(keras_out, torch_out, rtol=0, atol=PARITY_ATOL)
    keras_model = model.keras_model()
    assert keras_model.input_shape[0] == 1
    single = np.asarray(keras_model(model.example_input("NHWC"), training=False))
    np.testing.assert_allclose(single, model.reference("pytorch", model.example_input()), rtol=0, atol=PARITY_ATOL)


# ------------------------------------------------------------------ image models


@pytest.mark.parametrize(
    ("model_id", "params", "macs_range"),
    [
        ("mobilenet_v3_small", 2_542_856, (50e6, 65e6)),  # torchvision: 2.54M params, 0.06 GFLOPS
        ("resnet18", 11_689_512, (1.7e9, 1.9e9)),  # torchvision: 11.69M params, 1.81 GFLOPS
    ],
)
@pytest.mark.framework
def test_cnn_parity_and_stats(model_id: str, params: int, macs_range: tuple[float, float]) -> None:
    import torch

    model = testbed_zoo.load(model_id)
    spec = model.spec
    assert spec.input_shape == [1, 3, 224, 224] and spec.num_classes == 1000 and spec.weights == "random"
    assert spec.input_kind == "image" and spec.input_dtype == "float32" and model.eval_set() is None
    module = model.torch_module()
    assert not module.training
    bn = module.stem.bn
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    _check_parity(model, 2)
    stats = model.stats()
    assert stats["params"] == params == sum(p.numel() for p in module.parameters())
    assert macs_range[0] <= stats["macs"] <= macs_range[1] and stats["flops"] == 2 * stats["macs"]
    assert stats["macs_by_op"]["convolution"] > 0.9 * stats["macs"]


@pytest.mark.framework
def test_mobilenet_v2_stats_and_cache(isolated_home: Path) -> None:
    model = testbed_zoo.load("mobilenet_v2")
    stats = model.stats()
    assert stats["params"] == 3_504_872
    assert 295e6 <= stats["macs"] <= 305e6  # ~300M MACs at 224x224
    files = list((isolated_home / "cache" / "stats").glob("mobilenet_v2-*.json"))
    assert len(files) == 1 and model.source_hash()[:32] in files[0].name
    mtime = files[0].stat().st_mtime_ns
    again = testbed_zoo.load("mobilenet_v2")
    assert again.stats() == stats and again._torch is None  # read from the cache, nothing built
    assert files[0].stat().st_mtime_ns == mtime


# ------------------------------------------------------------------ text transformer


def test_text_spec_and_inputs(text: ZooModel) -> None:
    spec = text.spec
    assert spec.input_kind == "tokens" and spec.input_shape == [1, 32] and spec.input_dtype == "int32"
    assert spec.vocab_size == 1000 and spec.num_classes == 2 and spec.trained
    for arr in (text.example_input(), text.example_input("NHWC"), text.parity_inputs(4), text.calibration_set(5)):
        assert arr.dtype == np.int32 and arr.shape[1:] == (32,)
        assert 0 <= arr.min() and arr.max() < 1000
    assert text.example_input("NHWC").shape == (1, 32)
    eval_set = text.eval_set()
    assert eval_set is not None
    x, y = eval_set
    assert x.dtype == np.int32 and y.dtype == np.int64 and len(x) == len(y) == 1000
    assert 0.4 < y.mean() < 0.6  # balanced classes: chance is ~0.5
    train = {row.tobytes() for row in text.calibration_set(64)}
    assert not train & {row.tobytes() for row in x}


@pytest.mark.framework
def test_text_accuracy_parity_and_stats(text: ZooModel) -> None:
    eval_set = text.eval_set()
    assert eval_set is not None
    x, y = eval_set
    logits = text.reference("pytorch", x)
    accuracy = float((logits.argmax(axis=1) == y).mean())
    assert accuracy >= 0.9, accuracy
    # Whole-number floats are accepted for int inputs (and cast); fractions are not.
    # Another batch size and a cast on the way: the same model up to float32 rounding (seen: 1.4e-6 apart).
    np.testing.assert_allclose(text.reference("pytorch", x[:4].astype(np.float32)), logits[:4],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ModelError, match="int32"):
        text.reference("pytorch", x[:2] + 0.5)
    _check_parity(text, 8)
    stats = text.stats()
    assert stats["params"] == 133_250
    # 2 layers x (4 projections 32x64x64 + FFN 2x32x64x128 + attention 2x4x32x32x16) + classifier 64x2
    assert stats["macs"] == 2 * (4 * 32 * 64 * 64 + 2 * 32 * 64 * 128 + 2 * 4 * 32 * 32 * 16) + 64 * 2
    assert stats["macs_by_op"]["bmm"] == 2 * 2 * 4 * 32 * 32 * 16


@pytest.mark.framework
def test_text_second_load_does_not_retrain(text: ZooModel) -> None:
    from testbed_zoo.text_transformer import torch_model

    text.torch_module()
    runs = torch_model.TRAINING_RUNS
    again = testbed_zoo.load("text_transformer")
    x = text.parity_inputs()
    # the saved weights come back bit for bit (data, not a computation); outputs up to float32 rounding
    for (name, a), (_, b) in zip(again.torch_module().state_dict().items(),
                                 text.torch_module().state_dict().items(), strict=True):
        assert a.equal(b), name
    np.testing.assert_allclose(again.reference("pytorch", x), text.reference("pytorch", x), rtol=1e-6, atol=1e-6)
    assert torch_model.TRAINING_RUNS == runs


# ------------------------------------------------------------------ spec rules for token inputs


def _spec_text(**changes: str) -> str:
    text = (Path(testbed_zoo.__file__).parent / "text_transformer" / "spec.yaml").read_text()
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("input_shape: [1, 32]", "input_shape: [1, 1, 32, 1]", "tokens needs"),
        ("input_dtype: int32", "input_dtype: float32", "tokens needs"),
        ("input_kind: tokens", "input_kind: image", "image needs"),
        ("vocab_size: 1000", "vocab_size: 1", "vocab_size"),
        ("frameworks: [pytorch, keras]", "frameworks: [onnx, keras]", "frameworks"),
        ("input_dtype: int32", "input_dtype: int4", "input_dtype"),
        ("input_dtype: int32", "input_dtype: float16", "tokens needs"),
    ],
)
def test_token_spec_rules(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert load_spec_text(tmp_path, _spec_text()).input_kind == "tokens"
    with pytest.raises(ModelError, match=key) as info:
        load_spec_text(tmp_path, _spec_text(**{old: new}))
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)


def load_spec_text(tmp_path: Path, text: str) -> ModelSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return load_spec(path)


def test_existing_specs_default_to_images() -> None:
    for model_id in ("digits_cnn", "mobilenet_v2"):
        spec = testbed_zoo.load(model_id).spec
        assert spec.input_kind == "image" and spec.vocab_size is None and spec.origin is None
        assert spec.file_layout is None and spec.task == "classification"
