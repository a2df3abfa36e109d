"""Helpers for the device agent's tests: a real agent process and tiny models.

The three models compute the same ``y = x @ W + b`` (one dense layer) so every runtime's output
can be checked against numpy. The fixtures built on these (``agent``, ``dense_weights``,
``dense_inputs``, ``dense_model``) live in tests/integration/conftest.py, so test modules request
them by name and import only helpers from here (tests/integration is on sys.path under pytest).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import requests

from testbed.errors import AgentError
from testbed.transports.local import wait_ready

TOKEN = "test-token-0123456789"
IN_FEATURES, OUT_FEATURES = 8, 5
RUNTIME_SUFFIX = {"onnxruntime": ".onnx", "litert": ".tflite", "executorch": ".pte"}


def agent_command() -> list[str]:
    """The installed ``testbed-agent`` script next to this Python, else ``-m testbed_agent``."""
    script = Path(sys.executable).parent / "testbed-agent"
    return [str(script)] if script.exists() else [sys.executable, "-m", "testbed_agent"]


@dataclass
class Agent:
    """A running agent process and a tiny client for it."""

    proc: subprocess.Popen[str]
    url: str
    store: Path
    token: str = TOKEN
    stderr_path: Path | None = None
    http: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, token: str | None = "default", **kw: Any) -> requests.Response:
        """One request; ``token=None`` sends no Authorization header."""
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        return self.http.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def upload(self, data: bytes) -> str:
        """PUT ``data``; return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        resp = self.call("PUT", f"/v1/artifacts/{sha}", data=data)
        assert resp.status_code == 201, resp.text
        return sha

    def run(self, wait_s: float = 120, **request: Any) -> dict[str, Any]:
        """POST a run and poll (at most ``wait_s``) until it is done or failed."""
        resp = self.call("POST", "/v1/runs", json=request)
        assert resp.status_code == 202, resp.text
        run_id = resp.json()["id"]
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            run = self.call("GET", f"/v1/runs/{run_id}").json()
            if run["state"] in ("done", "failed"):
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish within {wait_s} s")


def start_agent(store: Path, *, env: dict[str, str] | None = None, args: list[str] | None = None,
                ready_timeout_s: float = 30) -> Agent:
    """Start ``testbed-agent serve --port 0`` and wait for its ready line."""
    store.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "TESTBED_AGENT_TOKEN": TOKEN, **(env or {})}
    return launch_agent(agent_command() + ["serve", "--host", "127.0.0.1", "--port", "0",
                                           "--store", str(store), *(args or [])],
                        store, env=full_env, stderr_path=store.parent / f"{store.name}-agent.err",
                        ready_timeout_s=ready_timeout_s)


def launch_agent(cmd: list[str], store: Path, *, env: dict[str, str], stderr_path: Path,
                 ready_timeout_s: float, what: str = "agent") -> Agent:
    """Run ``cmd`` (an agent ``serve``), its stderr appended to ``stderr_path``, and wait for its ready line."""
    with open(stderr_path, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        url = wait_ready(proc, timeout_s=ready_timeout_s, log=stderr_path)
    except AgentError:  # wait_ready killed it
        raise AssertionError(f"{what} did not start: {stderr_path.read_text(errors='replace')[-2000:]}") from None
    return Agent(proc=proc, url=url, store=store, stderr_path=stderr_path)


def leftover_workers(agent: Agent) -> list[psutil.Process]:
    """The agent's descendants other than its idle fork servers: a finished or killed worker
    leaves none, and an idle fork server has no children. (A forked worker shows the server's
    command line too, so a server is told apart as a direct child of the agent.)"""
    children = psutil.Process(agent.proc.pid).children(recursive=False)
    servers = [p for p in children if "testbed_agent.forkserver" in " ".join(p.cmdline())]
    rest = [p for p in children if p not in servers]
    for server in servers:
        rest += server.children(recursive=True)
    return rest


def stop_agent(agent: Agent, timeout_s: float = 10) -> int:
    """SIGTERM the agent by PID, SIGKILL if it does not exit; return its exit status."""
    agent.http.close()
    if agent.proc.poll() is None:
        os.kill(agent.proc.pid, signal.SIGTERM)
        try:
            agent.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(agent.proc.pid, signal.SIGKILL)
            agent.proc.wait()
    return agent.proc.returncode


def build_onnx(w: np.ndarray, b: np.ndarray) -> bytes:
    """MatMul + Add built with onnx.helper."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, IN_FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, OUT_FEATURES])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    return onnx_bytes(graph)


def onnx_bytes(graph: Any) -> bytes:
    """An onnx.helper graph as a checked opset-17 model's bytes."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def build_tflite(w: np.ndarray, b: np.ndarray) -> bytes:
    """A tf.function dense layer converted with TFLiteConverter."""
    tf = pytest.importorskip("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([1, IN_FEATURES], tf.float32)], autograph=False)
    def dense(x: Any) -> Any:
        return tf.matmul(x, w) + b

    converter = tf.lite.TFLiteConverter.from_concrete_functions([dense.get_concrete_function()], dense)
    return bytes(converter.convert())


def build_pte(w: np.ndarray, b: np.ndarray) -> bytes:
    """torch.nn.Linear exported and lowered to XNNPACK."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("executorch.exir")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    linear = torch.nn.Linear(IN_FEATURES, OUT_FEATURES)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(w.T.copy()))
        linear.bias.copy_(torch.from_numpy(b))
    exported = torch.export.export(linear.eval(), (torch.zeros(1, IN_FEATURES),))
    lowered = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    return bytes(lowered.to_executorch().buffer)


BUILDERS = {"onnxruntime": build_onnx, "litert": build_tflite, "executorch": build_pte}


def decode_npy(b64: str) -> np.ndarray:
    """Inverse of the worker's base64 ``np.save`` encoding."""
    import base64
    import io

    return np.load(io.BytesIO(base64.b64decode(b64)), allow_pickle=False)
