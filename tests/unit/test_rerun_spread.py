"""The board's run-to-run spread (``testbed.rerun_spread``): estimated from the store's reruns of the same
artifacts, pooled over variants on the log scale, and used as the interval where a rerun's median
lands when it is wider than the run's own."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from testbed import records, rerun_spread
from testbed.paths import repo_root
from testbed.stats import latency_summary
from testbed.store import Store
from testbed_agent.rerun_interval import t_quantile


def test_pooled_spread_by_hand() -> None:
    """Two variants of different speed pool on the log scale; a variant run once adds nothing."""
    a = [10.0, 11.0, 9.0]
    b = [100.0, 120.0]
    history = [("a", x) for x in a] + [("b", x) for x in b] + [("c", 5.0)]
    spread = rerun_spread.estimate("pi", "onnxruntime", history)
    la, lb = np.log(a), np.log(b)
    squares = ((la - la.mean()) ** 2).sum() + ((lb - lb.mean()) ** 2).sum()
    assert spread.df == 3 and spread.reruns == 5 and spread.variants == 2
    assert spread.reason is not None and "3 degrees of freedom, 4 needed" in spread.reason
    assert spread.sd_log is None and spread.half_width_log() is None  # below MIN_DF nothing is claimed

    history.append(("b", 110.0))
    spread = rerun_spread.estimate("pi", "onnxruntime", history)
    lb = np.log(b + [110.0])
    squares = ((la - la.mean()) ** 2).sum() + ((lb - lb.mean()) ** 2).sum()
    assert spread.df == 4 and spread.reason is None
    assert spread.sd_log == pytest.approx(math.sqrt(squares / 4))
    assert spread.half_width_log(0.95) == pytest.approx(t_quantile(0.975, 4) * math.sqrt(2) * spread.sd_log)
    assert spread.sd_pct == pytest.approx((math.exp(spread.sd_log) - 1) * 100)
    assert rerun_spread.BoardSpread.from_json(spread.to_json()) == spread


def _latency(median_ms: float, sd: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return latency_summary([int(s) for s in np.exp(rng.normal(math.log(median_ms * 1e6), sd, 400))])


def test_widen_replaces_a_narrower_interval_and_keeps_the_runs_own() -> None:
    latency = _latency(10.0, 0.01)
    own = (latency["ci_low"], latency["ci_high"], latency["ci_pct"], latency["ci_method"])
    spread = rerun_spread.estimate("pi", "litert", [("v", m) for m in (10.0, 12.0, 9.0, 11.0, 10.5, 8.5)])
    out = rerun_spread.widen(latency, spread)
    h = spread.half_width_log(0.95)
    assert h is not None
    assert out["ci_low"] == pytest.approx(latency["p50"] * math.exp(-h))
    assert out["ci_high"] == pytest.approx(latency["p50"] * math.exp(h))
    assert out["ci_pct"] == pytest.approx((math.exp(h) - 1) * 100) and out["ci_pct"] > own[2]
    assert out["ci_method"] == rerun_spread.METHOD
    assert (out["ci_run"]["low"], out["ci_run"]["high"], out["ci_run"]["pct"], out["ci_run"]["method"]) == own
    assert rerun_spread.own_ci_pct(out) == own[2]
    assert out["board_spread"]["df"] == 5 and out["board_spread"]["half_width_pct"] == pytest.approx(out["ci_pct"])
    assert latency["ci_pct"] == own[2] and "board_spread" not in latency  # the input is not changed


def test_widen_keeps_a_wider_own_interval_and_says_when_the_spread_is_unknown() -> None:
    noisy = _latency(10.0, 0.5)
    noisy = dict(noisy, ci_low=noisy["p50"] * 0.5, ci_high=noisy["p50"] * 2.0)  # wider than any board spread here
    spread = rerun_spread.estimate("pi", "litert", [("v", m) for m in (10.0, 10.1, 9.9, 10.05, 9.95)])
    out = rerun_spread.widen(noisy, spread)
    assert (out["ci_low"], out["ci_high"]) == (noisy["ci_low"], noisy["ci_high"]) and "ci_run" not in out
    assert out["board_spread"]["sd_log"] is not None

    unknown = rerun_spread.estimate("pi", "litert", [("v", 10.0)])
    out = rerun_spread.widen(_latency(10.0, 0.01), unknown)
    assert "ci_run" not in out and out["board_spread"]["sd_log"] is None
    assert "0 earlier reruns of 0 variants of litert on pi" in out["board_spread"]["reason"]
    assert rerun_spread.widen({"p50": None}, spread) == {"p50": None}  # nothing measured: nothing to widen


CELL = {"device": "pi", "model": "digits_cnn", "format": "onnx", "source": "pytorch", "quantization": "fp32",
        "runtime": "onnxruntime", "threads": 1, "repeats": 1}


def _stored(store: Store, run_id: str, converter: str, sha: str, medians: list[float],
            runtime: str = "onnxruntime", device: str = "pi", verdict: str | None = "steady",
            preset: str = "default", sustain: dict | None = None) -> None:
    """One plan run of one cell whose repeats have these medians (real store, synthetic records)."""
    plan = yaml.safe_load((repo_root() / "plans" / "local-smoke.yaml").read_text())
    cell = dict(CELL, key=f"{device}/digits_cnn/{converter}/t1", device=device, converter=converter,
                runtime=runtime, repeats=len(medians))
    store.create_plan_run(run_id, "smoke", plan, "x", "h", "0", [cell], [device])
    results = []
    for i, median in enumerate(medians):
        art = SimpleNamespace(model="digits_cnn", converter=converter, format="onnx", source="pytorch",
                              quantization="fp32", runtime=runtime, status="ok", error=None, size_bytes=1000,
                              sha256=sha, conversion_s=0.1, tool_versions={}, extra={})
        record = records.base_record(art, device, run_id)
        rng = np.random.default_rng(i)
        samples = [int(s) for s in np.exp(rng.normal(math.log(median * 1e6), 0.001, 201))]
        records.add_measurement(record, {"samples_ns": samples, "runner": "python", "threads": 1,
                                         "runtime_version": "1.0"}, None, None, {"preset": preset})
        record["trust"] = {"verdict": verdict} if verdict else None
        record["sustain"] = sustain
        results.append((record, samples, []))
    dep = store.start_deployment(device, "digits_cnn", "0")
    (stored,) = store.plan_cells(run_id)
    store.finish_cell(stored.id, "done", None, dep, results)


def test_the_store_history_groups_reruns_of_the_same_bytes_on_one_board_and_runtime(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    _stored(store, "20260101-000000-aaaa", "onnx-torch-fp32", "a" * 64, [2.0, 2.2])
    _stored(store, "20260102-000000-bbbb", "onnx-torch-fp32", "a" * 64, [2.1])
    _stored(store, "20260103-000000-cccc", "onnx-torch-fp32", "b" * 64, [3.0])  # new bytes: another variant
    _stored(store, "20260104-000000-dddd", "tflite-keras-fp32", "c" * 64, [5.0, 5.5], runtime="litert")
    _stored(store, "20260105-000000-eeee", "onnx-torch-fp32", "a" * 64, [9.0], device="jetson")
    # not reruns of the board as it is: beside other load, hot, no verdict (older records), sustained
    _stored(store, "20260106-000000-ffff", "onnx-torch-fp32", "a" * 64, [7.0], verdict="contended")
    _stored(store, "20260107-000000-gggg", "onnx-torch-fp32", "a" * 64, [7.0], verdict="throttled")
    _stored(store, "20260108-000000-hhhh", "onnx-torch-fp32", "a" * 64, [7.0], verdict=None)
    _stored(store, "20260109-000000-iiii", "onnx-torch-fp32", "a" * 64, [7.0], sustain={"window_s": 60})
    history = store.rerun_history("pi", "onnxruntime")
    key = "pi/digits_cnn/onnx-torch-fp32/t1@"
    assert [k for k, _ in history] == [key + "b" * 64 + "@1.0@default"] + [key + "a" * 64 + "@1.0@default"] * 3
    assert [round(m, 2) for _, m in history] == [3.0, 2.1, 2.2, 2.0]  # the records' p50s
    # the newest 6 results, of which the 4 left out above
    assert [round(m, 2) for _, m in store.rerun_history("pi", "onnxruntime", limit=6)] == [3.0, 2.1]
    spread = rerun_spread.estimate("pi", "onnxruntime", history)
    assert (spread.df, spread.reruns, spread.variants) == (2, 3, 1)
    _stored(store, "20260110-000000-jjjj", "onnx-torch-fp32", "a" * 64, [2.0, 2.1], preset="quick", verdict="noisy")
    quick = [k for k, _ in store.rerun_history("pi", "onnxruntime") if k.endswith("@quick")]
    assert quick == [key + "a" * 64 + "@1.0@quick"] * 2  # another preset: another variant; noisy runs count
