"""testbed_agent.peak: the peak benchmark really compiled with this machine's g++ and run here, its
cache per CPU setting, and the one-line reason when there is no compiler."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from testbed_agent import peak

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("peak-cache")


def test_measured_here_then_cached(cache: Path) -> None:
    first = peak.measure(threads=1, cache=cache)
    assert first["available"] is True and first["cached"] is False, first
    assert 0.5 < first["fp32_gflops"] < 5000  # one core: ~1-10 GFLOP/s (small arm) to a few hundred (AVX-512)
    assert 0.1 < first["bandwidth_gb_per_s"] < 1000
    assert (first["int8_gops"] is None) == bool(first["int8_reason"])  # a figure, or why there is none
    assert first["int8_gops"] is None or first["int8_gops"] > first["fp32_gflops"]
    assert "-O3" in first["method"] and "best of 10" in first["method"] and first["measured_at"]
    assert isinstance(first["contended"], bool) and set(first["clean_repeats"]) >= {"fp32", "bandwidth"}
    assert first["contended"] == (0 in first["clean_repeats"].values())  # no repetition had the CPUs
    assert first["setting"]["threads"] == 1 and first["setting"]["compiler"].startswith(("g++", "c++", "clang"))
    start = time.perf_counter()
    second = peak.measure(threads=1, cache=cache)
    assert time.perf_counter() - start < 1.0
    assert second["cached"] is True and second["fp32_gflops"] == first["fp32_gflops"]
    assert second["measured_at"] == first["measured_at"]


def test_another_thread_count_is_another_entry(cache: Path) -> None:
    one = peak.measure(threads=1, cache=cache)
    two = peak.measure(threads=2, cache=cache)
    assert two["cached"] is False and two["threads"] == 2 and two["setting"] != one["setting"]
    assert len(list(cache.glob("peak-*.json"))) == 2
    assert len(list(cache.glob("peak_bench-*/peak_bench"))) == 1  # one binary for both


def test_the_request_asks_for_it(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(peak.CACHE_ENV, str(cache))
    assert peak.for_request({"peak": None}) is None and peak.for_request({}) is None
    assert peak.for_request({"peak": True, "threads": 1})["cached"] is True


def test_no_compiler_is_the_reason(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "no-such-compiler")
    result = peak.measure(threads=1, cache=cache)
    assert result == {"available": False, "reason": "no C++ compiler: no-such-compiler is not on PATH (install "
                                                    "g++, e.g. apt install g++, or set CXX)"}
