"""Adding a runtime is one new module: a throwaway runtime and its converter, each one module in a
throwaway distribution whose entry points (``testbed.runtimes``, ``testbed.converters``) name
them, put on ``PYTHONPATH`` and nothing else changed; the real `testbed deploy` finds them, the
profile accepts the new runtime, the agent (a real process, and its worker) runs the variant.

And the framework baselines, on this machine, through the same command."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from helpers.cli import run, run_json

pytestmark = pytest.mark.integration

FAST = ("--preset", "quick", "--json")

# The runtime: ONNX Runtime under another name, running artifacts of a format of its own.
RUNTIME = '''
from testbed_agent.runtimes import register
from testbed_agent.runtimes.onnxruntime_rt import OnnxRuntime


@register
class Throwaway(OnnxRuntime):
    name = "throwaway"
    formats = ("throwaway",)
    Settings = None
    fallbacks = ()
'''

# The converter: the ONNX exporter's file, labelled as the new format for the new runtime.
CONVERTER = '''
from testbed.converters import register
from testbed.converters.onnx_torch import OnnxTorchFp32


@register
class ThrowawayConverter(OnnxTorchFp32):
    name = "throwaway-torch-fp32"
    format = "throwaway"
    runtime = "throwaway"
    extension = ".throwaway"
'''


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The throwaway distribution on PYTHONPATH and a profile that measures only its runtime."""
    site = tmp_path_factory.mktemp("site")
    (site / "throwaway_runtime.py").write_text(textwrap.dedent(RUNTIME))
    (site / "throwaway_converter.py").write_text(textwrap.dedent(CONVERTER))
    info = site / "throwaway_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[testbed.runtimes]\nthrowaway = throwaway_runtime\n\n"
                                           "[testbed.converters]\nthrowaway = throwaway_converter\n")
    profile = site / "plugtest.yaml"
    profile.write_text("id: plugtest\ntransport: local\nruntimes: [throwaway]\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "profile": str(profile)}


def test_a_runtime_added_by_one_module_deploys_a_variant(plugin: dict[str, str]) -> None:
    proc = run("deploy", "--device", plugin["profile"], "--model", "digits_cnn", *FAST,
               env={"PYTHONPATH": plugin["PYTHONPATH"]})
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)
    assert [(r["converter"], r["runtime"], r["status"]) for r in rows] == [
        ("throwaway-torch-fp32", "throwaway", "ok")], rows
    row = rows[0]
    assert row["latency_ms"]["n"] >= 20 and row["accuracy"] >= 0.9
    assert row["parity"]["max_abs_err"] < 1e-3 and row["parity"]["top1_agreement"] >= 0.99


def test_without_the_plugin_the_runtime_is_one_line(plugin: dict[str, str]) -> None:
    proc = run("deploy", "--device", plugin["profile"], "--model", "digits_cnn", *FAST)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "unknown runtime 'throwaway'; known: executorch" in proc.stderr and "Traceback" not in proc.stderr


def test_framework_baselines_are_measured_beside_the_edge_runtimes() -> None:
    """`pytorch` (torch.export .pt2, run by torch) and `tensorflow` (a SavedModel, run by
    TensorFlow) on --device local, checked against their source framework like every variant."""
    rows = run_json("deploy", "--device", "local", "--model", "digits_cnn", "--formats",
                    "pytorch,tensorflow,onnx", "--quant", "fp32", "--preset", "quick")
    by_runtime = {r["runtime"]: r for r in rows if r["status"] == "ok"}
    assert {"pytorch", "tensorflow", "onnxruntime"} <= set(by_runtime), rows
    for name, source in (("pytorch", "pytorch"), ("tensorflow", "keras")):
        row = by_runtime[name]
        assert row["source"] == source and row["format"] == name
        assert row["latency_ms"]["n"] >= 20 and row["load_ms"] > 0 and row["size_bytes"] > 1000
        assert row["accuracy"] >= 0.9
        assert row["parity"]["max_abs_err"] < 1e-3 and row["parity"]["top1_agreement"] >= 0.99
        assert row["runtime_version"]
