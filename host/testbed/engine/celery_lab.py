"""The lab's Celery app for Celery's own commands: nightly plans on a schedule (beat), seen in Flower.

    app                      ``celery -A testbed.engine.celery_lab ...``: built on first use from the lab
                             settings (``celery_app.settings``): no broker is a ConfigError, one line
    lab_app(lab, path)       the same for given settings and lab file: run_plan, beat's schedule
    nightly(path)            the lab file's ``nightly:`` entries, validated (cron: 5 fields -> crontab)
    run_plan(plan, lab)      the task's work: `testbed run --plan P --engine celery` in a subprocess,
                             after resuming the plan's last run if it was cut short (as nightly.sh)

On the controller host, beside the board workers (``testbed worker``) of the lab hosts (docs/lab.md)::

    celery -A testbed.engine.celery_lab worker -Q testbed.controller -c 1 -n controller@%h    runs the plans
    celery -A testbed.engine.celery_lab beat -s /var/lib/testbed/celerybeat-schedule    sends them on time
    celery -A testbed.engine.celery_lab flower --port=5555 --basic-auth=USER:PASS        workers and tasks

Their broker: Celery's ``--broker URL`` (before ``-A``), else the lab settings (``$TESTBED_BROKER``, the lab file).

The lab file (``$TESTBED_LAB``, default ``$TESTBED_HOME/lab.yaml``), key ``nightly``; cron in UTC
(Celery's default timezone), the plan file as the controller worker sees it::

    nightly:
      - {plan: /opt/testbed/plans/nightly.yaml, cron: "0 2 * * *"}
      - {plan: /opt/testbed/plans/weekly.yaml, cron: "30 3 * * sun", resume: false}

A plan's task is acknowledged when it starts, unlike a cell's: a plan runs for hours, longer than the
broker's visibility timeout, and a plan handed out again would run twice. A controller killed mid-plan
leaves its run unfinished in the store (its ``testbed run`` is interrupted with it); the next run of the
plan resumes it first. A run that does not exit 0 (1 regressions, 2 config error, 3 incomplete) is a
failed task, red in Flower, its message the exit code, the run and the tail of its output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigError, TestbedError, first_line
from .celery_app import LabSettings, build_app, lab_file, settings

RUN_PLAN = "testbed.run_plan"
CONTROLLER_QUEUE = "testbed.controller"
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
TAIL_LINES = 30  # of a run's output, in the task's result (Flower shows it)
UNFINISHED = ("running", "interrupted")  # a plan run's states that a resume completes


class PlanRunFailed(TestbedError):
    """A plan's `testbed run` exited non-zero: the task fails (Flower shows it), saying why."""


def crontab_of(cron: str) -> Any:
    """Celery's crontab of a 5-field cron line; a ValueError naming the bad field otherwise."""
    from celery.schedules import ParseException, crontab

    fields = cron.split()
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(f"'{cron}' has {len(fields)} fields, cron takes 5: minute hour day-of-month month "
                         "day-of-week, e.g. '0 2 * * *'")
    for name, value in zip(CRON_FIELDS, fields, strict=True):
        try:
            crontab(**{name: value})
        except (ValueError, ParseException) as exc:
            raise ValueError(f"'{cron}': {name.replace('_', '-')} '{value}': {first_line(exc)}") from None
    return crontab(**dict(zip(CRON_FIELDS, fields, strict=True)))  # not positional: its order is not cron's


class NightlyEntry(BaseModel):
    """One scheduled plan: the lab file's ``nightly:`` list holds these."""

    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1)  # a plan file on the controller host (relative: to its worker's directory)
    cron: str  # minute hour day-of-month month day-of-week, UTC: "0 2 * * *" is 02:00 UTC every day
    resume: bool = True  # first finish the plan's last run when it was cut short (a controller restarted)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        crontab_of(value)
        return value

    @property
    def name(self) -> str:
        """Its key in beat's schedule (and in beat's state file)."""
        return f"{self.plan} at {self.cron}"


def nightly(path: Path | None = None) -> list[NightlyEntry]:
    """The lab file's ``nightly:`` entries (none without the file or the key); any problem is one
    ConfigError naming the file, the entry and the key."""
    path = path or lab_file()
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"lab file {path}: not valid YAML: {first_line(exc)}") from exc
    raw = data.get("nightly") if isinstance(data, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"lab file {path}: key 'nightly': expected a list of entries like "
                          "{plan: plans/nightly.yaml, cron: '0 2 * * *'}")
    entries: list[NightlyEntry] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"lab file {path}: nightly entry {i}: expected {{plan: FILE, cron: '0 2 * * *'}}, "
                              f"got {type(item).__name__} {item!r}")
        named = f" ({item['plan']})" if item.get("plan") else ""
        try:
            entry = NightlyEntry.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err["loc"])
            msg = {"extra_forbidden": "unknown key", "value_error": str((err.get("ctx") or {}).get("error"))}.get(
                err["type"], err["msg"])
            raise ConfigError(f"lab file {path}: nightly entry {i}{named}: key '{key}': {msg}") from None
        if any(e.name == entry.name for e in entries):
            raise ConfigError(f"lab file {path}: nightly entry {i}{named}: the same plan and cron as an "
                              "entry before it: delete one")
        entries.append(entry)
    return entries


def beat_schedule(entries: list[NightlyEntry]) -> dict[str, dict[str, Any]]:
    """Celery beat's schedule: each entry's plan sent to the controller queue at its cron times."""
    return {e.name: {"task": RUN_PLAN, "schedule": crontab_of(e.cron), "args": [e.plan],
                     "kwargs": {"resume": e.resume}, "options": {"queue": CONTROLLER_QUEUE}} for e in entries}


def lab_app(lab: LabSettings, path: Path | None = None) -> Any:
    """The lab's app (``celery_app.build_app``) with the plan task, routed to the controller queue,
    and beat's schedule from the lab file at ``path`` (default: the lab file)."""
    app = build_app(lab)
    app.conf.update(
        beat_schedule=beat_schedule(nightly(path)),
        # beat also sends Celery's daily cleanup of expired results (the store's celery_taskmeta rows): to
        # the controller too, or it would pile up in the queue "celery", which no lab worker consumes
        task_routes={RUN_PLAN: {"queue": CONTROLLER_QUEUE}, "celery.backend_cleanup": {"queue": CONTROLLER_QUEUE}},
        worker_send_task_events=True, task_send_sent_event=True,  # Flower sees plans sent, started, done
        worker_hijack_root_logger=True,  # Celery's own commands: their usual log (`testbed worker` has its own)
    )

    @app.task(name=RUN_PLAN, acks_late=False)
    def run_plan_task(plan: str, resume: bool = True) -> dict[str, Any]:
        """The run's outcome (exit code, run id, cells, the tail of its output); a non-zero exit fails."""
        outcome = run_plan(plan, lab, resume=resume)
        if outcome["exit_code"] != 0:
            raise PlanRunFailed(failure_line(outcome))
        return outcome

    return app


def run_plan(plan: str, lab: LabSettings, *, resume: bool = True) -> dict[str, Any]:
    """`testbed run --plan PLAN --engine celery` (in the lab's store), as a subprocess of this one;
    first `testbed run --resume` of the plan's newest run when that one was cut short."""
    db = ["--db", lab.db] if lab.db else []
    resumed = None
    unfinished = last_unfinished_run(plan, lab.db) if resume else None
    if unfinished is not None:
        code, _, out = _testbed("run", "--resume", unfinished, "--json", *db)
        resumed = {"run_id": unfinished, "exit_code": code, "tail": _tail(out)}
    code, stdout, stderr = _testbed("run", "--plan", plan, "--engine", "celery", "--json", *db)
    try:
        found = json.loads(stdout)
    except ValueError:
        found = {}
    return {"plan": plan, "exit_code": code, "run_id": found.get("run_id"), "status": found.get("status"),
            "counts": found.get("counts"), "regressions": found.get("regressions"), "boards": found.get("boards"),
            "resumed": resumed, "tail": _tail(stderr if found else stderr + stdout)}


def failure_line(outcome: dict[str, Any]) -> str:
    """Why a plan's task failed: the exit code's meaning, the run, then its output's last lines."""
    meaning = {1: "regressions", 2: "usage or config error", 3: "incomplete"}.get(outcome["exit_code"], "crashed")
    run = f"run {outcome['run_id']} ({outcome['status']}, cells {outcome['counts']})" if outcome["run_id"] else "no run"
    return f"plan {outcome['plan']}: exit {outcome['exit_code']} ({meaning}), {run}; output ends:\n{outcome['tail']}"


def last_unfinished_run(plan: str, db: str | None) -> str | None:
    """The plan's newest run when it is still running or interrupted (a controller stopped mid-plan),
    else None; a plan file that does not load is left to `testbed run` to report."""
    from ..store import Store
    from .plan import load

    try:
        name = load(plan).name
        store = Store(db)
    except ConfigError:
        return None
    try:
        newest = store.plan_runs(plan_name=name, limit=1)
    finally:
        store.engine.dispose()
    return newest[0].id if newest and newest[0].status in UNFINISHED else None


def _testbed(*args: str) -> tuple[int, str, str]:
    """The testbed CLI in a subprocess (``child``)."""
    proc = child([sys.executable, "-m", "testbed.cli", *args])
    return proc.returncode, proc.stdout, proc.stderr


def child(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``argv`` to its end, its output captured; it gets SIGINT (Ctrl-C) when this process dies (a task
    terminated from Flower, a controller shut down cold): a `testbed run` is then interrupted, for the
    next run of its plan to resume, instead of running on unseen."""
    return subprocess.run(argv, capture_output=True, text=True, preexec_fn=_interrupted_with_parent, check=False)


def _interrupted_with_parent() -> None:
    """In the child, before exec: SIGINT when the parent dies (Linux), SIGINT not ignored."""
    import ctypes

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a worker started in the background ignores it
    if sys.platform.startswith("linux"):
        parent = os.getppid()
        ctypes.CDLL(None).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before that
            os.kill(os.getpid(), signal.SIGINT)


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


@cache
def _app() -> Any:
    return lab_app(settings(broker=os.environ.get("CELERY_BROKER_URL")))  # `celery --broker URL -A ...` sets it


def __getattr__(name: str) -> Any:
    """``app``, built on first use: importing this module needs no broker, using its app does."""
    if name == "app":
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
