"""The source frameworks' reference outputs are cached on disk (testbed_zoo.reference_cache): the
second process that asks for them imports neither torch nor TensorFlow, and the key changes with
everything the outputs depend on (model source, framework and its version, the inputs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from testbed_zoo import reference_cache
from testbed_zoo.paths import cache_dir

SCRIPT = """
import json, sys
import testbed_zoo
m = testbed_zoo.load("digits_cnn")
x = m.parity_inputs(8)
outs = {fw: m.reference(fw, x).tolist() for fw in ("pytorch", "keras")}
heavy = sorted(k for k in ("torch", "tensorflow", "keras") if k in sys.modules)
print(json.dumps({"sources": m.reference_sources, "heavy": heavy, "outs": outs}))
"""


def _references(**env: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.framework
def test_second_process_reads_the_references_and_imports_no_framework() -> None:
    shutil.rmtree(cache_dir("references"), ignore_errors=True)
    first = _references()
    assert first["sources"] == {"pytorch": "computed", "keras": "computed"}
    assert "torch" in first["heavy"] and "tensorflow" in first["heavy"]
    again = _references()
    assert again["sources"] == {"pytorch": "cached", "keras": "cached"}
    assert again["heavy"] == []
    assert again["outs"] == first["outs"]  # the very numbers computed, read back
    off = _references(TESTBED_REFERENCE_CACHE="0")
    assert off["sources"] == {"pytorch": "computed", "keras": "computed"}
    np.testing.assert_allclose(off["outs"]["pytorch"], first["outs"]["pytorch"], rtol=0, atol=1e-5)


def test_the_key_holds_model_source_framework_version_and_inputs() -> None:
    x = np.zeros((2, 1, 8, 8), np.float32)
    mask = np.ones((2, 8), np.int64)
    base = reference_cache.path_for("m", "a" * 64, "pytorch", {"input": x})
    assert base == reference_cache.path_for("m", "a" * 64, "pytorch", {"input": x.copy()})
    others = {
        reference_cache.path_for("m", "b" * 64, "pytorch", {"input": x}),  # another source (weights)
        reference_cache.path_for("m", "a" * 64, "keras", {"input": x}),  # another framework
        reference_cache.path_for("m", "a" * 64, "pytorch", {"input": x + 1}),  # other inputs
        reference_cache.path_for("m", "a" * 64, "pytorch", {"input": x[:1]}),  # fewer of them
        reference_cache.path_for("m", "a" * 64, "pytorch", {"input": x.astype(np.float64)}),  # another dtype
        reference_cache.path_for("m", "a" * 64, "pytorch", {"pixels": x}),  # another input name
        reference_cache.path_for("m", "a" * 64, "pytorch", {"input": x, "mask": mask}),  # one more input
    }
    assert base not in others and len(others) == 7
    assert reference_cache.framework_versions("pytorch").startswith("torch=")


def test_an_unreadable_cache_file_reads_as_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert reference_cache.load(bad) is None
    good = tmp_path / "good.npz"
    reference_cache.save(good, [np.ones((3, 10), np.float32), np.zeros((3, 4, 2), np.float64)])
    loaded = reference_cache.load(good)
    assert loaded is not None and [(o.dtype, o.shape) for o in loaded] == [(np.float32, (3, 10)), (np.float32, (3, 4, 2))]
