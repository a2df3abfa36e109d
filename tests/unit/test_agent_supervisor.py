"""How a worker's end becomes an outcome: result, timeout, crash, garbage, shutdown.

The worker is replaced by small shell scripts (``WorkerRunner(python=script, fork=False)``: exec'd
workers; the fork server path runs real workers in test_agent_forkserver.py).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil

from testbed_agent.supervisor import WorkerRunner
from testbed_agent.worker_io import describe_exit, last_line


def fake_worker(tmp_path: Path, body: str) -> WorkerRunner:
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return WorkerRunner(python=str(script), cwd=tmp_path, fork=False)


def test_result(tmp_path: Path) -> None:
    runner = fake_worker(tmp_path, "cat > \"$(dirname \"$0\")/stdin.json\"; echo noise >&2; "
                                   "echo '{\"samples_ns\": [1, 2]}'")
    outcome = runner.run({"runtime": "litert"}, timeout_s=10)
    assert outcome.result == {"samples_ns": [1, 2]} and outcome.error is None
    assert (tmp_path / "stdin.json").read_text() == '{"runtime": "litert"}'


def test_crash_by_signal(tmp_path: Path) -> None:
    runner = fake_worker(tmp_path, "echo 'loading' >&2; echo 'Illegal op in kernel' >&2; echo >&2; "
                                   "kill -SEGV $$")
    outcome = runner.run({}, timeout_s=10)
    assert outcome.result is None
    assert outcome.error == "worker crashed (signal 11 SIGSEGV); last stderr line: Illegal op in kernel"
    assert "loading" in outcome.stderr_tail


def test_crash_by_exit_status(tmp_path: Path) -> None:
    outcome = fake_worker(tmp_path, "exit 3").run({}, timeout_s=10)
    assert outcome.error == "worker crashed (exit status 3); last stderr line: (none)"


def test_garbage_on_stdout(tmp_path: Path) -> None:
    outcome = fake_worker(tmp_path, "echo 'INFO: chatty runtime'; echo 'last words' >&2").run({}, 10)
    assert outcome.error == ("worker exited without a readable result on stdout; "
                             "last stderr line: last words")


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    runner = fake_worker(tmp_path, f"sleep 60 & echo $! > {pidfile}; sleep 60")
    started = time.monotonic()
    outcome = runner.run({}, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert outcome.error == ("inference timed out after 0.5 s (worker killed); "
                             "raise timeout_s or check the model")
    child = int(pidfile.read_text())
    time.sleep(0.1)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_kill_for_shutdown(tmp_path: Path) -> None:
    runner = fake_worker(tmp_path, "sleep 60")
    threading.Timer(0.3, runner.kill).start()
    outcome = runner.run({}, timeout_s=30)
    assert outcome.error == "the agent shut down while the run was in progress (worker killed)"
    assert runner.run({}, timeout_s=30).error == "the agent shut down before the run started"


def test_helpers() -> None:
    assert describe_exit(-9) == "signal 9 SIGKILL" and describe_exit(1) == "exit status 1"
    assert last_line("a\n  b  \n\n") == "b" and last_line("") == ""
    assert os.path.isdir(str(Path(__file__).parent))
