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
