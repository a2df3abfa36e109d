"""Two testbed processes measuring with --device local at once would disturb each other: the local
transport holds a per-user machine lock while its agent is open. Real processes, a real flock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from testbed.transports import local

HOLDER = r"""
import sys
from testbed.transports import local
fh = local.machine_lock()
print("locked", flush=True)
sys.stdin.readline()
"""


def test_a_second_process_waits_and_names_the_holder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "measure.lock"
    monkeypatch.setenv("TESTBED_LOCAL_LOCK", str(lock))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "TESTBED_LOCAL_LOCK": str(lock)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        messages: list[str] = []
        got = threading.Event()
        handles = []

        def take() -> None:
            handles.append(local.machine_lock(notify=messages.append))
            got.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        assert not got.wait(1.0)  # still held by the other process: waiting
        assert len(messages) == 1 and f"pid {holder.pid}" in messages[0] and "is measuring" in messages[0]
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert got.wait(30)  # the holder exited: the lock is ours
        assert f"pid {os.getpid()}" in lock.read_text()
        handles[0].close()
    finally:
        holder.kill()
        holder.wait()


def test_no_wait_and_no_message_when_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_LOCAL_LOCK", str(tmp_path / "measure.lock"))
    messages: list[str] = []
    fh = local.machine_lock(notify=messages.append)
    fh.close()
    fh = local.machine_lock(notify=messages.append)  # released by close: taken again at once
    fh.close()
    assert messages == []


PROBE = r"""
import fcntl, os
fh = open(os.environ["TESTBED_LOCAL_LOCK"], "a+")
try:
    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def test_holds_in_one_process_nest_and_the_last_close_releases(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A nightly board takes the lock before its health check; the transport it opens takes it again."""
    monkeypatch.setenv("TESTBED_LOCAL_LOCK", str(tmp_path / "measure.lock"))

    def probe() -> str:
        return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                              env=os.environ.copy()).stdout.strip()

    messages: list[str] = []
    outer = local.machine_lock(notify=messages.append)
    inner = local.machine_lock(notify=messages.append)  # same process: at once, no message
    assert messages == [] and probe() == "held"
    inner.close()
    inner.close()  # a second close of one hold changes nothing
    assert probe() == "held"
    outer.close()
    assert probe() == "free"
