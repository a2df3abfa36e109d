"""The inputs sent with every run (testbed.inputs): real held-out samples where the model has them,
seeded random ones otherwise, and the very same data for every variant of a model (each layout
holds the same samples; the file and its sha256 are stable across builds)."""

from __future__ import annotations

import numpy as np
import pytest

import testbed_zoo
from testbed import inputs


def _arrays(inset: inputs.InputSet) -> tuple[np.ndarray, np.ndarray]:
    with np.load(inset.path, allow_pickle=False) as npz:
        return npz["timing"], npz["eval"]


def test_real_evaluation_inputs_and_the_same_data_in_every_layout() -> None:
    model = testbed_zoo.load("digits_cnn")
    x, y = model.eval_set()
    nchw, nhwc = inputs.build(model, "NCHW"), inputs.build(model, "NHWC")
    timing_c, eval_c = _arrays(nchw)
    timing_h, eval_h = _arrays(nhwc)
    np.testing.assert_array_equal(eval_c, x.astype(np.float32))  # the held-out split itself
    np.testing.assert_array_equal(nchw.labels, y)
    np.testing.assert_array_equal(timing_c, x[:1].astype(np.float32))  # a real sample, not noise
    np.testing.assert_array_equal(eval_h, testbed_zoo.to_layout(eval_c, "NHWC"))
    np.testing.assert_array_equal(timing_h, testbed_zoo.to_layout(timing_c, "NHWC"))
    np.testing.assert_array_equal(nchw.eval_nchw, nhwc.eval_nchw)  # one reference for both
    # what the run request tells the agent to expect in the file (it checks the .npz against it)
    assert [(t.name, t.shape, t.dtype) for t in nhwc.tensors] == [("input", timing_h.shape, "float32")]


def test_random_inputs_are_seeded_and_stable() -> None:
    model = testbed_zoo.load("mobilenet_v2")
    assert model.eval_set() is None
    first = inputs.build(model, "NCHW")
    again = inputs.build(model, "NCHW")
    assert first.sha256 == again.sha256 and first.labels is None
    timing, evals = _arrays(first)
    expected = np.random.default_rng(0).standard_normal((1, *model.spec.input_shape[1:]),
                                                        dtype=np.float32)
    np.testing.assert_array_equal(timing, expected)
    np.testing.assert_array_equal(evals, model.parity_inputs(8))
    first.path.unlink()  # rebuilt from scratch: the same bytes
    assert inputs.build(model, "NCHW").sha256 == first.sha256


@pytest.mark.parametrize("model_id", ["digits_cnn", "mobilenet_v2"])
def test_every_variant_of_a_model_gets_the_same_file(model_id: str) -> None:
    """deploy keys the inputs by (source, layout): both sources of one layout share the file."""
    from types import SimpleNamespace

    from testbed.deploy import reference_inputs

    model = testbed_zoo.load(model_id)
    calls: list[str] = []
    model_ref = SimpleNamespace(**{k: getattr(model, k) for k in ("id", "eval_inputs", "parity_input_sets",
                                                                   "example_inputs", "source_hash",
                                                                   "spec")},
                                references=lambda source, xs: calls.append(source) or [np.zeros(8)],
                                user_inputs=None)
    refs: dict = {}
    torch_art = SimpleNamespace(source="pytorch", layout="NCHW")
    keras_art = SimpleNamespace(source="keras", layout="NCHW")
    a, _ = reference_inputs(model_ref, torch_art, refs)
    b, _ = reference_inputs(model_ref, keras_art, refs)
    c, _ = reference_inputs(model_ref, torch_art, refs)
    assert a.sha256 == b.sha256 == c.sha256 and calls == ["pytorch", "keras"]
