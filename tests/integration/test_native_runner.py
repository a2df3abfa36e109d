"""The native ExecuTorch runner (`executorch-native`): built with g++ against the executorch
wheel's own headers and libraries, run by a real agent - including from a venv with NO torch.

The torch-free venv is made from this machine's installed distributions (no network here): a clean
``python -m venv`` (no system site-packages), then the files of numpy, flask and its dependencies,
waitress, psutil and executorch (its ``Requires-Dist`` is ignored: no torch, like
``pip install --no-deps``) are hard-linked in from the main venv by their RECORD, and this project
is ``pip install --no-deps -e``'d. It is cached under the temp dir, keyed by those versions.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent_fixtures import TOKEN, Agent, decode_npy, launch_agent, stop_agent
from testbed_agent.native import build
from testbed_agent.schema import SCHEMA_VERSION, RunResult

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
#: What the agent needs on a board (pyproject's base dependencies, resolved) plus executorch.
AGENT_DISTS = ("numpy", "flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click",
               "blinker", "waitress", "psutil", "executorch")
#: To `pip install -e` this project offline (the venv's bundled setuptools is too old for it).
BUILD_DISTS = ("setuptools", "wheel", "packaging")


@pytest.fixture(scope="module")
def runner_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build.build(tmp_path_factory.mktemp("native-cache"))
    except build.BuildError as exc:
        pytest.fail(f"the native runner cannot be built here: {exc} (scripts/install-system-deps.sh installs g++)",
                    pytrace=False)


# --- build: cached, and a clear reason when it cannot be built ------------------------------------

def test_build_is_cached_per_wheel_and_source(runner_binary: Path) -> None:
    again = build.build(runner_binary.parent.parent)
    assert again == runner_binary and os.access(again, os.X_OK)
    recorded = json.loads((runner_binary.parent / "build.json").read_text())
    assert recorded["version"] == importlib.metadata.version("executorch")
    assert any(arg.startswith("-Wl,-rpath,") for arg in recorded["command"])


def test_missing_compiler_is_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "no-such-g++")
    with pytest.raises(build.BuildError, match="no C\\+\\+ compiler: no-such-g\\+\\+ is not on PATH"):
        build.check()
    from testbed_agent.runtimes import get

    probe = get("executorch-native").probe()
    assert probe.available is False and "no C++ compiler" in (probe.reason or "")


def test_wheel_without_headers_is_a_clear_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "site" / "executorch"
    (fake / "lib").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [m for m in sys.modules if m == "executorch" or m.startswith("executorch.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(build.BuildError, match="ships no C\\+\\+ headers"):
        build.find_wheel()
    for header in build.HEADERS:
        (fake / "include" / header).parent.mkdir(parents=True, exist_ok=True)
        (fake / "include" / header).write_text("")
    (fake / "include" / build.C10_INCLUDE).mkdir(parents=True, exist_ok=True)
    with pytest.raises(build.BuildError, match="ships no C\\+\\+ runtime libraries.*libexecutorch.so"):
        build.find_wheel()


def test_compile_error_names_the_first_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cpp"
    bad.write_text("int main() { return undefined_thing; }\n")
    with pytest.raises(build.BuildError, match="undefined_thing"):
        build.build(tmp_path / "cache", source=bad, name="bad")


# --- the runner itself against the Python runtime ------------------------------------------------

def test_runner_matches_the_python_runtime(runner_binary: Path, dense_model: Any,
                                           dense_inputs: tuple[bytes, np.ndarray, np.ndarray],
                                           dense_weights: tuple[np.ndarray, np.ndarray],
                                           tmp_path: Path) -> None:
    from testbed_agent.native import runner

    pte = tmp_path / "dense.pte"
    pte.write_bytes(dense_model("executorch"))
    _, timing, evals = dense_inputs
    got = runner.run(runner_binary, str(pte), timing, warmup=2, iterations=7, evals=evals)
    assert got.info["runner"] == "et_runner" and len(got.info["samples_ns"]) == 7
    assert all(s > 0 for s in got.info["samples_ns"]) and got.info["load_ns"] > 0
    assert got.info["outputs"] == [{"shape": [1, 5], "dtype": "float32"}]
    w, b = dense_weights
    np.testing.assert_allclose(got.outputs[0], timing @ w + b, rtol=1e-5, atol=1e-5)
    assert got.eval_outputs is not None and got.eval_outputs.shape == (len(evals), 5)

    import torch
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(pte)).load_method("forward")
    python = np.stack([method.execute([torch.from_numpy(evals[i:i + 1].copy())])[0].numpy().reshape(-1)
                       for i in range(len(evals))])
    # Same portable kernels in another binary and process: only float32 rounding may differ (a few ulp).
    np.testing.assert_allclose(got.eval_outputs, python, rtol=1e-6, atol=1e-6)


def test_runner_reports_its_own_errors(runner_binary: Path, tmp_path: Path) -> None:
    from testbed_agent.native import runner

    junk = tmp_path / "junk.pte"
    junk.write_bytes(b"not a program" * 10)
    with pytest.raises(runner.RunnerError, match="loading the forward method .* failed"):
        runner.run(runner_binary, str(junk), np.zeros((1, 8), np.float32))


# --- several inputs of mixed dtypes (issue 13) ------------------------------------------------------

@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """(.pte, eager module) of forward(x: float32 [1, 4], ids: int64 [1, 3]) -> (float32 [1, 1],
    int64 [1]): the float part lowered to XNNPACK, the int64 part on the portable kernels."""
    torch = pytest.importorskip("torch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    class Mixed(torch.nn.Module):
        def forward(self, x: Any, ids: Any) -> tuple[Any, Any]:
            return (x * 2).sum(-1, keepdim=True) + ids.float().sum(-1, keepdim=True), ids.sum(-1)

    module = Mixed().eval()
    example = (torch.zeros(1, 4), torch.zeros(1, 3, dtype=torch.int64))
    lowered = to_edge_transform_and_lower(torch.export.export(module, example),
                                          partitioner=[XnnpackPartitioner()])
    pte = tmp_path_factory.mktemp("mixed") / "mixed.pte"
    pte.write_bytes(bytes(lowered.to_executorch().buffer))
    return pte, module


def test_runner_feeds_several_inputs_of_mixed_dtypes(runner_binary: Path, mixed_model: tuple[Path, Any]) -> None:
    import torch

    from testbed_agent.native import runner

    pte, module = mixed_model
    rng = np.random.default_rng(13)
    x = rng.standard_normal((1, 4)).astype(np.float32)
    ids = rng.integers(0, 1000, (1, 3)).astype(np.int64)
    eval_x = rng.standard_normal((5, 1, 4)).astype(np.float32)  # N samples of [1, 4] ...
    eval_ids = rng.integers(0, 1000, (5, 3)).astype(np.int64)  # ... or of [3]: one sample = one input
    got = runner.run(runner_binary, str(pte), [x, ids], warmup=1, iterations=3, evals=[eval_x, eval_ids])
    assert got.info["inputs"] == [{"shape": [1, 4], "dtype": "float32"}, {"shape": [1, 3], "dtype": "int64"}]
    assert got.info["input_shape"] == [1, 4] and got.info["input_dtype"] == "float32"  # input 0, as before
    # the int64 output comes back converted to float32; the JSON keeps its own dtype
    assert got.info["outputs"] == [{"shape": [1, 1], "dtype": "float32"}, {"shape": [1], "dtype": "int64"}]
    with torch.no_grad():
        total, id_sum = module(torch.from_numpy(x), torch.from_numpy(ids))
        eager = np.concatenate([module(torch.from_numpy(eval_x[k]), torch.from_numpy(eval_ids[k:k + 1]))[0]
                                .numpy().reshape(-1) for k in range(5)])
    np.testing.assert_allclose(got.outputs[0], total.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got.outputs[1], id_sum.numpy().astype(np.float32), rtol=0, atol=0.5)
    assert got.eval_outputs is not None and got.eval_outputs.shape == (5, 1)
    np.testing.assert_allclose(got.eval_outputs.reshape(-1), eager, rtol=1e-5, atol=1e-4)


def test_runner_names_a_wrong_input_count_or_dtype(runner_binary: Path, mixed_model: tuple[Path, Any]) -> None:
    from testbed_agent.native import runner

    pte, _ = mixed_model
    x, ids = np.zeros((1, 4), np.float32), np.zeros((1, 3), np.int64)
    with pytest.raises(runner.RunnerError, match="the model takes 2 inputs, 1 given"):
        runner.run(runner_binary, str(pte), x)
    with pytest.raises(runner.RunnerError, match="input 1 is int64 in the model, int32 given"):
        runner.run(runner_binary, str(pte), [x, ids.astype(np.int32)])
    with pytest.raises(runner.RunnerError, match="different sample counts: \\[2, 3\\]"):
        runner.run(runner_binary, str(pte), [x, ids], evals=[np.zeros((2, 4), np.float32),
                                                             np.zeros((3, 3), np.int64)])
    with pytest.raises(runner.RunnerError, match="1 eval arrays given for 2 inputs"):
        runner.run(runner_binary, str(pte), [x, ids], evals=np.zeros((2, 4), np.float32))


def test_runner_feeds_a_scalar_a_bool_and_a_float16_input(runner_binary: Path, tmp_path: Path) -> None:
    """Rank 0 (its shape from the method's meta), bool and float16 inputs; a bool output comes back
    as 0/1 float32. Portable kernels only (no delegate)."""
    torch = pytest.importorskip("torch")
    from executorch.exir import to_edge

    from testbed_agent.native import runner

    class Scaled(torch.nn.Module):
        def forward(self, s: Any, mask: Any, h: Any) -> tuple[Any, Any]:
            return s * mask.float() + h.float(), mask

    example = (torch.tensor(2.0), torch.zeros(3, dtype=torch.bool), torch.zeros(3, dtype=torch.float16))
    pte = tmp_path / "scaled.pte"
    pte.write_bytes(bytes(to_edge(torch.export.export(Scaled().eval(), example)).to_executorch().buffer))
    xs = [np.array(3.0, np.float32), np.array([True, False, True]), np.array([1, 2, 3], np.float16)]
    evals = [np.array([1.0, 2.0], np.float32), np.array([[1, 1, 0], [0, 1, 1]], bool), np.ones((2, 3), np.float16)]
    got = runner.run(runner_binary, str(pte), xs, evals=evals)
    assert got.info["inputs"] == [{"shape": [], "dtype": "float32"}, {"shape": [3], "dtype": "bool"},
                                  {"shape": [3], "dtype": "float16"}]
    assert got.info["outputs"] == [{"shape": [3], "dtype": "float32"}, {"shape": [3], "dtype": "bool"}]
    np.testing.assert_allclose(got.outputs[0], [4.0, 2.0, 6.0], rtol=1e-6)
    np.testing.assert_array_equal(got.outputs[1], [1.0, 0.0, 1.0])  # 0/1 exactly: converted bools
    assert got.eval_outputs is not None
    np.testing.assert_allclose(got.eval_outputs, np.array([[2.0, 2.0, 1.0], [1.0, 3.0, 3.0]]), rtol=1e-6)


# --- through a real agent ------------------------------------------------------------------------

def _run_both(agent: Agent, dense_model: Any, dense_inputs: tuple[bytes, np.ndarray, np.ndarray],
              runtimes: tuple[str, ...], **extra: Any) -> dict[str, dict[str, Any]]:
    pte = agent.upload(dense_model("executorch"))
    inputs = agent.upload(dense_inputs[0])
    return {rt: agent.run(artifact_sha256=pte, inputs_sha256=inputs, runtime=rt, warmup=2,
                          iterations=10, schema=SCHEMA_VERSION, **extra) for rt in runtimes}


def test_agent_runs_a_pte_natively_and_matches_python(agent: Agent, dense_model: Any,
                                                      dense_inputs: tuple[bytes, np.ndarray, np.ndarray]) -> None:
    info = agent.call("GET", "/v1/info").json()
    assert info["runtimes"]["executorch-native"]["available"], info["runtimes"]["executorch-native"]
    runs = _run_both(agent, dense_model, dense_inputs, ("executorch", "executorch-native"))
    python, native = runs["executorch"], runs["executorch-native"]
    assert python["state"] == "done" and native["state"] == "done", (python.get("error"), native.get("error"))
    assert python["result"]["runner"] == "python" and native["result"]["runner"] == "native"
    res = native["result"]
    # the contract: the native runner's result has the Python runtimes' typed shape
    assert list(res) == list(python["result"]) == ["schema", *RunResult.FIELDS]
    typed, from_python = RunResult.from_wire(res), RunResult.from_wire(python["result"])
    assert typed.output_tensors == from_python.output_tensors and typed.run_id == native["id"]
    assert len(res["samples_ns"]) == 10 and res["load_ms"] > 0 and res["peak_rss_bytes"] > 0
    assert res["settings"]["binary"].startswith(str(agent.store / "native"))  # cached in the store
    assert res["measurement"]["stop_reason"] == "minimums_met"
    # two programs running the same kernels: equal up to float32 rounding (a few ulp), not bit for bit
    np.testing.assert_allclose(decode_npy(res["outputs_npy_b64"]),
                               decode_npy(python["result"]["outputs_npy_b64"]), rtol=1e-6, atol=1e-6)


# --- the acceptance test: a board without torch ------------------------------------------------------

def _dist_files(name: str) -> tuple[Any, list[Any]]:
    dist = importlib.metadata.distribution(name)
    return dist, [f for f in (dist.files or []) if ".." not in Path(str(f)).parts]


def _venv_key() -> str:
    # the venv installs this checkout in editable mode: another checkout (or a deleted one) needs its own
    parts = [sys.version, str(REPO), (REPO / "pyproject.toml").read_text()]
    parts += [f"{n}=={importlib.metadata.version(n)}" for n in AGENT_DISTS + BUILD_DISTS]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _link_dist(name: str, site: Path) -> None:
    dist, files = _dist_files(name)
    for rel in files:
        src = Path(str(dist.locate_file(rel)))
        dst = site / str(rel)
        if not src.is_file() or dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)


def torch_free_venv() -> Path:
    """A venv with the agent's dependencies and executorch but no torch (built once, cached)."""
    root = Path(tempfile.gettempdir()) / f"testbed-torchfree-venv-{_venv_key()}"
    python = root / "bin" / "python"
    if (root / ".complete").exists():
        return python
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(tmp)], check=True)
    site = Path(subprocess.run([str(tmp / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for name in AGENT_DISTS + BUILD_DISTS + ("pip",):
        _link_dist(name, site)
    subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "-e", str(REPO)], check=True, capture_output=True)
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(root)
    except OSError:  # another session built it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return python


def _start_agent(python: Path, store: Path) -> Iterator[Agent]:
    store.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(TESTBED_AGENT_TOKEN=TOKEN, PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}")
    err = store.parent / "agent.err"
    agent = launch_agent([str(python), "-m", "testbed_agent", "serve", "--host", "127.0.0.1",
                          "--port", "0", "--store", str(store), "--run-timeout-s", "300"],
                         store, env=env, stderr_path=err, ready_timeout_s=60, what="the torch-free agent")
    try:
        yield agent
    finally:
        stop_agent(agent)


def test_a_board_without_torch_runs_the_pte_natively(tmp_path: Path, agent: Agent, dense_model: Any,
                                                     dense_inputs: tuple[bytes, np.ndarray, np.ndarray],
                                                     dense_weights: tuple[np.ndarray, np.ndarray]) -> None:
    """Acceptance: an agent from a venv WITHOUT torch runs a .pte made in the main venv through the
    native runner, and its outputs are the Python runtime's (measured by the main agent)."""
    if not shutil.which("g++"):
        pytest.fail("no g++ (Debian package g++): run `bash scripts/install-system-deps.sh`", pytrace=False)
    python = torch_free_venv()
    no_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    has_et = subprocess.run([str(python), "-c", "import importlib.util as u; "
                             "print(u.find_spec('executorch').submodule_search_locations[0])"],
                            capture_output=True, text=True, check=True)
    assert has_et.stdout.strip().startswith(str(python.parent.parent))  # the venv's own copy

    for board in _start_agent(python, tmp_path / "board-store"):
        runtimes = board.call("GET", "/v1/info").json()["runtimes"]
        assert runtimes["executorch"]["available"] is False
        assert "needs torch" in runtimes["executorch"]["reason"]
        assert runtimes["executorch-native"]["available"] is True, runtimes["executorch-native"]
        native = _run_both(board, dense_model, dense_inputs, ("executorch-native",),
                           profile_ops=True)["executorch-native"]
        assert native["state"] == "done", native.get("error")
        res = native["result"]
        assert res["runner"] == "native" and res["runtime"] == "executorch-native"
        assert res["settings"]["binary"].startswith(str(board.store))
        python_run = _run_both(agent, dense_model, dense_inputs, ("executorch",))["executorch"]
        assert python_run["state"] == "done", python_run.get("error")
        # two programs on two agents running the same kernels: equal up to float32 rounding (a few ulp)
        np.testing.assert_allclose(decode_npy(res["outputs_npy_b64"]),
                                   decode_npy(python_run["result"]["outputs_npy_b64"]), rtol=1e-6, atol=1e-6)
        w, b = dense_weights
        np.testing.assert_allclose(decode_npy(res["outputs_npy_b64"]), dense_inputs[2] @ w + b,
                                   rtol=1e-5, atol=1e-5)
        # the per-op profile was taken on the board and parses on the host
        assert res["ops"]["available"] and res["ops"]["runner"] == "native"
        from testbed import opsreport

        table = opsreport.normalize(res["ops"])
        assert table is not None and table["available"] and table["e2e_ms"] > 0 and table["ops"]



def test_deploy_sends_executorch_artifacts_to_the_native_runner_only_without_torch() -> None:
    from testbed.deploy import board_runtime

    both = {"runtimes": {"executorch": {"available": True}, "executorch-native": {"available": True}}}
    no_torch = {"runtimes": {"executorch": {"available": False}, "executorch-native": {"available": True}}}
    neither = {"runtimes": {"executorch": {"available": False}, "executorch-native": {"available": False}}}
    assert board_runtime("executorch", both) == "executorch"
    assert board_runtime("executorch", no_torch) == "executorch-native"
    assert board_runtime("executorch", neither) == "executorch"  # its own reason is reported
    assert board_runtime("onnxruntime", no_torch) == "onnxruntime"
