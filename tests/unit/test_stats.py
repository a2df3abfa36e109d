"""Statistics are derived from raw samples; check them against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from testbed.stats import accuracy, latency_summary, parity


def test_latency_summary_from_samples() -> None:
    samples = [1_000_000, 2_000_000, 3_000_000, 4_000_000, 10_000_000]  # 1,2,3,4,10 ms
    s = latency_summary(samples)
    assert s["n"] == 5 and s["min"] == 1.0 and s["max"] == 10.0
    assert s["p50"] == 3.0 and s["mean"] == 4.0
    assert s["p90"] == pytest.approx(4 + 0.6 * 6)  # linear between the 4th and 5th order statistics
    assert s["std"] == pytest.approx(np.sqrt(((9 + 4 + 1 + 0 + 36) / 4)))


def test_empty_samples_are_missing_not_zero() -> None:
    s = latency_summary([])
    assert s["n"] == 0 and s["p50"] is None


def test_parity_and_accuracy() -> None:
    ref = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    out = ref + np.array([[0.0, 0.0], [0.0, 0.7], [0.0, 0.0]])  # second sample flips its top-1
    p = parity(out, ref)
    assert p["max_abs_err"] == pytest.approx(0.7) and p["top1_agreement"] == pytest.approx(2 / 3)
    assert accuracy(ref, np.array([1, 0, 0])) == pytest.approx(2 / 3)
