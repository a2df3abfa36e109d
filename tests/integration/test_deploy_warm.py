"""A repeated deploy with every artifact cached is quick (issue 11): the host takes the source
frameworks' reference outputs from its cache (``testbed_zoo.reference_cache``) and imports neither
torch nor TensorFlow, and the agent was asked to start the runtimes' fork servers right after the
host connected (``POST /v1/workers/prestart``). Real command, real agent, real runtimes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.cli import run_json

pytestmark = pytest.mark.integration

# One variant from each source framework: both references (torch and Keras) are needed.
TWO = ("deploy", "--device", "local", "--model", "digits_cnn", "--formats", "onnx,tflite", "--quant", "fp32",
       "--preset", "quick", "--json")

# The console script's entry point in this process; at exit, the heavy modules it imported.
PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nHEAVY " + json.dumps(sorted(
    m for m in ("torch", "tensorflow", "keras", "executorch") if m in sys.modules)) + "\\n"))
sys.argv = ["testbed", *sys.argv[1:]]
from testbed.cli import main
main()
"""


def _deploy_probed() -> tuple[list[dict], list[str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *TWO], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    heavy = next(line for line in proc.stderr.splitlines() if line.startswith("HEAVY "))
    return json.loads(proc.stdout), json.loads(heavy[len("HEAVY "):])


def test_second_deploy_imports_no_framework_on_the_host() -> None:
    first = run_json(*TWO[:-1])  # converts (or finds) the artifacts, computes (or finds) the references
    assert {r["status"] for r in first} == {"ok"}, [(r["converter"], r.get("error")) for r in first]
    records, heavy = _deploy_probed()
    assert heavy == [], f"a deploy with every artifact and reference cached imported {heavy} on the host"
    assert {r["status"] for r in records} == {"ok"}
    assert {r["converter"] for r in records} == {r["converter"] for r in first}
    for rec in records:  # parity against the cached references, as good as against computed ones
        assert rec["parity"]["max_abs_err"] < 1e-3 and rec["parity"]["top1_agreement"] == 1.0, (rec["converter"], rec["parity"])
