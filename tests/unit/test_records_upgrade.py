"""The typed, versioned result record: golden files of every older version (tests/fixtures/records/)
read into the current one, the store's readers upgrading, the agent's run id kept."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from testbed import records
from testbed.records import Record, RecordVersionError

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "records"
OLDER = list(range(1, records.SCHEMA_VERSION))


def golden(version: int) -> dict[str, Any]:
    return json.loads((GOLDEN / f"v{version}.json").read_text())


def current_record() -> dict[str, Any]:
    art = SimpleNamespace(model="m", converter="onnx-torch-fp32", format="onnx", source="pytorch",
                          quantization="fp32", runtime="onnxruntime", status="ok", error=None,
                          size_bytes=10, sha256="0" * 64, conversion_s=0.1, tool_versions={}, extra={})
    return records.base_record(art, "local", "dep1")


def test_every_older_version_has_a_golden_file() -> None:
    assert sorted(int(p.stem[1:]) for p in GOLDEN.glob("v*.json")) == OLDER
    for version in OLDER:
        assert golden(version)["schema_version"] == version


@pytest.mark.parametrize("version", OLDER)
def test_golden_records_upgrade_to_the_current_version(version: int) -> None:
    raw = golden(version)
    upgraded = records.upgrade(raw)
    assert raw == golden(version)  # the stored dict is not changed
    assert upgraded["schema_version"] == records.SCHEMA_VERSION
    assert set(current_record()) <= set(upgraded)  # every field of the current shape is there
    typed = records.read(raw)
    assert isinstance(typed, Record) and typed.model == "digits_cnn" and typed.status == "ok"
    if version < 6:
        assert typed.agent_run_id is None and typed.input_tensors is None  # v6: not known before
    # v7: the one parity figure becomes the single output's entry, nothing else is made up
    assert typed.parity_outputs == ([{"name": "output", "kind": "logits", **raw["parity"]}]
                                    if "top1_agreement" in (raw["parity"] or {}) else
                                    [{"name": "output", "kind": "tensor", **raw["parity"]}] if raw["parity"] else None)
    assert typed.input_dtype_changes is None
    # what the record measured is kept as it was; nothing is made up for what it did not
    assert typed.latency_ms["p50"] == raw["latency_ms"]["p50"] and typed.load_ms == raw["load_ms"]
    if version < 2:
        assert typed.power is None
    if version < 3:
        assert typed.measurement is None and typed.memory is None and typed.thermal is None
        assert typed.latency_ms["ci_pct"] is None
    if version < 5:
        assert typed.wall_s is None and typed.phases_s is None and typed.worker is None


def test_v3_tail_percentiles_below_their_minimum_n_become_none() -> None:
    """v4: p90/p99 of fewer samples than their CI needs are None (v1-v3 kept them from any n)."""
    for version in (1, 2, 3):
        latency = records.upgrade(golden(version))["latency_ms"]
        assert latency["n"] == 20 and latency["p90"] is None and latency["p99"] is None
        assert latency["percentile_min_n"] == {"p90": 36, "p99": 368}
    v5 = records.upgrade(golden(5))["latency_ms"]
    assert v5["n"] == 50 and v5["p90"] == 1.71 and v5["p99"] is None


def test_current_records_read_as_they_are() -> None:
    rec = current_record()
    assert records.upgrade(rec) == rec and records.read(rec).to_json() == rec


def test_newer_or_unversioned_records_are_refused() -> None:
    with pytest.raises(RecordVersionError, match=f"schema {records.SCHEMA_VERSION + 1}, this testbed reads "
                                                 f"up to {records.SCHEMA_VERSION}: upgrade the host"):
        records.upgrade({**current_record(), "schema_version": records.SCHEMA_VERSION + 1})
    with pytest.raises(RecordVersionError, match="without a valid schema_version"):
        records.upgrade({"model": "m", "schema_version": "5"})
    assert records.upgrade({"model": "m"})["schema_version"] == records.SCHEMA_VERSION  # none: read as 1


def test_the_agents_run_id_and_tensors_are_kept() -> None:
    rec = current_record()
    tensors = [{"name": "output_0", "shape": [1, 10], "dtype": "float32"}]
    records.add_measurement(rec, {"samples_ns": [1000] * 5, "run_id": "20260130T000000Z-ab12",
                                  "output_tensors": tensors, "runner": "python"}, None, None)
    assert rec["agent_run_id"] == "20260130T000000Z-ab12" and rec["output_tensors"] == tensors
    assert records.read(rec).agent_run_id == "20260130T000000Z-ab12"


def test_store_readers_upgrade_old_records(tmp_path: Path) -> None:
    from testbed.store import Store

    store = Store(f"sqlite:///{tmp_path / 'results.db'}")
    dep = store.start_deployment("pi4", "digits_cnn", "0.1.0")
    store.add_result(dep, golden(1), [1_500_000] * 20)
    (row,) = store.results(dep)
    assert row.record["schema_version"] == records.SCHEMA_VERSION and row.record["agent_run_id"] is None
    assert row.record["latency_ms"]["p90"] is None and row.record["power"] is None
