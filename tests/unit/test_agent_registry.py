"""The runtimes registry and the cheap availability probes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testbed_agent.runtimes import Probe, Runtime, Session, all_runtimes, get, names, register
from testbed_agent.runtimes.base import probe_package


def test_runtimes_registered() -> None:
    """The edge runtimes and the two framework baselines, each a plug-in with its facts."""
    assert names() == ["executorch", "executorch-native", "litert", "onnxruntime", "pytorch", "tensorflow"]
    assert get("litert").name == "litert"
    with pytest.raises(KeyError, match="unknown runtime 'tvm'; known: executorch, executorch-native, litert"):
        get("tvm")
    assert get("executorch").fallbacks == ("executorch-native",)
    assert get("executorch-native").settings_from == "executorch"
    assert {name: rt.formats for name, rt in all_runtimes().items()} == {
        "executorch": ("executorch",), "executorch-native": ("executorch",), "litert": ("tflite",),
        "onnxruntime": ("onnx",), "pytorch": ("pytorch",), "tensorflow": ("tensorflow",)}


def test_duplicate_name_is_refused() -> None:
    class Again(Runtime):
        name = "onnxruntime"

        def probe(self) -> Probe:
            return Probe(True, "0", None)

        def prepare(self) -> None: ...

        def load(self, path: str, threads: int | None) -> Session:
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        register(Again)
    assert type(get("onnxruntime")).__name__ == "OnnxRuntime"


def test_probe_of_missing_package() -> None:
    probe = probe_package("no_such_module_xyz", "no-such-dist", "pip install it")
    assert probe == Probe(False, None, "python module no_such_module_xyz is not installed; pip install it")
    assert probe.to_json() == {"available": False, "version": None, "reason": probe.reason}


@pytest.mark.framework
def test_probes_import_no_runtime() -> None:
    code = ("import sys; from testbed_agent.info import runtime_probes; p = runtime_probes();"
            "heavy = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'ai_edge_litert', "
            "'executorch.runtime') if m in sys.modules];"
            "print(sorted(k for k, v in p.items() if v.available), heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # executorch-native is available here: g++ and the executorch wheel's headers and libs exist
    assert out.stdout.strip() == ("['executorch', 'executorch-native', 'litert', 'onnxruntime', 'pytorch', "
                                  "'tensorflow'] []")
