"""Worker subprocess: ``python -m testbed_agent.worker``, one measurement per process.

Protocol: the request JSON on stdin; the result JSON (or ``{"error": "..."}``) as the only
thing on stdout; everything else (runtime logs, warnings, tracebacks) goes to stderr. To keep
stdout clean even from native code, file descriptor 1 is pointed at stderr before any runtime
is imported and the result is written to a saved duplicate of the original stdout.

The same ``main`` runs in a worker forked by a fork server (``forkserver``), with ``origin``
saying so; the result's ``worker`` record says how the worker started and when (monotonic
clock, comparable with the agent's) it entered ``main`` and finished measuring.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any


def isolate_stdout() -> int:
    """Point fd 1 (and ``sys.stdout``) at stderr; return a duplicate of the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return saved


def write_result(fd: int, result: dict[str, Any]) -> None:
    """Write ``result`` as JSON to ``fd`` and close it."""
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(result, out)
        out.flush()


def main(origin: dict[str, Any] | None = None) -> int:
    """Read the request, measure, write the result. Exit status 0 unless the process dies.
    ``origin``: set by a fork server (the worker was forked, not exec'd)."""
    worker = dict(origin or {"start": "exec", "entered_monotonic_ns": time.monotonic_ns()})
    out_fd = isolate_stdout()
    try:
        from .schema import WorkerRequest

        request = WorkerRequest.from_wire(json.loads(sys.stdin.read())).to_wire()
        from .measure import StageError, measure

        try:
            result = measure(request, worker)
            worker["finished_monotonic_ns"] = time.monotonic_ns()
            result["worker"] = worker
        except StageError as exc:
            traceback.print_exc()
            result = {"error": str(exc)}
    except Exception as exc:  # a bug or a bad request: still answer with one line
        from .errors import first_line

        traceback.print_exc()
        result = {"error": f"worker failed: {first_line(exc)}"}
    write_result(out_fd, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
