"""The Python API end to end (issue 15): issue 15's acceptance command in a fresh interpreter - a real deploy
on this machine through ``testbed.deploy``, its frame printed - then the same run read back with
``testbed.results`` and listed by ``testbed.runs``, and the CLI's `testbed runs` listing it too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import testbed
from helpers.cli import run
from testbed.run_results import COLUMNS

pytestmark = [pytest.mark.integration, pytest.mark.framework]

# The acceptance command restricted to be quick: ONNX from PyTorch only (fp32, int8-dynamic, int8-static; no
# TensorFlow import, the slowest conversion here), the quick preset.
COMMAND = ("import testbed; r = testbed.deploy(model='digits_cnn', device='local', formats=['onnx'], "
           "sources=['pytorch'], preset='quick'); print(r.to_pandas()); print('run', r.run_id)")
VARIANTS = ("onnx-torch-fp32", "onnx-torch-int8-dynamic", "onnx-torch-int8-static")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api_home")


@pytest.fixture(scope="module")
def deployed(home: Path, tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess:
    env = {**os.environ, "TESTBED_HOME": str(home), "TESTBED_LOCAL_LOCK": str(home / "measure.lock")}
    env.pop("TESTBED_DB", None)
    return subprocess.run([sys.executable, "-c", COMMAND], capture_output=True, text=True, timeout=900, env=env,
                          cwd=tmp_path_factory.mktemp("cwd"))


def test_the_acceptance_command_prints_every_variant_with_its_figures(deployed: subprocess.CompletedProcess) -> None:
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    lines = deployed.stdout.splitlines()
    # stdout holds the frame and nothing else: the tools' chatter went to their log, progress to stderr
    assert re.match(r"\s+variant\s+p50_ms\s+ci_pct\b", lines[0]), deployed.stdout
    assert lines[-2] == f"[{len(VARIANTS)} rows x {len(COLUMNS)} columns]"
    for variant in VARIANTS:
        row = next(line for line in lines if re.search(rf"\s{variant}\s", line))
        p50, ci = (float(x) for x in row.split()[2:4])
        assert 0 < p50 < 50 and 0 < ci < 100, row
        assert row.split()[-2:] == ["onnxruntime", "ok"], row
    assert "[local] done local/digits_cnn/onnx-torch-fp32" in deployed.stderr


def test_the_run_reads_back_the_same_from_the_api_and_the_cli(deployed: subprocess.CompletedProcess, home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = deployed.stdout.splitlines()[-1].removeprefix("run ")
    db = f"sqlite:///{home / 'results.db'}"
    r = testbed.results(run_id, db=db)
    assert (r.kind, r.status, r.device, r.model, r.unfinished) == ("deploy", "done", "local", "digits_cnn", 0)
    assert sorted(v.variant for v in r.rows) == sorted(VARIANTS)
    for v in r.rows:
        assert v.status == "ok" and v.samples_ms().size == v.n_samples >= 20, v
        assert v.p50_ms == pytest.approx(float(np.median(v.samples_ms())), rel=0.01, abs=1e-3), v
        assert v.size_bytes and v.size_bytes > 1000 and v.accuracy and v.accuracy >= 0.9
        assert v.agreement_metric == "top1_agreement" and v.agreement is not None and v.agreement >= 0.99
    frame = r.to_pandas()
    assert frame.set_index("variant").loc["onnx-torch-fp32", "p50_ms"] == r.variant("onnx-torch-fp32").p50_ms
    assert testbed.runs(db=db)[0].run_id == run_id
    monkeypatch.setenv("TESTBED_HOME", str(home))
    listed = run("runs", "--db", db)
    assert listed.returncode == 0 and run_id in listed.stdout
