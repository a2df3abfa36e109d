"""An interrupted `testbed deploy` behaves like an interrupted plan: the real console script, SIGINT sent
to its whole process group (as a terminal's Ctrl-C and `timeout -s INT` do: conversion workers
included) once a variant is stored. It prints the rows measured and the run id, the run is marked
interrupted, and `testbed deploy --resume RUN` measures only the missing variants."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from helpers.cli import TESTBED, ctrl_c_delivered, run, run_json
from helpers.nightly import wait_for
from testbed.store import Store

pytestmark = pytest.mark.integration

FAST = ("--iterations", "20", "--warmup", "2", "--quant", "fp32")


def test_ctrl_c_prints_what_was_measured_and_resume_finishes_only_the_rest() -> None:
    store = Store()
    before = {r["id"] for r in store.run_summaries(1000)}
    proc = subprocess.Popen([TESTBED, "deploy", "--device", "local", "--model", "digits_cnn", *FAST],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=ctrl_c_delivered)
    try:
        run_id = wait_for(lambda: next((r["id"] for r in store.run_summaries(1000) if r["id"] not in before), None),
                          600, "the deploy's run to be stored", poll=0.5)
        wait_for(lambda: any(c.state == "done" for c in store.plan_cells(run_id)), 600, "a measured variant", poll=0.5)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 3, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    run_row = store.plan_run(run_id)
    assert run_row is not None and run_row.kind == "deploy" and run_row.status == "interrupted"
    cells = store.plan_cells(run_id)
    done = {c.converter: c for c in cells if c.state == "done"}
    assert done and len(done) < len(cells), [(c.converter, c.state) for c in cells]
    assert run_id in stdout + stderr and f"testbed deploy --resume {run_id}" in stderr
    for converter in done:  # the rows already measured are printed
        assert converter in stdout, stdout

    time.sleep(0.5)
    first = {c.id: (c.attempts, c.finished_at) for c in cells if c.state == "done"}
    rows = run_json("deploy", "--resume", run_id)
    after = store.plan_cells(run_id)
    assert all(c.state in ("done", "failed") for c in after), [(c.converter, c.state, c.error) for c in after]
    assert {c.id: (c.attempts, c.finished_at) for c in after if c.id in first} == first  # not measured again
    assert {r["converter"] for r in rows} == {c.converter for c in after}  # every variant's row, old and new
    assert store.plan_run(run_id).status == "done"
    listed = run("runs")
    assert listed.returncode == 0 and run_id in listed.stdout and "deploy" in listed.stdout
