"""The inputs .npz of a run (issue 13): one unnamed input (``timing``/``eval``) or named inputs
(``timing/<name>``/``eval/<name>``), checked against the request's tensor list; and how a runtime's
own input order is matched to them (by name, or by position where a format keeps no names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from testbed_agent.arrays import load_inputs
from testbed_agent.schema import TensorSpec

X = np.zeros((1, 4), np.float32)
IDS = np.arange(3, dtype=np.int64).reshape(1, 3)


def _npz(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / "inputs.npz"
    np.savez(path, **{k.replace("__", "/"): v for k, v in arrays.items()})
    return str(path)


def test_named_inputs_follow_the_request_order_and_carry_their_eval_samples(tmp_path: Path) -> None:
    path = _npz(tmp_path, timing__ids=IDS, timing__x=X, eval__x=np.ones((5, 4), np.float32),
                eval__ids=np.ones((5, 3), np.int64))
    specs = [TensorSpec("x", (1, 4), "float32"), TensorSpec("ids", (1, 3), "int64")]
    inputs = load_inputs(path, specs)
    assert inputs.names == ["x", "ids"] and inputs.n_eval == 5
    assert [a.dtype for a in inputs.timing] == [np.float32, np.int64]
    assert [a.shape for a in inputs.eval_sample(4)] == [(1, 4), (1, 3)]
    assert inputs.specs() == specs
    assert load_inputs(path).names == ["ids", "x"]  # no description: the file's order


def test_the_single_unnamed_input_takes_the_requests_name(tmp_path: Path) -> None:
    inputs = load_inputs(_npz(tmp_path, timing=X), [TensorSpec("pixels", (1, 4), "float32")])
    assert inputs.names == ["pixels"] and inputs.evals is None


@pytest.mark.parametrize("arrays,specs,message", [
    ({"timing__x": X}, [TensorSpec("x", (1, 4), "float32"), TensorSpec("ids", (1, 3), "int64")], "(missing: ids)"),
    ({"timing__x": X}, [TensorSpec("x", (1, 5), "float32")],
     "input x: the .npz holds float32[1, 4], the request says float32[1, 5]"),
    ({"timing__x": X, "timing__ids": IDS, "eval__x": np.ones((2, 4), np.float32)}, None,
     "eval arrays for ['x'], not for every input"),
    ({"timing__x": X, "timing__ids": IDS, "eval__x": np.ones((2, 4), np.float32),
      "eval__ids": np.ones((3, 3), np.int64)}, None, "the same N for every input"),
    ({"timing": X, "timing__x": X}, None, "mixes 'timing' with 'timing/<name>'"),
    ({"eval": X}, None, "has no 'timing' or 'timing/<name>' arrays"),
])
def test_a_file_that_does_not_fit_is_one_line_naming_the_input(tmp_path: Path, arrays: dict, specs: list | None,
                                                               message: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        load_inputs(_npz(tmp_path, **arrays), specs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_runtime_order_by_name_else_by_position(tmp_path: Path) -> None:
    inputs = load_inputs(_npz(tmp_path, timing__x=X, timing__ids=IDS))
    assert inputs.ordered(["x", "ids"]) == [0, 1]
    assert inputs.ordered(["ids", "x"]) == [1, 0]  # ONNX Runtime / LiteRT: by name
    assert inputs.ordered(["input_0", "input_1"]) == [0, 1]  # ExecuTorch: no names, by position
    with pytest.raises(ValueError, match=r"the model takes inputs \['x', 'mask'\], the request sends"):
        inputs.ordered(["x", "mask"])
    with pytest.raises(ValueError, match="the model takes inputs"):
        inputs.ordered(["input_0"])


def test_a_scalar_input_and_its_eval_samples(tmp_path: Path) -> None:
    path = _npz(tmp_path, timing__x=X, timing__sr=np.array(16000, np.int64),
                eval__x=np.ones((3, 4), np.float32), eval__sr=np.array([8000, 16000, 22050], np.int64))
    inputs = load_inputs(path, [TensorSpec("x", (1, 4), "float32"), TensorSpec("sr", (), "int64")])
    assert [a.shape for a in inputs.eval_sample(2)] == [(1, 4), ()] and int(inputs.eval_sample(2)[1]) == 22050
    with pytest.raises(ValueError, match="input x: an eval sample holds 5 values, its timing array 4"):
        load_inputs(_npz(tmp_path, timing__x=X, eval__x=np.ones((3, 5), np.float32)))


def test_integer_inputs_are_cast_to_what_the_artifact_takes_where_every_value_fits(tmp_path: Path) -> None:
    """litert-torch makes int64 ids int32: the agent feeds int32 and says so; floats and values that
    would not fit are left for the runtime's own error."""
    big = np.array([[2**40, 1, 2]], np.int64)
    path = _npz(tmp_path, timing__ids=IDS, timing__x=X, timing__big=big, eval__ids=np.ones((2, 3), np.int64),
                eval__x=np.ones((2, 4), np.float32), eval__big=np.repeat(big, 2, axis=0))
    inputs = load_inputs(path)
    order = inputs.ordered(["ids", "x", "big"])
    casts = inputs.conform(["int32", "float16", "int32"], order)
    assert casts == {"ids": ["int64", "int32"]}
    assert inputs.timing[0].dtype == np.int32 and inputs.evals is not None and inputs.evals[0].dtype == np.int32
    np.testing.assert_array_equal(inputs.timing[0], IDS)
    assert inputs.timing[1].dtype == np.float32 and inputs.timing[2].dtype == np.int64  # left as sent
    assert inputs.conform(None, order) == {}
