"""Run the real `testbed` console script as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTBED = str(Path(sys.executable).with_name("testbed"))


def run(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TESTBED, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def run_json(*args: str, timeout: float = 900) -> list[dict]:
    proc = run(*args, "--json", timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def ctrl_c_delivered() -> None:
    """``preexec_fn`` of a CLI process a test interrupts: SIGINT back to its default. A shell starts
    background jobs (``make test &``, ``nohup ... &``) with SIGINT ignored, children inherit that, and
    Python then installs no KeyboardInterrupt handler: the Ctrl-C the test sends would do nothing."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
