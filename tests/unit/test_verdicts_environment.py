"""Verdicts refuse to judge silently across environments (pyperf's rule): a different runtime or tool
version, runner, threads, governor, CPU affinity or memory limit makes a cell ``incomparable``, with
the reason naming what differs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from testbed import verdicts as v

MS = 1e6


def record(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"size_bytes": 40000, "peak_rss_mb": 60.0, "runtime_version": "1.17.0", "runner": "python",
                            "threads": 4, "tool_versions": {"torch": "2.5.0", "onnx": "1.17.0"},
                            "thermal": {"governor": "performance"},
                            "settings": {"cpu_affinity": [2, 3], "memory_limit_mb": None}}
    return base | kw


def cell(rec: dict[str, Any], median_ms: float = 1.0, seed: int = 0) -> v.CellData:
    rng = np.random.default_rng(seed)
    samples = np.exp(rng.normal(np.log(median_ms * MS), 0.05, 2000)).astype(np.int64).tolist()
    return v.CellData.from_results([SimpleNamespace(status="ok", samples_ns=samples, record=rec, error=None)])


def test_same_environment_is_judged() -> None:
    judged = v.cell_verdict(cell(record()), cell(record(), seed=1))
    assert judged["verdict"] == v.UNCHANGED and "differs" not in judged


def test_a_different_runtime_version_is_incomparable_and_says_so() -> None:
    judged = v.cell_verdict(cell(record()), cell(record(runtime_version="1.18.0"), median_ms=1.5, seed=1))
    assert judged["verdict"] == v.INCOMPARABLE
    assert judged["differs"] == ["runtime_version 1.17.0 -> 1.18.0"]
    assert judged["reason"].startswith("not comparable, measured differently: runtime_version 1.17.0 -> 1.18.0")
    assert judged["would_be"] == v.REGRESSED and judged["metrics"]["latency"]["verdict"] == v.REGRESSED
    assert judged["verdict"] not in v.COUNTS_AS_REGRESSION  # never a silent regression either


def test_tool_versions_governor_and_cpu_settings_are_named() -> None:
    changed = record(tool_versions={"torch": "2.6.0", "onnx": "1.17.0"}, thermal={"governor": "ondemand"},
                     settings={"cpu_affinity": [0, 1], "memory_limit_mb": 512}, threads=2)
    judged = v.cell_verdict(cell(record()), cell(changed, seed=1))
    assert judged["verdict"] == v.INCOMPARABLE
    assert set(judged["differs"]) == {"tool_versions.torch 2.5.0 -> 2.6.0", "governor performance -> ondemand",
                                      "cpu_affinity [2, 3] -> [0, 1]", "threads 4 -> 2"}
    # memory_limit_mb: unset in the baseline (None: not recorded), so not compared


def test_facts_one_side_does_not_record_are_not_compared() -> None:
    """An older record without a governor (no thermal record) is compared on what both hold."""
    older = record(thermal=None)
    assert v.cell_verdict(cell(older), cell(record(), seed=1))["verdict"] == v.UNCHANGED
