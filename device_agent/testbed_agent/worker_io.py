"""What goes into a worker process and what comes out of it (``supervisor`` runs the process).

* Out: ``WorkerOutcome``, how a worker ended, and the words of its error lines (``last_line``,
  ``describe_exit``, ``timeout_error``).
* In: ``worker_env()``, the agent's environment with this package on PYTHONPATH, and
  ``communicate()``, which feeds a forked worker's stdin and reads its stdout and stderr up to a
  deadline (an exec'd worker is a ``Popen`` and uses its ``communicate``).
"""

from __future__ import annotations

import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
STDERR_TAIL_CHARS = 4000


@dataclass
class WorkerOutcome:
    """How a worker ended: a result dict, or an error line; plus the end of its stderr."""

    result: dict[str, Any] | None
    error: str | None
    stderr_tail: str
    #: How the worker was started and when (monotonic ns): ``start`` (forkserver / exec),
    #: ``spawn_monotonic_ns`` (just before asking for the process), ``exit_monotonic_ns`` (its end
    #: seen), ``server_start_s`` (a fork server started for this run), ``fallback`` (why exec).
    worker: dict[str, Any] = field(default_factory=dict)


def last_line(text: str) -> str:
    """The last non-empty line of ``text`` (empty string when there is none)."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""


def describe_exit(returncode: int) -> str:
    """``signal 11 SIGSEGV`` or ``exit status 3``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        return f"signal {-returncode} {name}"
    return f"exit status {returncode}"


def timeout_error(timeout_s: float) -> str:
    return (f"inference timed out after {timeout_s:g} s (worker killed); raise timeout_s or check "
            "the model")


def worker_env() -> dict[str, str]:
    """The agent's environment; when this package is not on ``sys.path`` (editable installs,
    a source checkout), its parent folder is appended to PYTHONPATH so the worker finds it."""
    env = dict(os.environ)
    on_path = {os.path.realpath(p or os.curdir) for p in sys.path}
    if os.path.realpath(PACKAGE_PARENT) not in on_path:
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] + [PACKAGE_PARENT]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def communicate(stdin: int, stdout: int, stderr: int, data: bytes, deadline: float
                ) -> tuple[bytes, bytes, bool]:
    """Write ``data`` to ``stdin`` (then close it) and read ``stdout`` and ``stderr`` to their end
    or until ``deadline`` (monotonic); ``(out, err, timed_out)``. Closes the three fds."""
    chunks: dict[int, list[bytes]] = {stdout: [], stderr: []}
    pending = memoryview(data)
    sel = selectors.DefaultSelector()
    open_fds = {stdin, stdout, stderr}
    try:
        os.set_blocking(stdin, False)
        sel.register(stdin, selectors.EVENT_WRITE)
        sel.register(stdout, selectors.EVENT_READ)
        sel.register(stderr, selectors.EVENT_READ)
        while open_fds - {stdin} or (stdin in open_fds and pending):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"".join(chunks[stdout]), b"".join(chunks[stderr]), True
            for key, _ in sel.select(remaining):
                fd = int(key.fd)
                if fd == stdin:
                    try:
                        pending = pending[os.write(stdin, pending[:65536]):]
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(stdin)
                        os.close(stdin)
                        open_fds.discard(stdin)
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    sel.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
        return b"".join(chunks[stdout]), b"".join(chunks[stderr]), False
    finally:
        sel.close()
        for fd in open_fds:  # only ours: a closed number may belong to another thread by now
            os.close(fd)
