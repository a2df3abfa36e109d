"""Raw samples are stored losslessly compressed: the exact numbers come back, old plain rows still
read, short lists stay plain, and a store holds a fraction of the JSON size (real SQLite file)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from testbed.store import Store
from testbed.store import samples as S


def latencies(n: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(x) for x in rng.lognormal(np.log(250_000), 0.1, n).astype(np.int64)]


def test_latency_round_trip_is_exact() -> None:
    values = latencies(20_000) + [0, 1, 2**62]
    stored = S.encode_latency(values)
    assert stored["codec"] == S.LATENCY_CODEC and stored["n"] == len(values)
    assert S.decode_latency(json.loads(json.dumps(stored))) == values
    assert len(json.dumps(stored)) < len(json.dumps(values)) / 2  # random data: the worst case


def test_power_round_trip_keeps_missing_readings() -> None:
    pairs = [[1_000_000 * i, None if i % 97 == 0 else 3.0 + i * 1e-7] for i in range(5000)]
    back = S.decode_power(json.loads(json.dumps(S.encode_power(pairs))))
    assert back == pairs


def test_short_and_old_rows_stay_plain() -> None:
    assert S.encode_latency([5, 6, 7]) == [5, 6, 7] and S.decode_latency([5, 6, 7]) == [5, 6, 7]
    assert S.decode_latency(None) == [] and S.decode_power([]) == []
    odd = [[0.5, 1.0]] * 100  # fractional timestamps are not forced into int64
    assert S.encode_power(odd) == odd


def test_an_unknown_codec_is_an_error_not_garbage() -> None:
    with pytest.raises(ValueError, match="unknown latency sample codec"):
        S.decode_latency({"codec": "zstd/9", "n": 1, "data": ""})


def test_the_store_writes_compressed_and_reads_lists(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    dep = store.start_deployment("local", "digits_cnn", "0")
    values = latencies(30_000, seed=1)
    power = [[i * 50_000_000, 4.25] for i in range(2000)]
    record = {"model": "digits_cnn", "converter": "onnx-torch-fp32", "format": "onnx", "source": "pytorch",
              "quantization": "fp32", "runtime": "onnxruntime", "status": "ok", "latency_ms": {"p50": 0.25}}
    store.add_result(dep, record, values, power)
    got = store.results(dep)[0]
    raw = sqlite3.connect(tmp_path / "r.db").execute("SELECT samples_ns, power_samples FROM results").fetchone()
    assert json.loads(raw[0])["codec"] == S.LATENCY_CODEC and json.loads(raw[1])["codec"] == S.POWER_CODEC
    assert len(raw[0]) < len(json.dumps(values)) / 2
    assert got.samples_ns == values and got.power_samples == power
