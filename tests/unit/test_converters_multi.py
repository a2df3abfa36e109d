"""Every converter on a model with two named inputs and two outputs: real tools, real runtimes.

The model: int32 token ids and a 0/1 attention mask ``[1, 8]`` -> an embedding table, a masked mean,
and two heads: ``logits`` (4 classes) and ``embedding`` (6 values), defined in PyTorch and in Keras
with the same weights (the two agree to 1e-5 before conversion, as the zoo's models do). Each
artifact is run by the agent's own runtime classes on the seeded inputs (ids below the vocabulary,
masks of ones then zeros) and compared with its source on *both* outputs (``testbed.check``): names
and order survive every converter, and the quantized variants keep the logits' top-1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import testbed_zoo
from testbed.check import check
from testbed.converters import Artifact, all_converters, build
from testbed.inputs import build as build_inputs
from testbed_zoo.base import ZooModel
from testbed_zoo.spec import ModelSpec

pytestmark = pytest.mark.framework

VOCAB, SEQ, DIM, CLASSES, EMB = 50, 8, 16, 4, 6
FP32_ATOL = 1e-4
SPEC = {
    "id": "two_in_two_out", "description": "test model: ids + mask -> logits + embedding",
    "inputs": [{"name": "ids", "shape": [1, SEQ], "dtype": "int32", "kind": "tokens", "high": VOCAB},
               {"name": "mask", "shape": [1, SEQ], "dtype": "int32", "kind": "mask"}],
    "outputs": [{"name": "logits", "kind": "logits"}, {"name": "embedding", "kind": "embedding"}],
    "num_classes": CLASSES, "trained": False, "weights": "random", "frameworks": ["pytorch", "keras"],
}


def _weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"table": rng.standard_normal((VOCAB, DIM)).astype(np.float32),
            "w1": rng.standard_normal((CLASSES, DIM)).astype(np.float32) * 0.5,
            "b1": rng.standard_normal(CLASSES).astype(np.float32) * 0.1,
            "w2": rng.standard_normal((EMB, DIM)).astype(np.float32) * 0.5,
            "b2": rng.standard_normal(EMB).astype(np.float32) * 0.1}


class TwoInTwoOut(ZooModel):
    def _build_torch(self) -> Any:
        import torch

        w = _weights()

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.table = torch.nn.Embedding(VOCAB, DIM)
                self.head1, self.head2 = torch.nn.Linear(DIM, CLASSES), torch.nn.Linear(DIM, EMB)
                with torch.no_grad():
                    self.table.weight.copy_(torch.from_numpy(w["table"]))
                    self.head1.weight.copy_(torch.from_numpy(w["w1"]))
                    self.head1.bias.copy_(torch.from_numpy(w["b1"]))
                    self.head2.weight.copy_(torch.from_numpy(w["w2"]))
                    self.head2.bias.copy_(torch.from_numpy(w["b2"]))

            def forward(self, ids: Any, mask: Any) -> tuple[Any, Any]:
                m = mask.to(torch.float32).unsqueeze(-1)
                pooled = (self.table(ids) * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
                return self.head1(pooled), torch.tanh(self.head2(pooled))

        return Net()

    def _build_keras(self, batch_size: int | None) -> Any:
        from testbed_zoo.frameworks import import_keras

        keras = import_keras()
        w = _weights()
        ids = keras.Input(shape=(SEQ,), batch_size=batch_size, dtype="int32", name="ids")
        mask = keras.Input(shape=(SEQ,), batch_size=batch_size, dtype="int32", name="mask")
        table = keras.layers.Embedding(VOCAB, DIM, name="table")
        m = keras.ops.expand_dims(keras.ops.cast(mask, "float32"), -1)
        pooled = keras.ops.sum(table(ids) * m, axis=1) / keras.ops.maximum(keras.ops.sum(m, axis=1), 1.0)
        head1, head2 = keras.layers.Dense(CLASSES, name="logits"), keras.layers.Dense(EMB, name="embedding")
        out1, out2 = head1(pooled), keras.ops.tanh(head2(pooled))
        table.set_weights([w["table"]])
        head1.set_weights([w["w1"].T, w["b1"]])
        head2.set_weights([w["w2"].T, w["b2"]])
        return keras.Model([ids, mask], [out1, out2], name="two_in_two_out")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooModel]:
    home = tmp_path_factory.mktemp("home")
    folder = tmp_path_factory.mktemp("model")
    (folder / "model.py").write_text(Path(__file__).read_text())  # the source hash covers this test's code
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESTBED_HOME", str(home))
        yield TwoInTwoOut(ModelSpec.model_validate(SPEC), folder)


def test_the_two_definitions_agree_on_both_outputs(model: ZooModel) -> None:
    xs = model.parity_input_sets(8)
    assert xs["ids"].dtype == np.int32 and xs["ids"].max() < VOCAB and set(np.unique(xs["mask"])) <= {0, 1}
    torch_out, keras_out = model.references("pytorch", xs), model.references("keras", xs)
    assert [o.shape for o in torch_out] == [(8, CLASSES), (8, EMB)]
    for t, k in zip(torch_out, keras_out, strict=True):
        np.testing.assert_allclose(t, k, rtol=0, atol=1e-5)


def test_the_inputs_file_holds_every_input_by_name(model: ZooModel) -> None:
    inset = build_inputs(model, "NCHW")
    with np.load(inset.path) as npz:
        assert sorted(npz.files) == ["eval/ids", "eval/mask", "timing/ids", "timing/mask"]
        assert npz["timing/ids"].shape == (1, SEQ) and npz["eval/mask"].dtype == np.int32
    assert [t.name for t in inset.tensors] == ["ids", "mask"]


CONVERTERS = [c.name for c in all_converters() if c.source in ("pytorch", "keras")]
# Tool limits this model meets (a failed variant with the tool's reason, never an artifact): LiteRT
# refuses litert-torch's dynamic-int8 embedding table (a zero point != 0), as on text_transformer.
TOOL_LIMITS = {"tflite-torch-int8-dynamic": "EMBEDDING_LOOKUP"}


@pytest.fixture(scope="module")
def artifacts(model: ZooModel) -> dict[str, Artifact]:
    return {name: build(name, model) for name in CONVERTERS}


@pytest.mark.parametrize("name", CONVERTERS)
def test_every_converter_keeps_both_inputs_and_both_outputs(artifacts: dict[str, Artifact], model: ZooModel,
                                                            name: str) -> None:
    art = artifacts[name]
    if name in TOOL_LIMITS and not art.ok:
        assert art.error is not None and TOOL_LIMITS[name] in art.error and "\n" not in art.error
        return
    assert art.ok, art.error
    result = check(art, model)
    assert result["error"] is None, result["error"]
    per_output = result["parity_outputs"]
    assert [p["name"] for p in per_output] == ["logits", "embedding"]
    logits, embedding = per_output
    if art.quantization == "fp32":
        assert logits["max_abs_err"] < FP32_ATOL and embedding["max_abs_err"] < FP32_ATOL, per_output
        assert logits["top1_agreement"] == 1.0 and embedding["cosine_min"] > 0.99999
    else:  # quantized: close, not equal; an output swapped with the other would fail the shapes first
        assert embedding["cosine_min"] > 0.95 and logits["top1_agreement"] >= 0.75, per_output
    assert result["parity"]["name"] in ("logits", "embedding")
    assert embedding["rank_agreement"] is not None and embedding["rank_agreement"] > 0.8


def test_testbed_zoo_loads_no_such_model() -> None:
    with pytest.raises(testbed_zoo.ModelError):
        testbed_zoo.load("two_in_two_out")
