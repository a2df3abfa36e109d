"""digits_two_head: a two-output zoo model (digit + loops heads) with identical weights in PyTorch and Keras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import testbed_zoo
from helpers.zoo import PARITY_ATOL
from testbed_zoo import hash_sources
from testbed_zoo.digits_two_head import DATA_SOURCE, loops_of
from testbed_zoo.sources import SHARED_SOURCES
from testbed_zoo.trained import TrainedModel

# each zoo module gets its own empty TESTBED_HOME: its weight and stats caches start empty
pytestmark = pytest.mark.usefixtures("isolated_home")

# Held-out accuracy floors, a margin below what the trained weights reach (seen: digit 0.978, loops 0.958).
DIGIT_ACCURACY = 0.95
LOOPS_ACCURACY = 0.93


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    loaded = testbed_zoo.load("digits_two_head")
    assert isinstance(loaded, TrainedModel)
    return loaded


def test_spec_and_labels(model: TrainedModel) -> None:
    spec = model.spec
    assert model.id in testbed_zoo.available() and model.folder.name == model.id
    assert [(d.name, d.shape, d.dtype, d.kind) for d in spec.inputs] == [("input", [1, 1, 8, 8], "float32", "image")]
    assert [(d.name, d.kind) for d in spec.outputs] == [("digit", "logits"), ("loops", "logits")]
    assert spec.input_shape == [1, 1, 8, 8] and spec.input_kind == "image" and spec.num_classes == 10
    assert spec.trained and spec.weights == "trained" and spec.frameworks == ["pytorch", "keras"]
    assert "loops" in spec.description and spec.eval_set
    assert loops_of(np.arange(10)).tolist() == [1, 0, 0, 0, 1, 0, 1, 0, 2, 1]


def test_source_hash_covers_the_shared_data_module(model: TrainedModel) -> None:
    """The split comes from digits_cnn/data.py, so that file is part of this model's version."""
    shared = tuple(Path(testbed_zoo.__file__).parent / name for name in SHARED_SOURCES)
    assert model.source_hash() == hash_sources(model.folder, (*shared, DATA_SOURCE))
    assert model.source_hash() != hash_sources(model.folder, shared)
    assert DATA_SOURCE.is_file()


@pytest.mark.framework
def test_both_heads_parity_and_accuracy(model: TrainedModel) -> None:
    eval_set = model.eval_set()
    assert eval_set is not None
    x, y = eval_set
    torch_out = model.references("pytorch", {"input": x})
    keras_out = model.references("keras", {"input": x})
    assert [o.shape for o in torch_out] == [o.shape for o in keras_out] == [(len(x), 10), (len(x), 3)]
    for name, t, k in zip(("digit", "loops"), torch_out, keras_out, strict=True):
        assert float(np.abs(t).max()) > 0.1, name  # not a degenerate all-zero output
        np.testing.assert_allclose(k, t, rtol=0, atol=PARITY_ATOL, err_msg=name)
    digit_accuracy = float((torch_out[0].argmax(axis=1) == y).mean())
    loops_accuracy = float((torch_out[1].argmax(axis=1) == loops_of(y)).mean())
    assert digit_accuracy >= DIGIT_ACCURACY, digit_accuracy
    assert loops_accuracy >= LOOPS_ACCURACY, loops_accuracy
    # the single-output form is the first head
    np.testing.assert_array_equal(model.reference("pytorch", x[:8]), torch_out[0][:8])


@pytest.mark.framework
def test_framework_models(model: TrainedModel) -> None:
    """Torch returns (digit, loops); the batch-1 Keras model has one input 'input' and outputs digit, loops."""
    import torch

    module = model.torch_module()
    x = model.example_input()
    with torch.no_grad():
        out = module(torch.tensor(x))
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(1, 10), (1, 3)]
    keras_model = model.keras_model()
    assert [t.name for t in keras_model.inputs] == ["input"] and keras_model.input_shape == (1, 8, 8, 1)
    assert keras_model.output_names == ["digit", "loops"]
    single = keras_model(model.example_input("NHWC"), training=False)
    for k, t in zip(single, out, strict=True):
        np.testing.assert_allclose(np.asarray(k), t.numpy(), rtol=0, atol=PARITY_ATOL)


@pytest.mark.framework
def test_weights_cached_not_retrained(model: TrainedModel, isolated_home: Path) -> None:
    from testbed_zoo.digits_two_head import torch_model

    model.torch_module()
    path = model.weights_path()
    assert path.is_file() and path.parent == isolated_home / "cache" / "weights"
    assert model.source_hash() in path.name
    runs, mtime = torch_model.TRAINING_RUNS, path.stat().st_mtime_ns
    again = testbed_zoo.load("digits_two_head")
    for (name, a), (_, b) in zip(again.torch_module().state_dict().items(),
                                 model.torch_module().state_dict().items(), strict=True):
        assert a.equal(b), name
    assert torch_model.TRAINING_RUNS == runs and path.stat().st_mtime_ns == mtime


@pytest.mark.framework
def test_training_is_deterministic(model: TrainedModel) -> None:
    """Training again from scratch gives the cached weights bit for bit."""
    from testbed_zoo.digits_cnn.data import split
    from testbed_zoo.digits_two_head import torch_model

    d = split()
    fresh = torch_model.train(d.x_train, d.y_train, loops_of(d.y_train))
    cached = model.weights()
    assert fresh.keys() == cached.keys()
    for name in fresh:
        np.testing.assert_array_equal(fresh[name], cached[name], err_msg=name)
