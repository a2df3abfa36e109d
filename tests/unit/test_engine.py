"""The engine against its two seams: the executor contract (a stand-in executor, as a distributed one
would be, runs a deploy's cells without the engine changing) and the conversions (stand-in artifacts,
ready one by one). Checks when cells are submitted: on a remote board each as soon as its artifact is
ready; with a local board only after every conversion. And a deploy's one-board plan: stored and read
back, it gives the same measuring options."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from testbed import profiles
from testbed.deploy import DeployOptions, deploy_plan
from testbed.engine import run as engine
from testbed.engine.plan import deploy_options, from_dict
from testbed.store import Store

CONVERTERS = ["onnx-torch-fp32", "tflite-keras-fp32", "executorch-xnnpack-fp32"]


def _cells(device: str) -> list[dict]:
    return [{"key": f"{device}/digits_cnn/{c}/tdefault", "device": device, "model": "digits_cnn", "converter": c,
             "format": c.split("-")[0], "source": "pytorch", "quantization": "fp32", "runtime": "onnxruntime",
             "threads": None, "repeats": 1} for c in CONVERTERS]


class Conversions:
    """Stand-in for engine.artifacts.Conversions: failed artifacts (no reference outputs to compute)."""

    def __init__(self, models: dict, pairs: list, progress: Any = None) -> None:
        self.pairs, self.seconds = pairs, 0.0

    def ready(self, stop: threading.Event) -> Iterator[tuple[tuple[str, str], Any]]:
        for pair in self.pairs:
            EVENTS.append(("ready", pair[1]))
            yield pair, SimpleNamespace(status="failed", error="stand-in")

    def close(self, abort: bool = False) -> None:
        pass


class RecordingExecutor:
    """An executor as the contract describes it: finishes (stores) each submitted cell at once."""

    def __init__(self, ctx: Any, boards: list, cells: list) -> None:
        self.ctx = ctx

    def submit(self, cell: Any) -> Future[str]:
        EVENTS.append(("submit", cell.converter))
        self.ctx.store.finish_cell(cell.id, "failed", "stand-in", None, [])
        fut: Future[str] = Future()
        fut.set_result("failed")
        return fut

    def close(self) -> None:
        EVENTS.append(("close", ""))

    def abort(self) -> None:
        pass

    def boards(self) -> dict[str, tuple[str, str | None]]:
        return {"x": ("ok", None)}


EVENTS: list[tuple[str, str]] = []


@pytest.mark.parametrize("device", ["pi4", "local"])
def test_cells_go_to_the_executor_when_their_artifact_is_ready(device: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "Conversions", Conversions)
    EVENTS.clear()
    store = Store(f"sqlite:///{tmp_path / 'engine.db'}")
    profile = profiles.load(device)
    plan = deploy_plan(profile, "digits_cnn", DeployOptions())
    result = engine.start(plan, [profile], _cells(profile.id), store, kind="deploy",
                          options=engine.Options(executor=RecordingExecutor))
    if device == "local":  # convert all, then measure: nothing measured while converting
        assert EVENTS == [("ready", c) for c in CONVERTERS] + [("submit", c) for c in CONVERTERS] + [("close", "")]
    else:  # each cell as soon as its artifact is ready
        assert EVENTS == [e for c in CONVERTERS for e in (("ready", c), ("submit", c))] + [("close", "")]
    run = store.plan_run(result.run_id)
    assert result.status == "done" and run is not None and run.kind == "deploy" and run.status == "done"
    assert [c.state for c in store.plan_cells(result.run_id)] == ["failed"] * 3


def test_a_deploys_plan_stores_its_options(tmp_path: Path) -> None:
    prof_file = tmp_path / "pi4.yaml"
    prof_file.write_text(Path(profiles.__file__).parents[2].joinpath("profiles", "pi4.yaml").read_text())
    profile = profiles.load(str(prof_file))
    opts = DeployOptions(formats=["onnx"], quantizations=["fp32"], threads=2, timeout_s=90, preset="quick",
                         iterations=30, profile_ops=True, min_s=1.5)
    plan = deploy_plan(profile, "digits_cnn", opts, device=str(prof_file))
    again = from_dict(plan.to_json())
    assert again == plan and again.devices == [str(prof_file.resolve())] and again.models == ["digits_cnn"]
    assert again.threads == [2] and again.execution.cell_timeout_s == 90
    back = deploy_options(again, again.threads[0], again.execution.cell_timeout_s)
    skip = {"formats", "sources", "quantizations"}  # the plan's filters; its cells are the variants they chose
    assert {f.name: getattr(back, f.name) for f in dataclasses.fields(back) if f.name not in skip} == \
           {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts) if f.name not in skip}
