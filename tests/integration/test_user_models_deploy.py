"""User models deployed end to end through the real CLI: `testbed deploy --device local --model
<a .onnx file | package.module:function>` (real converters, a real agent, real runtimes).

The files are made here: a tiny torch model exported with ``torch.onnx.export``, and a factory
module written to ``tmp_path`` and put on ``PYTHONPATH`` of the CLI subprocess. Each deploy keeps
to a few converters so the module stays light.
"""

from __future__ import annotations

import json
import os
import textwrap
import warnings
from pathlib import Path

import pytest

from helpers.cli import run

pytestmark = pytest.mark.integration

FAST = ("--json", "--iterations", "10", "--warmup", "2")

TINY_SOURCE = '''
import torch
from torch import nn


class Tiny(nn.Module):
    """conv3x3(3->8) + ReLU + global mean + linear(8->5) on [1, 3, 16, 16]."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def make():
    torch.manual_seed(0)
    return Tiny(), torch.randn(1, 3, 16, 16)
'''


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the factory module ``tb_user_factory`` and ``tiny.onnx`` exported from it."""
    folder = tmp_path_factory.mktemp("user-models")
    (folder / "tb_user_factory.py").write_text(textwrap.dedent(TINY_SOURCE))
    namespace: dict = {}
    exec(compile(TINY_SOURCE, str(folder / "tb_user_factory.py"), "exec"), namespace)  # noqa: S102 - our own source
    import torch

    module, example = namespace["make"]()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: quick and quiet
        torch.onnx.export(module.eval(), (example,), str(folder / "tiny.onnx"), dynamo=False,
                          input_names=["x"], output_names=["y"])
    return folder


def deploy(model: str, *args: str, env: dict | None = None) -> list[dict]:
    proc = run("deploy", "--device", "local", "--model", model, *args, *FAST, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def assert_measured_with_parity(rows: list[dict], converters: set[str], max_err: float) -> None:
    assert {r["converter"] for r in rows} == converters
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert r["latency_ms"]["n"] >= 10 and r["latency_ms"]["p50"] > 0
        parity = r["parity"]
        assert parity["n"] >= 1 and parity["top1_agreement"] >= 0.99 and parity["max_abs_err"] <= max_err, r
        assert r["accuracy"] is None  # a user model has no labelled data


def test_user_onnx_file_deploys_as_is_and_quantized(user_dir: Path) -> None:
    """The file itself (onnx-file-fp32, byte for byte) and ORT int8 over it; nothing from torch/keras."""
    path = user_dir / "tiny.onnx"
    rows = deploy(str(path))
    assert_measured_with_parity(rows, {"onnx-file-fp32", "onnx-file-int8-static", "onnx-file-int8-dynamic"}, 0.05)
    by_name = {r["converter"]: r for r in rows}
    fp32 = by_name["onnx-file-fp32"]
    assert fp32["source"] == "onnx" and fp32["runtime"] == "onnxruntime" and fp32["model"] == "tiny"
    assert fp32["size_bytes"] == path.stat().st_size and fp32["parity"]["max_abs_err"] <= 1e-6
    assert fp32["conversion_info"]["source_file"] == str(path)


def test_user_int8_onnx_file_is_deployed_as_int8_and_not_quantized_again(user_dir: Path, tmp_path: Path) -> None:
    """A file the user quantized with ORT's quantize_dynamic: one variant, ``onnx-file-int8``
    (the file as is, labelled int8), no int8 variant made from it, and a note saying why."""
    from onnxruntime.quantization import quantize_dynamic

    path = tmp_path / "tiny_int8.onnx"
    quantize_dynamic(str(user_dir / "tiny.onnx"), str(path))
    proc = run("deploy", "--device", "local", "--model", str(path), *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    assert_measured_with_parity(rows, {"onnx-file-int8"}, 1e-6)  # the file itself is the reference
    (row,) = rows
    assert row["quantization"] == "int8" and row["size_bytes"] == path.stat().st_size
    assert row["conversion_info"]["file_precision"] == "int8"
    assert "MatMulInteger" in row["conversion_info"]["precision_evidence"]
    assert ("note: onnx-file-int8-dynamic, onnx-file-int8-static not made: tiny_int8.onnx is already int8 ("
            in " ".join(proc.stderr.split()))
    assert "a quantized model is not quantized again" in " ".join(proc.stderr.split())


def test_factory_deploys_through_its_torch_converters(user_dir: Path) -> None:
    """``tb_user_factory:make`` found through PYTHONPATH; only pytorch-source converters are offered."""
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(user_dir), os.environ.get("PYTHONPATH")]))}
    rows = deploy("tb_user_factory:make", "--formats", "onnx", "--quant", "fp32,int8-dynamic", env=env)
    assert_measured_with_parity(rows, {"onnx-torch-fp32", "onnx-torch-int8-dynamic"}, 0.05)
    assert all(r["source"] == "pytorch" and r["model"] == "make" for r in rows)
    assert {r["converter"]: r for r in rows}["onnx-torch-fp32"]["parity"]["max_abs_err"] <= 1e-4


def test_corrupt_onnx_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf")
    proc = run("deploy", "--device", "local", "--model", str(bad), *FAST)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(bad) in lines[0] and "cannot load the ONNX file" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout.strip() == ""
