"""`deploy --repeats`: the interval from the medians of fresh workers (``stats.repeats_latency``), the one
row per variant (``deploy.repeats_row``) and the option's checks. The figure that says whether it covers a
rerun is the bench's (bench/coverage.py --repeats), not a unit test's."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from testbed.deploy import repeats_row
from testbed.deploy_options import deploy_options
from testbed.errors import ConfigError
from testbed.stats import latency_summary, repeats_latency
from testbed_agent.rerun_interval import METHOD_WORKERS, t_quantile


def _runs(medians_ms: list[float], n: int = 200, seed: int = 3) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[int(v) for v in rng.normal(m, 0.01 * m, n) * 1e6] for m in medians_ms]


def test_the_interval_is_student_t_on_the_workers_medians_by_hand() -> None:
    runs = _runs([7.5, 10.8, 7.6, 10.6, 7.7])
    got = repeats_latency(runs)
    medians = np.array([np.median(r) for r in runs]) / 1e6
    pooled = np.concatenate([np.asarray(r, dtype=np.float64) for r in runs]) / 1e6
    half = t_quantile(0.975, 4) * medians.std(ddof=1) * math.sqrt(2 / 5)  # a rerun of 5 workers
    p50 = float(np.median(pooled))
    assert got["p50"] == pytest.approx(p50)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((p50 - half, p50 + half))
    assert got["ci_pct"] == pytest.approx(half / p50 * 100)
    assert got["ci_method"] == METHOD_WORKERS and got["ci_runs"] == 5 and got["ci_windows"] is None
    assert got["run_p50s"] == pytest.approx(list(medians))
    assert got["n"] == 1000  # the percentiles pool every worker's samples
    # Two speeds among the workers (what a single worker's windows never see): a wide interval.
    assert got["ci_pct"] > 20


def test_workers_that_agree_give_a_narrow_interval_and_one_worker_is_its_own_summary() -> None:
    steady = repeats_latency(_runs([8.0, 8.02, 7.99, 8.01, 8.0]))
    assert steady["ci_pct"] < 1.0
    [one] = _runs([8.0])
    assert repeats_latency([one]) == latency_summary(one)
    assert repeats_latency([one, []]) == latency_summary(one)  # a run without samples is not a worker


def _result(i: int, p50: float, verdict: str, samples: list[int]) -> SimpleNamespace:
    record = {"status": "ok", "converter": "onnx-torch-fp32", "load_ms": 10.0 + i,
              "latency_ms": {"p50": p50}, "trust": {"verdict": verdict, "reasons": [f"r{i}"]}}
    return SimpleNamespace(id=100 + i, record=record, samples_ns=samples)


def test_one_row_per_variant_with_the_pooled_latency_and_the_least_trustworthy_verdict() -> None:
    runs = _runs([7.5, 7.6, 10.8])
    results = [_result(i, float(np.median(r)) / 1e6, v, r)
               for i, (r, v) in enumerate(zip(runs, ["steady", "contended", "noisy"], strict=True))]
    row = repeats_row(results)
    assert row["latency_ms"] == repeats_latency(runs)
    assert row["trust"]["verdict"] == "contended"  # contended is less trustworthy than noisy
    assert row["load_ms"] == 10.0  # the first run's
    assert row["repeats"]["runs"] == 3 and row["repeats"]["result_ids"] == [100, 101, 102]
    assert row["repeats"]["p50_ms"] == [r.record["latency_ms"]["p50"] for r in results]
    assert results[0].record["latency_ms"] == {"p50": results[0].record["latency_ms"]["p50"]}  # not changed


def test_repeats_option() -> None:
    assert deploy_options().repeats == 1
    assert deploy_options(repeats=5).repeats == 5
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="repeats must be a whole number >= 1"):
            deploy_options(repeats=bad)  # type: ignore[arg-type]
