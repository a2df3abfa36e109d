"""Models with several inputs of mixed dtypes through a real agent (issue 13): every runtime feeds
the arrays of the inputs .npz by name (ONNX Runtime, LiteRT) or by position (ExecuTorch, whose
programs keep no names), checked against the request's ``inputs`` description.

The model: ``y = x @ W + b + sum(ids)`` with ``x`` float32 [1, IN] and ``ids`` int32 [1, 3]. The ONNX
graph declares ``ids`` first and the request sends ``x`` first, so only feeding by name gets it right;
it also returns ``s = sum(ids)`` as a second output (every output of the eval samples comes back).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from agent_fixtures import IN_FEATURES, OUT_FEATURES, Agent, decode_npy, onnx_bytes
from testbed_agent.schema import SCHEMA_VERSION

pytestmark = [pytest.mark.integration, pytest.mark.framework]
N_IDS = 3


def _onnx(w: np.ndarray, b: np.ndarray) -> bytes:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["dense"]),
             helper.make_node("Cast", ["ids"], ["idf"], to=TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["idf", "axes"], ["s"], keepdims=1),
             helper.make_node("Add", ["dense", "s"], ["y"])]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("ids", TensorProto.INT32, [1, N_IDS]),  # declared first on purpose
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, IN_FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, OUT_FEATURES]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 1])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")])
    return onnx_bytes(graph)


def _tflite(w: np.ndarray, b: np.ndarray) -> bytes:
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([1, N_IDS], tf.int32, name="ids"),
                                  tf.TensorSpec([1, IN_FEATURES], tf.float32, name="x")], autograph=False)
    def model(ids: Any, x: Any) -> Any:
        return tf.matmul(x, w) + b + tf.reduce_sum(tf.cast(ids, tf.float32), axis=-1, keepdims=True)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([model.get_concrete_function()], model)
    return bytes(converter.convert())


def _pte(w: np.ndarray, b: np.ndarray) -> bytes:
    torch = pytest.importorskip("torch")
    pytest.importorskip("executorch.exir")
    from executorch.exir import to_edge_transform_and_lower

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(IN_FEATURES, OUT_FEATURES)
            with torch.no_grad():
                self.linear.weight.copy_(torch.from_numpy(w.T.copy()))
                self.linear.bias.copy_(torch.from_numpy(b))

        def forward(self, x: Any, ids: Any) -> Any:  # by position: x first, as the request sends them
            return self.linear(x) + ids.to(torch.float32).sum(-1, keepdim=True)

    example = (torch.zeros(1, IN_FEATURES), torch.zeros(1, N_IDS, dtype=torch.int32))
    exported = torch.export.export(TwoInputs().eval(), example)
    return bytes(to_edge_transform_and_lower(exported).to_executorch().buffer)


BUILD = {"onnxruntime": _onnx, "litert": _tflite, "executorch": _pte}
INPUT_ORDER: dict[str, list[str] | None] = {"onnxruntime": ["ids", "x"], "litert": ["ids", "x"], "executorch": None}


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {"timing/x": rng.standard_normal((1, IN_FEATURES)).astype(np.float32),
            "timing/ids": rng.integers(0, 50, (1, N_IDS)).astype(np.int32),
            "eval/x": rng.standard_normal((4, IN_FEATURES)).astype(np.float32),
            "eval/ids": rng.integers(0, 50, (4, N_IDS)).astype(np.int32)}


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _specs(arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    return [{"name": name, "shape": list(arrays[f"timing/{name}"].shape), "dtype": str(arrays[f"timing/{name}"].dtype)}
            for name in ("x", "ids")]


def _expected(x: np.ndarray, ids: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w + b + ids.astype(np.float32).sum(-1, keepdims=True)


@pytest.mark.parametrize("runtime", list(BUILD))
def test_two_inputs_of_mixed_dtypes_are_fed_by_name_or_position(
        agent: Agent, runtime: str, arrays: dict[str, np.ndarray], dense_weights: tuple[np.ndarray, np.ndarray]
) -> None:
    w, b = dense_weights
    request = {"artifact_sha256": agent.upload(BUILD[runtime](w, b)), "inputs_sha256": agent.upload(_npz(arrays)),
               "runtime": runtime, "warmup": 2, "iterations": 5, "threads": 1, "inputs": _specs(arrays),
               "schema": SCHEMA_VERSION}  # a schema 3 host gets every output of the eval samples
    run = agent.run(**request)
    assert run["state"] == "done", run["error"]
    result = run["result"]
    assert [t["name"] for t in result["input_tensors"]] == ["x", "ids"]
    assert [t["dtype"] for t in result["input_tensors"]] == ["float32", "int32"]
    # the artifact's own input order, where it is not the request's (fed by name): the record says so
    assert result["settings"].get("input_order") == INPUT_ORDER[runtime], result["settings"]
    np.testing.assert_allclose(decode_npy(result["timing_output_npy_b64"]).reshape(1, -1),
                               _expected(arrays["timing/x"], arrays["timing/ids"], w, b), rtol=1e-4, atol=1e-4)
    expected = _expected(arrays["eval/x"], arrays["eval/ids"], w, b)
    np.testing.assert_allclose(decode_npy(result["outputs_npy_b64"]), expected, rtol=1e-4, atol=1e-4)
    every = [decode_npy(o) for o in result["eval_outputs_npy_b64"]]
    assert len(every) == (2 if runtime == "onnxruntime" else 1)
    np.testing.assert_allclose(every[0], expected, rtol=1e-4, atol=1e-4)
    if runtime == "onnxruntime":  # the second output: sum(ids) per sample, [N, 1]
        np.testing.assert_allclose(every[1], arrays["eval/ids"].sum(-1, keepdims=True), rtol=1e-6)


def test_inputs_that_do_not_match_the_request_or_the_model_fail_with_the_input_named(
        agent: Agent, arrays: dict[str, np.ndarray], dense_weights: tuple[np.ndarray, np.ndarray]) -> None:
    model = agent.upload(_onnx(*dense_weights))
    wrong_shape = {"timing/x": arrays["timing/x"], "timing/ids": np.zeros((1, N_IDS + 1), np.int32)}
    missing = {k: v for k, v in arrays.items() if not k.endswith("/ids")}
    renamed = {k.replace("/ids", "/mask"): v for k, v in arrays.items()}
    cases = [
        (wrong_shape, _specs(arrays), "input ids: the .npz holds int32[1, 4], the request says int32[1, 3]"),
        (missing, _specs(arrays), "missing: ids"),
        (renamed, None, "the model takes inputs ['ids', 'x'], the request sends ['x', 'mask']"),
    ]
    for npz, specs, message in cases:
        request = {"artifact_sha256": model, "inputs_sha256": agent.upload(_npz(npz)), "runtime": "onnxruntime",
                   "warmup": 1, "iterations": 2}
        if specs is not None:
            request["inputs"] = specs
        run = agent.run(**request)
        assert run["state"] == "failed" and message in run["error"], run["error"]
