"""The lab's Celery app for Celery's own commands (host/testbed/engine/celery_lab.py), without a broker:
the lab file's ``nightly:`` schedule (cron -> crontab, beat's schedule, one clear error for a bad entry),
the missing broker as the ConfigError's line (in-process and from `celery -A ... beat`), and which run a
scheduled plan resumes first. The real broker, workers and Flower: tests/integration/test_celery_flower.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testbed.errors import ConfigError
from testbed.store import Store

pytest.importorskip("celery", reason="Celery is in the lab extra (pip install -e '.[lab]'), not in make test-fast's venv")

from testbed.engine import celery_lab  # noqa: E402  (after the skip: it needs Celery)
from testbed.engine.celery_app import LabSettings, settings  # noqa: E402

LAB = """broker: redis://lab-broker:6379/0
nightly:
  - {plan: /opt/testbed/plans/nightly.yaml, cron: "0 2 * * *"}
  - {plan: plans/weekly.yaml, cron: "30 3 * * sun", resume: false}
  - {plan: plans/workdays.yaml, cron: "*/15 8-18 * 1-6 1-5"}
"""


@pytest.fixture()
def no_lab_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("TESTBED_BROKER", "TESTBED_DB", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    lab = tmp_path / "lab.yaml"
    monkeypatch.setenv("TESTBED_LAB", str(lab))
    celery_lab._app.cache_clear()
    yield lab
    celery_lab._app.cache_clear()


def test_the_nightly_entries_become_beats_schedule_on_the_controller_queue(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text(LAB)
    entries = celery_lab.nightly(lab)
    assert [(e.plan, e.cron, e.resume) for e in entries] == [
        ("/opt/testbed/plans/nightly.yaml", "0 2 * * *", True), ("plans/weekly.yaml", "30 3 * * sun", False),
        ("plans/workdays.yaml", "*/15 8-18 * 1-6 1-5", True)]
    app = celery_lab.lab_app(LabSettings(broker="redis://lab-broker:6379/0"), lab)
    schedule = app.conf.beat_schedule
    assert list(schedule) == ["/opt/testbed/plans/nightly.yaml at 0 2 * * *", "plans/weekly.yaml at 30 3 * * sun",
                              "plans/workdays.yaml at */15 8-18 * 1-6 1-5"]
    nightly = schedule["/opt/testbed/plans/nightly.yaml at 0 2 * * *"]
    assert (nightly["task"], nightly["args"], nightly["kwargs"], nightly["options"]) == (
        "testbed.run_plan", ["/opt/testbed/plans/nightly.yaml"], {"resume": True}, {"queue": "testbed.controller"})
    cron = nightly["schedule"]
    assert (cron.minute, cron.hour, cron.day_of_month, cron.month_of_year, cron.day_of_week) == (
        {0}, {2}, set(range(1, 32)), set(range(1, 13)), set(range(7)))
    weekly = schedule["plans/weekly.yaml at 30 3 * * sun"]["schedule"]
    assert (weekly.minute, weekly.hour, weekly.day_of_week) == ({30}, {3}, {0})
    workdays = schedule["plans/workdays.yaml at */15 8-18 * 1-6 1-5"]["schedule"]
    assert (workdays.minute, workdays.hour, workdays.month_of_year, workdays.day_of_week) == (
        {0, 15, 30, 45}, set(range(8, 19)), set(range(1, 7)), {1, 2, 3, 4, 5})
    # the task is registered and routed to the controller queue even when sent without a queue
    assert "testbed.run_plan" in app.tasks and "testbed.run_cell" in app.tasks
    assert app.amqp.router.route({}, "testbed.run_plan")["queue"].name == "testbed.controller"
    assert app.amqp.router.route({}, "celery.backend_cleanup")["queue"].name == "testbed.controller"  # beat's own
    assert app.tasks["testbed.run_plan"].acks_late is False  # a plan outlives the visibility timeout


def test_no_lab_file_or_no_nightly_key_is_an_empty_schedule(tmp_path: Path) -> None:
    assert celery_lab.nightly(tmp_path / "absent.yaml") == []
    (tmp_path / "lab.yaml").write_text("broker: redis://lab-broker:6379/0\n")
    assert celery_lab.nightly(tmp_path / "lab.yaml") == []


@pytest.mark.parametrize(("entry", "says"), [
    ('{plan: plans/weekly.yaml, cron: "0 25 * * *"}',
     "nightly entry 2 (plans/weekly.yaml): key 'cron': '0 25 * * *': hour '25': Invalid end range: 25 > 23."),
    ('{plan: plans/weekly.yaml, cron: "0 2 * *"}',
     "nightly entry 2 (plans/weekly.yaml): key 'cron': '0 2 * *' has 4 fields, cron takes 5: minute hour "
     "day-of-month month day-of-week, e.g. '0 2 * * *'"),
    ('{plan: plans/weekly.yaml, cron: "0 2 * * 7"}',
     "nightly entry 2 (plans/weekly.yaml): key 'cron': '0 2 * * 7': day-of-week '7': Invalid end range: 7 > 6."),
    ('{plan: plans/weekly.yaml, cron: "0 2 * * *", when: nightly}', "nightly entry 2 (plans/weekly.yaml): key 'when': unknown key"),
    ('{cron: "0 2 * * *"}', "nightly entry 2: key 'plan': Field required"),
    ('plans/weekly.yaml', "nightly entry 2: expected {plan: FILE, cron: '0 2 * * *'}, got str 'plans/weekly.yaml'"),
    ('{plan: /opt/testbed/plans/nightly.yaml, cron: "0 2 * * *"}',
     "nightly entry 2 (/opt/testbed/plans/nightly.yaml): the same plan and cron as an entry before it: delete one"),
])
def test_a_bad_entry_is_one_line_naming_the_file_the_entry_and_the_key(tmp_path: Path, entry: str, says: str) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text(f'nightly:\n  - {{plan: /opt/testbed/plans/nightly.yaml, cron: "0 2 * * *"}}\n  - {entry}\n')
    with pytest.raises(ConfigError) as err:
        celery_lab.nightly(lab)
    assert str(err.value) == f"lab file {lab}: {says}"


def test_nightly_must_be_a_list(tmp_path: Path) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text("nightly: {plan: plans/nightly.yaml, cron: '0 2 * * *'}\n")
    with pytest.raises(ConfigError, match=r"key 'nightly': expected a list of entries like \{plan: plans/nightly.yaml"):
        celery_lab.nightly(lab)


def test_the_app_without_a_broker_is_the_config_errors_line(no_lab_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^no Celery broker: give --broker redis://HOST:6379/0, set TESTBED_BROKER"):
        celery_lab.app  # noqa: B018 - the attribute builds the app
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://from-celery-cli:6379/0")  # what `celery --broker URL` sets
    assert celery_lab.app.conf.broker_url == "redis://from-celery-cli:6379/0"
    assert celery_lab.app is celery_lab.app  # built once


def test_celery_beat_without_a_broker_ends_with_that_line(no_lab_env: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "celery", "-A", "testbed.engine.celery_lab", "beat"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stdout
    assert proc.stderr.rstrip().splitlines()[-1] == (
        "testbed.errors.ConfigError: no Celery broker: give --broker redis://HOST:6379/0, set TESTBED_BROKER, "
        f"or write 'broker:' in the lab file {no_lab_env}"), proc.stderr[-2000:]


@pytest.mark.xfail("nightly" not in LabSettings.model_fields, strict=True,
                   reason="celery_app.LabSettings forbids the lab file's 'nightly' key (it needs the field "
                          "`nightly: list[Any] = []`; celery_lab validates the entries)")
def test_a_lab_file_with_a_schedule_still_gives_the_settings(no_lab_env: Path) -> None:
    no_lab_env.write_text(LAB)
    assert settings().broker == "redis://lab-broker:6379/0"
    assert len(celery_lab.nightly()) == 3


def test_a_scheduled_plan_resumes_its_newest_run_only_when_that_was_cut_short(tmp_path: Path) -> None:
    plan = tmp_path / "nightly-lab.yaml"
    plan.write_text("devices: [b1]\nmodels: [digits_cnn]\n")  # no name: the file's stem names it
    db = f"sqlite:///{tmp_path / 'results.db'}"
    store = Store(db)
    assert celery_lab.last_unfinished_run(str(plan), db) is None  # never ran
    for run_id, status in (("20250101-020000-aaaa", "done"), ("20250102-020000-bbbb", "interrupted")):
        store.create_plan_run(run_id, "nightly-lab", {}, "0" * 64, "controller", "0.1.0", [], [])
        store.finish_plan_run(run_id, status)
    store.create_plan_run("20250102-030000-cccc", "other-plan", {}, "0" * 64, "controller", "0.1.0", [], [])
    assert celery_lab.last_unfinished_run(str(plan), db) == "20250102-020000-bbbb"
    store.create_plan_run("20250103-020000-dddd", "nightly-lab", {}, "0" * 64, "controller", "0.1.0", [], [])
    assert celery_lab.last_unfinished_run(str(plan), db) == "20250103-020000-dddd"  # running (its controller died?)
    store.finish_plan_run("20250103-020000-dddd", "done")
    assert celery_lab.last_unfinished_run(str(plan), db) is None
    assert celery_lab.last_unfinished_run(str(tmp_path / "absent.yaml"), db) is None  # `testbed run` says why
    store.engine.dispose()


def test_a_failed_plans_message_says_the_exit_code_the_run_and_its_output() -> None:
    line = celery_lab.failure_line({"plan": "plans/nightly.yaml", "exit_code": 3, "run_id": "20250102-020000-bbbb",
                                    "status": "done", "counts": {"done": 3, "skipped": 1}, "tail": "board b1: bad"})
    assert line == ("plan plans/nightly.yaml: exit 3 (incomplete), run 20250102-020000-bbbb (done, cells "
                    "{'done': 3, 'skipped': 1}); output ends:\nboard b1: bad")
    assert celery_lab.failure_line({"plan": "p.yaml", "exit_code": 2, "run_id": None, "status": None, "counts": None,
                                    "tail": "no plan file p.yaml"}).startswith("plan p.yaml: exit 2 (usage or config error), no run;")


def test_a_plans_process_is_interrupted_when_the_task_process_dies(tmp_path: Path) -> None:
    """The task's `testbed run` gets Ctrl-C when its pool process is killed (terminated from Flower)."""
    said = tmp_path / "child.txt"
    run = ("import os, pathlib, sys, time\nout = pathlib.Path(sys.argv[1])\nout.write_text(f'started {os.getpid()}')\n"
           "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    out.write_text('interrupted')\n")
    parent = subprocess.Popen([sys.executable, "-c", "import sys; from testbed.engine.celery_lab import child; "
                               "child([sys.executable, '-c', sys.argv[1], sys.argv[2]])", run, str(said)])
    pid = None
    try:
        deadline = time.monotonic() + 60
        while not (said.is_file() and said.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        state, _, pid_text = said.read_text().partition(" ")
        assert state == "started"
        pid = int(pid_text)
        parent.kill()  # SIGKILL: no handler of the parent runs
        parent.wait(10)
        while said.read_text() != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert said.read_text() == "interrupted"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if pid is not None and said.read_text() != "interrupted":
            os.kill(pid, signal.SIGKILL)
