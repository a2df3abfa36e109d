"""Models with several named inputs and outputs deployed end to end through the real CLI, on
``--device local`` and over the SSH test board (a real sshd on 127.0.0.1, the agent reached through
the tunnel): parity on every output.

* ``tb_multi_factory:make``: a PyTorch factory returning two example inputs (int64 token ids and an
  attention mask) of a model with two outputs (class logits and a unit-length embedding).
* ``voice.onnx``: an ONNX graph built here with onnx.helper, shaped like a streaming voice model:
  float audio ``[batch, samples]``, a scalar int64 sample rate, a float state ``[2, batch, 16]``
  (dynamic batch and sample dims) -> scores ``[batch, 4]`` and the next state. Its dynamic dims
  come from ``--input-shape``, or its inputs from the user's own ``--inputs FILE.npz``.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers import sshd as sshd_helper
from helpers.cli import run

pytestmark = pytest.mark.integration

FAST = ("--json", "--iterations", "10", "--warmup", "2")
SHAPES = ("--input-shape", "audio=1,1600", "--input-shape", "state=2,1,16")

FACTORY_SOURCE = '''
import torch
from torch import nn


class TwoHeads(nn.Module):
    """Token ids + attention mask -> (class logits [1, 3], unit-length embedding [1, 8])."""

    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(100, 16)
        self.cls = nn.Linear(16, 3)
        self.proj = nn.Linear(16, 8)

    def forward(self, input_ids, attention_mask):
        m = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (self.table(input_ids) * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.cls(pooled), nn.functional.normalize(self.proj(pooled), dim=-1)


def make():
    torch.manual_seed(0)
    ids = torch.randint(0, 10, (1, 12))
    mask = torch.ones(1, 12, dtype=torch.int64)
    mask[0, 9:] = 0
    return TwoHeads().eval(), (ids, mask)
'''


def _voice_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.standard_normal((1, 4)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    rate = numpy_helper.from_array(np.array(16000.0, np.float32), "rate")
    nodes = [
        helper.make_node("ReduceMean", ["audio"], ["level"], axes=[1], keepdims=1),  # [batch, 1]
        helper.make_node("Cast", ["sr"], ["sr_f"], to=TensorProto.FLOAT),
        helper.make_node("Div", ["sr_f", "rate"], ["sr_scale"]),
        helper.make_node("Mul", ["level", "sr_scale"], ["feature"]),
        helper.make_node("MatMul", ["feature", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["scores"]),  # [batch, 4]
        helper.make_node("Add", ["state", "feature"], ["state_out"]),  # [2, batch, 16] + [batch, 1]
    ]
    graph = helper.make_graph(
        nodes, "voice",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["batch", "samples"]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, []),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 16])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, "batch", 16])],
        [weights, bias, rate])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("multi-io")
    (folder / "tb_multi_factory.py").write_text(textwrap.dedent(FACTORY_SOURCE))
    _voice_onnx(folder / "voice.onnx")
    return folder


def _env(user_dir: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(user_dir), os.environ.get("PYTHONPATH")]))}


def deploy(device: str, model: str, *args: str, env: dict | None = None) -> list[dict]:
    proc = run("deploy", "--device", device, "--model", model, *args, *FAST, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def assert_every_output(rows: list[dict], converters: set[str], names: list[str], fp32_err: float) -> None:
    assert {r["converter"] for r in rows} == converters, [(r["converter"], r["status"], r["error"]) for r in rows]
    for r in rows:
        assert r["status"] == "ok", (r["converter"], r["error"])
        assert r["latency_ms"]["n"] >= 10
        per_output = r["parity_outputs"]
        assert [p["name"] for p in per_output] == names, per_output
        assert r["parity"]["name"] in names  # the worst one, shown in the table
        if r["quantization"] in ("fp32", "int8"):  # the file itself / an fp32 conversion
            assert all(p["max_abs_err"] <= fp32_err for p in per_output), (r["converter"], per_output)


def test_two_input_two_output_factory_deploys_locally(user_dir: Path) -> None:
    rows = deploy("local", "tb_multi_factory:make", "--formats", "onnx,executorch,tflite", "--quant", "fp32",
                  env=_env(user_dir))
    assert_every_output(rows, {"onnx-torch-fp32", "executorch-xnnpack-fp32", "executorch-portable-fp32",
                               "tflite-torch-fp32"}, ["output_0", "output_1"], 1e-4)
    for r in rows:
        kinds = [p["kind"] for p in r["parity_outputs"]]
        assert kinds == ["tensor", "tensor"]  # a user model's outputs: compared value by value
        assert len(r["input_tensors"]) == 2
        # litert-torch makes int64 ids int32: the record says so; the others keep the model's int64
        changed = {"input_ids": ["int64", "int32"], "attention_mask": ["int64", "int32"]}
        assert r["input_dtype_changes"] == (changed if r["converter"] == "tflite-torch-fp32" else None), r


def test_three_input_onnx_with_a_scalar_and_dynamic_dims_deploys_locally(user_dir: Path) -> None:
    onnx_path = str(user_dir / "voice.onnx")
    rows = deploy("local", onnx_path, *SHAPES, "--quant", "fp32,int8-dynamic")
    assert_every_output(rows, {"onnx-file-fp32", "onnx-file-int8-dynamic"}, ["scores", "state_out"], 1e-6)
    fp32 = {r["converter"]: r for r in rows}["onnx-file-fp32"]
    fed = {t["name"]: (t["shape"], t["dtype"]) for t in fp32["input_tensors"]}
    assert fed == {"audio": ([1, 1600], "float32"), "sr": ([], "int64"), "state": ([2, 1, 16], "float32")}


def test_a_dynamic_dim_without_a_shape_is_one_line_naming_input_and_flag(user_dir: Path) -> None:
    proc = run("deploy", "--device", "local", "--model", str(user_dir / "voice.onnx"), *FAST)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "audio" in lines[0] and "--input-shape" in lines[0], proc.stderr


def test_the_users_own_inputs_file_judges_parity(user_dir: Path, tmp_path: Path) -> None:
    n = 3
    arrays = {"audio": np.random.default_rng(1).standard_normal((n, 1600)).astype(np.float32),
              "sr": np.full(n, 16000, np.int64),
              "state": np.zeros((n, 2, 1, 16), np.float32)}  # no batch dim: one whole state per sample
    good = tmp_path / "clips.npz"
    np.savez(good, **arrays)
    rows = deploy("local", str(user_dir / "voice.onnx"), *SHAPES, "--inputs", str(good), "--quant", "fp32")
    assert_every_output(rows, {"onnx-file-fp32"}, ["scores", "state_out"], 1e-6)
    assert all(p["n"] == n for p in rows[0]["parity_outputs"])

    bad = tmp_path / "bad.npz"
    np.savez(bad, audio=arrays["audio"], state=arrays["state"])  # no 'sr'
    proc = run("deploy", "--device", "local", "--model", str(user_dir / "voice.onnx"), *SHAPES,
               "--inputs", str(bad), *FAST)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "sr" in lines[0] and str(bad) in lines[0], proc.stderr


@pytest.fixture(scope="module")
def ssh_board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from test_deploy_ssh import write_profile

    sshd = sshd_helper.start(tmp_path_factory.mktemp("sshd"))
    root = tmp_path_factory.mktemp("board")
    try:
        yield write_profile(root, "multiboard", sshd, root / "agent-home", known_hosts=sshd.known_hosts)
    finally:
        sshd_helper.stop_agent(root / "agent-home")
        sshd.stop()


def test_both_deploy_over_the_ssh_board(user_dir: Path, ssh_board: Path) -> None:
    rows = deploy(str(ssh_board), "tb_multi_factory:make", "--formats", "onnx", "--quant", "fp32",
                  env=_env(user_dir))
    assert_every_output(rows, {"onnx-torch-fp32"}, ["output_0", "output_1"], 1e-4)
    rows = deploy(str(ssh_board), str(user_dir / "voice.onnx"), *SHAPES, "--quant", "fp32")
    assert_every_output(rows, {"onnx-file-fp32"}, ["scores", "state_out"], 1e-6)


def test_the_two_head_zoo_model_deploys_in_every_format_with_parity_on_both_heads() -> None:
    """digits_two_head: every variant (16 edge ones and the two framework baselines) measured, both
    heads judged; fp32 variants agree with their source on both, quantized ones keep most top-1s."""
    rows = deploy("local", "digits_two_head", "--preset", "quick")
    failed = [(r["converter"], r["error"]) for r in rows if r["status"] != "ok"]
    assert not failed, failed
    assert {r["format"] for r in rows} >= {"executorch", "onnx", "tflite"} and len(rows) >= 18
    for r in rows:
        digit, loops = r["parity_outputs"]
        assert (digit["name"], loops["name"]) == ("digit", "loops") and digit["kind"] == loops["kind"] == "logits"
        floor = 0.99 if r["quantization"] in ("fp32", "fp16") else 0.9
        assert digit["top1_agreement"] >= floor and loops["top1_agreement"] >= floor, (r["converter"], digit, loops)
        assert r["accuracy"] >= 0.9  # the digit head against the held-out labels
