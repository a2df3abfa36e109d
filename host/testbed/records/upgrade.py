"""Readers of stored records: every older ``schema_version`` upgraded, step by step, to the current.

    upgrade(raw)   the record as a dict of the current version (a copy; ``raw`` is not changed)
    read(raw)      the same as a typed ``Record``

A step fills what its version added with what an older record can say: ``None`` where the figure
was not taken (never a made-up number), or a figure derived from what the record holds (v4's tail
percentiles). A record without ``schema_version`` is read as version 1; one newer than this host, or
with a version that is not a number >= 1, is a ``RecordVersionError``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..errors import TestbedError
from ..stats import percentile_min_n
from .model import SCHEMA_VERSION, Record

LATENCY_V3_KEYS = ("trimmed_mean", "cv_pct", "ci_low", "ci_high", "ci_pct")


class RecordVersionError(TestbedError):
    """A stored record this host cannot read: newer than it, or of no known version."""


def _v1_to_v2(rec: dict[str, Any]) -> None:
    rec.setdefault("power", None)


def _v2_to_v3(rec: dict[str, Any]) -> None:
    latency = rec.setdefault("latency_ms", {})
    for key in LATENCY_V3_KEYS:
        latency.setdefault(key, None)  # needs the raw samples: not derived here
    latency.setdefault("ci_level", None)
    for key in ("measurement", "model_memory_mb", "memory", "thermal"):
        rec.setdefault(key, None)


def _v3_to_v4(rec: dict[str, Any]) -> None:
    """p90/p99 below the samples their confidence interval needs become None (as v4 writes them)."""
    latency = rec.get("latency_ms") or {}
    level = latency.get("ci_level") or 0.95
    min_n = {"p90": percentile_min_n(0.90, level), "p99": percentile_min_n(0.99, level)}
    n = latency.get("n")
    for name, needed in min_n.items():
        if isinstance(n, int) and n < needed:
            latency[name] = None
    latency.setdefault("percentile_min_n", min_n)


def _v4_to_v5(rec: dict[str, Any]) -> None:
    for key in ("wall_s", "phases_s", "worker"):
        rec.setdefault(key, None)


def _v5_to_v6(rec: dict[str, Any]) -> None:
    for key in ("agent_run_id", "input_tensors", "output_tensors", "runner"):
        rec.setdefault(key, None)


def _v6_to_v7(rec: dict[str, Any]) -> None:
    parity = rec.get("parity")
    rec.setdefault("parity_outputs", None if not isinstance(parity, dict) else [
        {"name": "output", "kind": "logits" if "top1_agreement" in parity else "tensor", **parity}])
    rec.setdefault("input_dtype_changes", None)


def _v7_to_v8(rec: dict[str, Any]) -> None:
    for key in ("roofline", "trust", "sustain"):
        rec.setdefault(key, None)  # derived from what an older record does not hold: not made up


#: STEPS[v] upgrades a record of version v to v + 1.
STEPS: dict[int, Callable[[dict[str, Any]], None]] = {
    1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6, 6: _v6_to_v7, 7: _v7_to_v8,
}
assert sorted(STEPS) == list(range(1, SCHEMA_VERSION)), "one upgrade step per older version"


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` as a record of the current version (a copy)."""
    version = raw.get("schema_version", 1)  # every record since 0.1.0 has one: none is read as the first
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordVersionError(f"a stored record without a valid schema_version ({version!r:.20}): "
                                 "not a testbed result record")
    if version > SCHEMA_VERSION:
        raise RecordVersionError(f"a stored record of schema {version}, this testbed reads up to "
                                 f"{SCHEMA_VERSION}: upgrade the host")
    rec = copy.deepcopy(raw)
    while version < SCHEMA_VERSION:
        STEPS[version](rec)
        version += 1
        rec["schema_version"] = version
    return rec


def read(raw: dict[str, Any]) -> Record:
    """A stored record, upgraded and typed."""
    return Record.model_validate(upgrade(raw))
