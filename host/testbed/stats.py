"""Statistics derived from raw latency samples (the samples are what is stored; these are recomputed)."""

from __future__ import annotations

import numpy as np


def latency_summary(samples_ns: list[int]) -> dict[str, float | int | None]:
    """p50/p90/p99/mean/std/min/max in milliseconds and n, from raw per-inference samples in ns.

    Percentiles use linear interpolation between order statistics (numpy's default); std is the
    sample standard deviation (ddof=1).
    """
    if not samples_ns:
        return {k: None for k in ("p50", "p90", "p99", "mean", "std", "min", "max")} | {"n": 0}
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {
        "p50": float(p50), "p90": float(p90), "p99": float(p99),
        "mean": float(ms.mean()), "std": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        "min": float(ms.min()), "max": float(ms.max()), "n": int(ms.size),
    }


def parity(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far an artifact's outputs are from its source framework's on the same inputs."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(reference), -1)
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    return {
        "max_abs_err": float(np.max(np.abs(out - ref))),
        "top1_agreement": float(np.mean(out.argmax(axis=1) == ref.argmax(axis=1))),
        "n": int(len(ref)),
    }


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of logits/probabilities against integer labels."""
    out = np.asarray(outputs).reshape(len(labels), -1)
    return float(np.mean(out.argmax(axis=1) == np.asarray(labels)))
