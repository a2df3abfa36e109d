"""A small results store for the dashboard tests, filled through the Store's own writers in a second:
a plan run of two nights on two boards (judged by ``nightly.runner.judge``, so the second night's
verdicts are real: one variant made 30 % slower regresses, one that fails on the second night is
broken) and a deploy. Records are the golden v6 record (tests/fixtures/records) upgraded and given
each variant's name, size and the latency summary of its samples (lognormal, seeded)."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from testbed import records
from testbed.engine.plan import Plan, VerdictSpec, cell_key
from testbed.nightly.runner import judge
from testbed.stats import latency_summary
from testbed.store import Store

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "records" / "v6.json"
PLAN = "nightly-demo"
BOARDS = ("pi4", "rk3588")
MODEL = "digits_cnn"
#: converter, format, source, quantization, runtime, size (bytes), median latency on pi4 (ms)
VARIANTS = [
    ("onnx-torch-fp32", "onnx", "pytorch", "fp32", "onnxruntime", 412_000, 1.9),
    ("onnx-keras-fp32", "onnx", "keras", "fp32", "onnxruntime", 409_000, 2.1),
    ("tflite-torch-fp32", "tflite", "pytorch", "fp32", "litert", 398_000, 1.6),
    ("tflite-keras-fp32", "tflite", "keras", "fp32", "litert", 401_000, 1.5),
    ("tflite-keras-int8-dynamic", "tflite", "keras", "int8-dynamic", "litert", 108_000, 1.1),
]
NIGHTS = (datetime(2026, 1, 1, 2, 0, 0), datetime(2026, 1, 2, 2, 0, 0))
SLOWED = "onnx-torch-fp32"  # 30 % slower on the second night: regressed
BROKEN = ("rk3588", "tflite-torch-fp32")  # fails on the second night: broken


@dataclass(frozen=True)
class DashboardStore:
    url: str
    path: Path
    nights: list[str]  # the plan's run ids, oldest first
    deploy: str  # the deploy's run id


def _samples(rng: np.random.Generator, median_ms: float, n: int = 300) -> list[int]:
    return [int(x) for x in rng.lognormal(np.log(median_ms * 1e6), 0.04, size=n)]


def _record(base: dict, device: str, variant: tuple, samples: list[int], run_id: str) -> dict:
    converter, fmt, source, quant, runtime, size, _ = variant
    rec = copy.deepcopy(base)
    rec.update(device=device, model=MODEL, converter=converter, format=fmt, source=source, quantization=quant,
               runtime=runtime, status="ok", error=None, size_bytes=size, sha256=hashlib.sha256(converter.encode()).hexdigest(),
               run_id=run_id, latency_ms=latency_summary(samples), iterations=len(samples), threads=1)
    return rec


def _cells(plan: Plan, devices: tuple[str, ...]) -> list[dict]:
    return [{"key": cell_key(d, MODEL, v[0], 1), "device": d, "model": MODEL, "converter": v[0], "format": v[1],
             "source": v[2], "quantization": v[3], "runtime": v[4], "threads": 1, "repeats": plan.repeats}
            for d in devices for v in VARIANTS]


def _run(store: Store, run_id: str, plan: Plan, devices: tuple[str, ...], when: datetime, kind: str,
         rng: np.random.Generator, base: dict, night: int) -> None:
    store.create_plan_run(run_id, plan.name or "plan", plan.to_json(), plan.sha256(), "controller-1", "0.1.0",
                          _cells(plan, devices), devices, kind=kind)
    store.update_plan_run(run_id, created_at=when)
    variants = {v[0]: v for v in VARIANTS}
    for device in devices:
        store.set_board(run_id, device, "ok", agent_info={"hostname": device, "machine": "aarch64",
                                                         "cpu": "Cortex-A72" if device == "pi4" else "Cortex-A76"})
        dep = store.start_deployment(device, MODEL, "0.1.0")
        for c in (c for c in store.plan_cells(run_id) if c.device == device):
            if night == 1 and (device, c.converter) == BROKEN:
                store.finish_cell(c.id, "failed", "litert: Didn't find op for builtin opcode 'FULLY_CONNECTED'",
                                  None, [])
                continue
            v = variants[c.converter]
            median = v[6] * (0.55 if device == "rk3588" else 1.0) * (1.3 if night == 1 and v[0] == SLOWED else 1.0)
            results = []
            for _ in range(c.repeats):
                samples = _samples(rng, median)
                results.append((_record(base, device, v, samples, run_id), samples, []))
            store.finish_cell(c.id, "done", None, dep, results)
    store.finish_plan_run(run_id, "done")
    store.update_plan_run(run_id, finished_at=when + timedelta(minutes=20))


def build(directory: Path) -> DashboardStore:
    """The store in ``directory/results.db``."""
    path = directory / "results.db"
    store = Store(f"sqlite:///{path}")
    base = records.upgrade(json.loads(FIXTURE.read_text()))
    rng = np.random.default_rng(7)
    plan = Plan(name=PLAN, devices=list(BOARDS), models=[MODEL], threads=[1], repeats=2,
                verdict=VerdictSpec(threshold_pct=5.0))
    nights = [f"{when:%Y%m%d-%H%M%S}-{i:04x}" for i, when in enumerate(NIGHTS)]
    for i, (run_id, when) in enumerate(zip(nights, NIGHTS, strict=True)):
        _run(store, run_id, plan, BOARDS, when, "plan", rng, base, i)
        judge(run_id, store)
    deploy_plan = Plan(name=f"deploy/pi4/{MODEL}", devices=["pi4"], models=[MODEL], threads=[1], repeats=1)
    deploy = "20260102-093000-d3e1"
    _run(store, deploy, deploy_plan, ("pi4",), datetime(2026, 1, 2, 9, 30), "deploy", rng, base, 0)
    store.engine.dispose()
    return DashboardStore(url=f"sqlite:///{path}", path=path, nights=nights, deploy=deploy)
